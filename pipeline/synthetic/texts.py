"""Seeded synthetic monitoring texts (support tickets, social posts, log lines), pure Python.

Every event is a dict valid against ``schemas.text_event.TextEvent``; ``generate_labelled_texts`` also
gives the intended sentiment (negative / neutral / positive) for evaluating the sentiment model on our
own traffic. Negative texts cover outages, complaints, fraud reports and error log lines. Templates are
filled from slot lists, so the same seed always gives the same texts; typical lengths are 5-60 words.
"""

from __future__ import annotations

import random
from typing import Any, Literal

Sentiment = Literal["negative", "neutral", "positive"]
Source = Literal["support_ticket", "social", "log"]

_WINDOW_START_MS = 1_709_251_200_000  # 2024-03-01T00:00Z, same window as the transactions
_WINDOW_MS = 90 * 86_400_000

_SLOTS: dict[str, tuple[str, ...]] = {
    "brand": ("@NovaBank", "@PayWave", "@StreamGuardPay", "@QuidCard", "@MintWallet"),
    "product": (
        "the app",
        "online banking",
        "my card",
        "the mobile app",
        "contactless payments",
        "the website",
        "Apple Pay",
        "the credit card",
    ),
    "feature": (
        "instant transfers",
        "the spending tracker",
        "card freeze",
        "Face ID login",
        "the savings pots",
        "the new statement view",
        "direct debits",
    ),
    "merchant": ("Amazon", "Tesco", "Uber", "Netflix", "a hotel in Lisbon", "Shell", "Ryanair"),
    "amount": ("£12.99", "$49.00", "€230", "$1,200", "£75.40", "€8.50", "$310"),
    "time": ("this morning", "since 9am", "for two hours", "all weekend", "since yesterday", "tonight"),
    "agent": ("Sam", "Priya", "Tom", "Lucia", "Ahmed", "Grace"),
    "service": ("payments-api", "ledger-db", "auth-service", "card-gateway", "notifier", "fx-rates"),
    "ms": ("84", "112", "250", "3000", "5000", "30000", "17"),
    "code": ("500", "502", "503", "504", "429"),
    "n": ("3", "12", "412", "1,024", "58", "7"),
    "city": ("London", "Berlin", "Austin", "Madrid", "Sydney", "Toronto"),
}

_TEMPLATES: dict[tuple[Source, Sentiment], tuple[str, ...]] = {
    ("support_ticket", "negative"): (
        "I was charged twice for {merchant} ({amount}) and nobody has answered my emails. This is the "
        "third time I'm writing and I am really frustrated.",
        "There is a payment of {amount} to {merchant} I never made. I think my card was stolen, please "
        "block it now. This looks like fraud.",
        "{product} keeps crashing when I try to log in. Completely unusable {time}.",
        "Someone changed my password and added a new device I don't own. My account has been hacked and "
        "money is missing.",
        "Your support is terrible. I waited 45 minutes on hold and the line went dead.",
        "My transfer of {amount} never arrived and the money has left my account. Where is it?",
        "I got a text asking me to confirm a payment to {merchant}. I think it's a scam but the payment "
        "went through anyway. Refund it please.",
        "Card declined at {merchant} again even though I have funds. Embarrassing and annoying.",
    ),
    ("support_ticket", "neutral"): (
        "How do I change the billing address on my account?",
        "Can I use {feature} with a joint account?",
        "Please send me a statement for last month in PDF.",
        "What is the daily limit for {feature}?",
        "I'm travelling to {city} next week, do I need to tell you before using my card there?",
        "Is there a fee for paying {amount} in a foreign currency?",
        "Could you confirm whether my direct debit to {merchant} is set up for the first of the month?",
    ),
    ("support_ticket", "positive"): (
        "Thanks {agent}, the refund of {amount} arrived today. Great support!",
        "Problem solved, thank you for the quick reply.",
        "{agent} was patient and sorted out my card in five minutes. Really appreciate it.",
        "Just wanted to say {feature} works perfectly now, thanks for fixing it so fast.",
        "The replacement card arrived a day early. Excellent service as always.",
    ),
    ("social", "negative"): (
        "{brand} app down again?? can't log in {time} #outage",
        "{brand} froze my account for no reason and support is useless. Switching banks.",
        "Anyone else getting error {code} on {brand}? Payments failing everywhere {time}",
        "Got scammed through a fake {brand} text, lost {amount}. Nobody is helping. Awful.",
        "{brand} data breach?? just got a login alert from {city}. Not happy.",
        "Worst banking experience ever. {product} charged me {amount} twice. #fail",
        "Thinking about a lawsuit, {brand} ignored my fraud report for a month.",
    ),
    ("social", "neutral"): (
        "Does {brand} support {feature} yet?",
        "{brand} is updating {product} tonight according to the email.",
        "Paying for lunch with {product} in {city} today",
        "Which is better for travel, {brand} or a normal credit card?",
        "New card design from {brand} arrived.",
    ),
    ("social", "positive"): (
        "Loving {feature} on {brand}, budgeting has never been easier",
        "Shoutout to {brand} support, fixed my issue in minutes 🙌",
        "{brand} blocked a fraudulent payment before I even noticed. Impressed!",
        "Finally a banking app that just works. {product} is brilliant.",
        "Instant refund from {brand}, great experience",
    ),
    ("log", "negative"): (
        "ERROR {service}: timeout after {ms} ms calling ledger-db (attempt 3/3)",
        "CRITICAL {service}: connection refused, circuit breaker OPEN",
        "ERROR {service}: HTTP {code} from card-gateway, {n} payments failed",
        "ERROR {service}: disk usage 98% on /var/lib/data, writes failing",
        "FATAL {service}: out of memory, process killed, restarting",
        "WARN {service}: {n} failed login attempts for one account from {city} in 60 s, possible fraud",
    ),
    ("log", "neutral"): (
        "INFO {service}: batch {n} committed in {ms} ms",
        "INFO {service}: config reloaded, {n} rules active",
        "DEBUG {service}: cache refreshed ({n} entries)",
        "INFO {service}: scheduled job fx-sync started",
    ),
    ("log", "positive"): (
        "INFO {service}: recovered, all replicas in sync",
        "INFO {service}: latency back to normal (p99 {ms} ms)",
        "INFO {service}: incident resolved, error rate 0%",
        "INFO {service}: deployment succeeded, health checks passing",
    ),
}
_SOURCES: tuple[Source, ...] = ("support_ticket", "social", "log")
_SOURCE_WEIGHTS = (40, 40, 20)
_SENTIMENTS: tuple[Sentiment, ...] = ("negative", "neutral", "positive")
_SENTIMENT_WEIGHTS = (40, 35, 25)
# Added to some tickets and posts so texts vary in length beyond their template.
_TAILS = (
    "",
    "",
    "",
    " Please help.",
    " Thanks.",
    " Sent from my phone.",
    " I have been a customer for ten years and have never had this happen before.",
    " My reference number is {n}.",
)


def generate_labelled_texts(n: int, seed: int) -> list[tuple[dict[str, Any], Sentiment]]:
    """``n`` (text event, intended sentiment) pairs in time order."""
    rng = random.Random(seed)
    rows: list[tuple[dict[str, Any], Sentiment]] = []
    for _ in range(n):
        source = rng.choices(_SOURCES, _SOURCE_WEIGHTS)[0]
        sentiment = rng.choices(_SENTIMENTS, _SENTIMENT_WEIGHTS)[0]
        template = rng.choice(_TEMPLATES[source, sentiment])
        if source != "log":
            template += rng.choice(_TAILS)
        text = template.format_map(_SlotFiller(rng))
        event = {
            "event_id": "",
            "text": text,
            "timestamp": _WINDOW_START_MS + rng.randrange(_WINDOW_MS),
            "source": source,
            "author": _author(rng, source),
            "lang": "en",
        }
        rows.append((event, sentiment))
    rows.sort(key=lambda row: row[0]["timestamp"])
    for index, (event, _) in enumerate(rows):
        event["event_id"] = f"txt-{seed & 0xFFFF_FFFF_FFFF_FFFF:x}-{index:07d}"
    return rows


def generate_texts(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` monitoring text events in time order (support tickets, social posts, log lines)."""
    return [event for event, _ in generate_labelled_texts(n, seed)]


class _SlotFiller(dict[str, str]):
    """Draws a value only for the slots a template uses (drawing all twelve doubled the run time)."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng

    def __missing__(self, slot: str) -> str:
        values = _SLOTS[slot]
        value = self[slot] = values[int(self.rng.random() * len(values))]
        return value


def _author(rng: random.Random, source: Source) -> str:
    if source == "support_ticket":
        return f"cust-{rng.randrange(10**6):06d}"
    if source == "social":
        return "@" + rng.choice(("sam", "jo", "alex", "kit", "max", "lee")) + str(rng.randrange(1000))
    return rng.choice(_SLOTS["service"]) + f"-{rng.getrandbits(16):04x}"
