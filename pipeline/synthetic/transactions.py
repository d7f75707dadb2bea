"""Seeded synthetic transactions for training and evaluating the fraud model (pure Python, no numpy).

No labelled transaction data exists in any package we can install, so the fraud model learns from this
documented generator. Every row is a dict valid against ``schemas.transaction.Transaction`` plus a label
(1 = fraud). The same ``(n, seed, fraud_rate, shifted)`` always gives the same rows.

Legitimate traffic comes from a pool of accounts, each with a home country and currency and habits:
groceries, fuel, restaurants, pharmacy, utilities, subscriptions (fixed prices), online shopping, ATM
withdrawals, salary credits, rent, and for some accounts travel abroad, crypto buys, gift cards and
money transfers to family. Hours follow a daytime curve (UTC, read as the account's local time).

Fraud typologies (``Typology``; about 35/20/20/15/10% of fraud rows):

- ``card_testing``: bursts of 3-10 tiny amounts (0.50-2.99, often exactly 1.00) at online merchants
  with random-looking descriptors, same account, 1-6 minutes apart, any hour.
- ``account_takeover``: 1-3 large payments (900-9,000) from a country that is not the account's home,
  online or transfer, at 00:00-05:59, descriptions such as "password reset", "new device", "new payee".
- ``cash_out``: 1-4 purchases of gift cards, crypto-exchange buys or money-transfer payouts (150-3,000),
  online or transfer, descriptions such as "eGift card bulk purchase" or "Transfer to wallet 0x...".
- ``fraud_descriptor``: single payments (15-450) at descriptors typical of fraud: "PAYPAL *VERIFY",
  "*TEMP", random letter-digit codes.
- ``mimic``: fraud that looks like ordinary online shopping at home in daytime. A model
  cannot separate it; it exists so metrics stay honest.

Overlap that keeps the task from being trivial: legitimate crypto buys, gift cards and transfers;
legitimate large rent; legitimate travel abroad (foreign country and currency, late hours); legitimate
1.00 card-verification holds (hotels, ride hailing). Label noise: ``label_noise`` (default 2%) of true
fraud rows are labelled 0 (undetected fraud) and as many legitimate rows are labelled 1 (false disputes),
so the prevalence stays exactly ``round(n * fraud_rate)``.

``shifted=True`` is an evaluation set for distribution shift that holds out whole templates and
typology variants: other merchant names, subscriptions and fraud descriptors; description templates
of its own for every category, legitimate note and fraud typology (``catalog.SHIFTED_*`` and
``Category.shifted_notes``: none is ever generated for training); typology variants training never
sees (slow card testing, 10-40 minutes between tests; account takeover mostly in daytime; cash-out
structured in 4-8 steps); amount ranges moved (legitimate, cash-out and descriptor fraud x1.4; card
testing 0.01-0.99 instead of 0.50-2.99; account takeover x1.8), over a later time window (from
2024-08-01 instead of 2024-03-01, 90 days). The normal generator's rows do not depend on any of it.
Monitoring texts for the sentiment model come from ``pipeline.synthetic.texts.generate_texts``.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, TypeVar

from pipeline.synthetic import catalog
from pipeline.synthetic.texts import generate_labelled_texts, generate_texts

__all__ = [
    "TYPOLOGIES",
    "SyntheticTransaction",
    "Typology",
    "generate_labelled_texts",
    "generate_texts",
    "generate_transactions",
    "generate_transactions_detailed",
]

Typology = Literal["legit", "card_testing", "account_takeover", "cash_out", "fraud_descriptor", "mimic"]
TYPOLOGIES: tuple[Typology, ...] = (
    "card_testing",
    "account_takeover",
    "cash_out",
    "fraud_descriptor",
    "mimic",
)
# Share of fraud *rows* per typology; episodes are drawn with weight share / mean rows per episode.
_FRAUD_ROW_SHARE: tuple[tuple[Typology, float, float], ...] = (
    ("card_testing", 0.35, 6.5),
    ("account_takeover", 0.2, 2.0),
    ("cash_out", 0.2, 2.5),
    ("fraud_descriptor", 0.15, 1.0),
    ("mimic", 0.1, 1.0),
)
_T = TypeVar("_T")
DAY_MS = 86_400_000
# Fixed windows so a seed gives the same rows on any day; the shifted set lies later.
_WINDOW_START_MS = 1_709_251_200_000  # 2024-03-01T00:00Z
_SHIFTED_WINDOW_START_MS = 1_722_470_400_000  # 2024-08-01T00:00Z
_WINDOW_DAYS = 90
# Event ids embed the seed, so different seeds (e.g. the demo's chunks) never share an id.
_ID_SEED_MASK = 0xFFFF_FFFF_FFFF_FFFF


@dataclass(frozen=True, slots=True)
class _Account:
    account_id: str
    country: str
    currency: str
    cities: tuple[str, ...]
    spend_scale: float
    salary: float
    rent: float
    employer: str
    subscriptions: tuple[tuple[str, float], ...]
    traveller: bool
    crypto_user: bool
    sends_money: bool


class SyntheticTransaction(NamedTuple):
    event: dict[str, Any]
    label: int
    typology: Typology


def generate_transactions(
    n: int, seed: int, fraud_rate: float = 0.05, *, shifted: bool = False, label_noise: float = 0.02
) -> list[tuple[dict[str, Any], int]]:
    """``n`` (transaction dict, label) pairs in time order; label 1 = fraud. See the module docstring."""
    rows = generate_transactions_detailed(n, seed, fraud_rate, shifted=shifted, label_noise=label_noise)
    return [(row.event, row.label) for row in rows]


def generate_transactions_detailed(
    n: int, seed: int, fraud_rate: float = 0.05, *, shifted: bool = False, label_noise: float = 0.02
) -> list[SyntheticTransaction]:
    """Like ``generate_transactions`` with each row's true typology (``legit`` for legitimate rows)."""
    if n < 0 or not 0.0 <= fraud_rate <= 1.0 or not 0.0 <= label_noise <= 1.0:
        raise ValueError("need n >= 0, 0 <= fraud_rate <= 1 and 0 <= label_noise <= 1")
    gen = _Generator(random.Random(seed), n, shifted)
    n_fraud = round(n * fraud_rate)
    rows: list[SyntheticTransaction] = []
    mix_names = [name for name, _, _ in _FRAUD_ROW_SHARE]
    mix_weights = [share / rows_per_episode for _, share, rows_per_episode in _FRAUD_ROW_SHARE]
    while len(rows) < n_fraud:
        typology = gen.rng.choices(mix_names, mix_weights)[0]
        rows.extend(gen.fraud(typology)[: n_fraud - len(rows)])
    rows.extend(gen.legit() for _ in range(n - n_fraud))
    _add_label_noise(gen.rng, rows, label_noise)
    rows.sort(key=lambda row: row.event["timestamp"])
    prefix = "txs" if shifted else "tx"
    for index, row in enumerate(rows):
        row.event["event_id"] = f"{prefix}-{seed & _ID_SEED_MASK:x}-{index:07d}"
    return rows


def _add_label_noise(rng: random.Random, rows: list[SyntheticTransaction], label_noise: float) -> None:
    """Flip the same number of labels each way, so prevalence is unchanged."""
    fraud_index = [i for i, row in enumerate(rows) if row.label == 1]
    legit_index = [i for i, row in enumerate(rows) if row.label == 0]
    flips = min(round(len(fraud_index) * label_noise), len(legit_index))
    for i in rng.sample(fraud_index, flips):
        rows[i] = rows[i]._replace(label=0)
    for i in rng.sample(legit_index, flips):
        rows[i] = rows[i]._replace(label=1)


@functools.cache
def _uses_only_basic_slots(template: str) -> bool:
    return all(field in (None, "m", "city") for _, field, _, _ in string.Formatter().parse(template))


class _LazySlots(dict[str, str]):
    """Template slots drawn only when a template uses them (most templates use one or two)."""

    def __init__(self, gen: _Generator, merchant: str, city: str) -> None:
        super().__init__(m=merchant, city=city.upper())
        self.gen = gen

    def __missing__(self, slot: str) -> str:
        gen = self.gen
        if slot == "M":
            return self["m"].upper().replace(" ", "")
        if slot == "ref":
            return gen._ref()
        if slot == "name":
            return gen.pick(catalog.NAMES)
        if slot == "k":
            return str(3 + gen.below(10))
        if slot == "hexref":
            return f"{gen.rng.getrandbits(40):010x}"
        raise KeyError(slot)


class _Generator:
    """Holds the seeded RNG, the account pool and the catalogue variant (normal or shifted)."""

    def __init__(self, rng: random.Random, n: int, shifted: bool) -> None:
        self.rng = rng
        self.random = rng.random  # random.choice/choices/randrange cost ~5x more: this runs 1M times
        self.shifted = shifted
        self.start_ms = _SHIFTED_WINDOW_START_MS if shifted else _WINDOW_START_MS
        self.legit_scale = 1.4 if shifted else 1.0
        self.accounts = [self._account(i) for i in range(max(20, n // 25))]
        self.hour_cum = list(itertools.accumulate(catalog.HOUR_WEIGHTS))
        self.everyday_cum = list(itertools.accumulate(catalog.EVERYDAY_WEIGHTS))

    def _account(self, index: int) -> _Account:
        rng = self.rng
        country, currency, cities = rng.choices(catalog.HOMES, catalog.HOME_WEIGHTS)[0]
        subscriptions = catalog.SHIFTED_SUBSCRIPTIONS if self.shifted else catalog.SUBSCRIPTIONS
        return _Account(
            # Multiplying by an odd constant is a bijection mod 2**32: unique, random-looking ids.
            account_id=f"acct-{(index * 2_654_435_761 + 12_345) % 2**32:08x}",
            country=country,
            currency=currency,
            cities=cities,
            spend_scale=math.exp(rng.gauss(0.0, 0.35)),
            salary=round(rng.uniform(1800, 7500), -1),
            rent=round(rng.uniform(700, 3800), -1),
            employer=rng.choice(catalog.EMPLOYERS),
            subscriptions=tuple(rng.sample(subscriptions, rng.randint(0, 3))),
            traveller=rng.random() < 0.15,
            crypto_user=rng.random() < 0.08,
            sends_money=rng.random() < 0.1,
        )

    # --- building blocks ----------------------------------------------------------------------------
    def pick(self, options: Sequence[_T]) -> _T:
        return options[int(self.random() * len(options))]

    def below(self, n: int) -> int:
        return int(self.random() * n)

    def weighted(self, options: Sequence[_T], cum_weights: Sequence[float]) -> _T:
        return options[bisect.bisect(cum_weights, self.random() * cum_weights[-1])]

    def _amount(self, low: float, high: float) -> float:
        """Log-uniform: small purchases are far more common than large ones."""
        log_low = math.log(low)
        return math.exp(log_low + (math.log(high) - log_low) * self.random())

    def _time(self, night: bool = False) -> int:
        r = self.random
        hour = int(r() * 6) if night else bisect.bisect(self.hour_cum, r() * self.hour_cum[-1])
        return self.start_ms + int(r() * _WINDOW_DAYS) * DAY_MS + hour * 3_600_000 + int(r() * 3_600_000)

    def _ref(self) -> str:
        return f"{self.below(16**6):06X}"

    def _note(self, templates: Sequence[str], merchant: str, city: str) -> str:
        template = templates[int(self.random() * len(templates))]
        if _uses_only_basic_slots(template):
            return template.format(m=merchant, city=city.upper())
        return template.format_map(_LazySlots(self, merchant, city))

    def _row(
        self,
        account: _Account,
        amount: float,
        merchant: str,
        description: str,
        timestamp: int,
        *,
        country: str | None = None,
        channel: str,
        mcc: str | None,
        label: int = 0,
        typology: Typology = "legit",
    ) -> SyntheticTransaction:
        country = country or account.country
        currency = account.currency if country == account.country else catalog.CURRENCY_OF.get(country, "USD")
        amount *= catalog.UNIT_SCALE.get(currency, 1.0)
        event: dict[str, Any] = {
            "event_id": "",
            "account_id": account.account_id,
            "amount": round(amount, 2),
            "currency": currency,
            "merchant": merchant,
            "description": description,
            "timestamp": timestamp,
            "country": country,
            "channel": channel,
            "mcc": mcc,
        }
        return SyntheticTransaction(event, label, typology)

    def _from_category(
        self, account: _Account, name: str, *, abroad: str | None = None
    ) -> SyntheticTransaction:
        # The hottest path (most rows): picks are inlined, a method call per pick doubled the run time.
        r = self.random
        category = catalog.CATEGORIES[name]
        if abroad is None:
            city = account.cities[int(r() * len(account.cities))]
        else:
            city = catalog.TRAVEL_CITIES[abroad]
        merchants = category.shifted_merchants if self.shifted else category.merchants
        merchant = merchants[int(r() * len(merchants))]
        if "{" in merchant:
            merchant = merchant.format(city=city)
        scale = self.legit_scale * account.spend_scale
        log_low = math.log(category.low * scale)
        amount = math.exp(log_low + (math.log(category.high * scale) - log_low) * r())
        night = abroad is not None and r() < 0.3  # jet lag and time zones
        channel = category.channels[int(r() * len(category.channels))]
        mcc = category.mccs[int(r() * len(category.mccs))]
        return self._row(
            account,
            amount,
            merchant,
            self._note(category.shifted_notes if self.shifted else category.notes, merchant, city),
            self._time(night),
            country=abroad,
            channel=channel,
            mcc=mcc,
        )

    # --- legitimate traffic -------------------------------------------------------------------------
    def legit(self) -> SyntheticTransaction:
        rng = self.rng
        account = self.pick(self.accounts)
        roll = self.random()
        if roll < 0.02:
            pay_day = self.start_ms + rng.randrange(3) * 30 * DAY_MS + 25 * DAY_MS + 9 * 3_600_000
            if self.shifted:
                note = self._note(catalog.SHIFTED_SALARY_NOTES, account.employer, "")
            else:
                note = f"SALARY {account.employer} PAYROLL {self._ref()}"
            return self._row(
                account,
                account.salary,
                f"{account.employer} Payroll",
                note,
                pay_day,
                channel="transfer",
                mcc=None,
            )
        if roll < 0.035:
            note = self.pick(catalog.SHIFTED_RENT_NOTES if self.shifted else catalog.RENT_NOTES)
            note = note.format(ref=self._ref(), k=rng.randint(1, 9))
            return self._row(
                account,
                account.rent * self.legit_scale,
                "Landlord - standing order",
                note,
                self._time(),
                channel="transfer",
                mcc="6513",
            )
        if roll < 0.09 and account.subscriptions:
            merchant, price = self.pick(account.subscriptions)
            return self._row(
                account,
                price,
                merchant,
                self._note(catalog.SHIFTED_SUBSCRIPTION_NOTES, merchant, "")
                if self.shifted
                else f"Recurring payment {merchant}",
                self._time(),
                channel="online",
                mcc=self.pick(("4899", "5815")),
            )
        if roll < 0.12:
            return self._from_category(account, "utilities")
        if roll < 0.135:
            # Card-verification holds: the same 1.00 amounts card testing uses, but legitimate.
            merchant = self.pick(("Uber *TRIP HOLD", "Marriott pre-auth", "PAYPAL *VERIFY", "Lyft hold"))
            return self._row(
                account,
                1.0,
                merchant,
                self._note(catalog.SHIFTED_HOLD_NOTES, merchant, "")
                if self.shifted
                else "temporary authorisation hold",
                self._time(),
                channel="online",
                mcc=self.pick(("4121", "7011", "4829")),
            )
        if account.traveller and roll < 0.30:
            abroad = self.pick([c for c in catalog.TRAVEL_COUNTRIES if c != account.country])
            return self._from_category(account, self.pick(("travel", "restaurants", "atm")), abroad=abroad)
        if account.crypto_user and roll < 0.25:
            return self._from_category(account, "crypto")
        if account.sends_money and roll < 0.22:
            return self._from_category(account, "remittance")
        if roll < 0.15:
            return self._from_category(account, self.pick(("gift_cards", "travel")))
        return self._from_category(account, self.weighted(catalog.EVERYDAY, self.everyday_cum))

    # --- fraud --------------------------------------------------------------------------------------
    def fraud(self, typology: Typology) -> list[SyntheticTransaction]:
        rng = self.rng
        account = self.pick(self.accounts)
        descriptors = catalog.SHIFTED_FRAUD_DESCRIPTORS if self.shifted else catalog.FRAUD_DESCRIPTORS
        rows: list[SyntheticTransaction] = []
        if typology == "card_testing":
            low, high = (0.01, 0.99) if self.shifted else (0.5, 2.99)
            timestamp = self._time(night=self.random() < 0.5)
            country = self.pick((account.country, *catalog.FRAUD_COUNTRIES))
            for _ in range(rng.randint(3, 10)):
                amount = 1.0 if self.random() < 0.3 and not self.shifted else self._amount(low, high)
                merchant = self.pick(descriptors)
                note = self.pick(
                    catalog.SHIFTED_CARD_TESTING_NOTES if self.shifted else catalog.CARD_TESTING_NOTES
                )
                rows.append(
                    self._row(
                        account,
                        amount,
                        merchant,
                        self._note((note,), merchant, ""),
                        timestamp,
                        country=country,
                        channel="online",
                        mcc=self.pick(("5815", "5818", "8398", "5734")),
                        label=1,
                        typology=typology,
                    )
                )
                # Shifted: the slow variant, one test every 10-40 minutes instead of a burst.
                timestamp += (
                    rng.randrange(600_000, 2_400_000) if self.shifted else rng.randrange(60_000, 360_000)
                )
        elif typology == "account_takeover":
            scale = 1.8 if self.shifted else 1.0
            # Shifted: mostly the daytime variant, an attacker active in the victim's waking hours.
            timestamp = self._time(night=not self.shifted or self.random() < 0.3)
            away = [c for c in (*catalog.FRAUD_COUNTRIES, *catalog.TRAVEL_COUNTRIES) if c != account.country]
            country = self.pick(away)
            for _ in range(rng.randint(1, 3)):
                merchant = self.pick(catalog.ATO_MERCHANTS)
                rows.append(
                    self._row(
                        account,
                        self._amount(900 * scale, 9000 * scale),
                        merchant,
                        self._note(
                            catalog.SHIFTED_ATO_NOTES if self.shifted else catalog.ATO_NOTES, merchant, ""
                        ),
                        timestamp,
                        country=country,
                        channel=self.pick(("online", "transfer")),
                        mcc=self.pick(("4829", "5732", "5944", "5311")),
                        label=1,
                        typology=typology,
                    )
                )
                timestamp += rng.randrange(120_000, 1_800_000)
        elif typology == "cash_out":
            timestamp = self._time(night=self.random() < 0.6)
            # Shifted: the structuring variant, the proceeds moved in 4-8 smaller steps.
            for _ in range(rng.randint(4, 8) if self.shifted else rng.randint(1, 4)):
                name = self.pick(("gift_cards", "crypto", "remittance"))
                category = catalog.CATEGORIES[name]
                merchant = self.pick(category.shifted_merchants if self.shifted else category.merchants)
                rows.append(
                    self._row(
                        account,
                        self._amount(150 * self.legit_scale, 3000 * self.legit_scale),
                        merchant,
                        self._note(
                            catalog.SHIFTED_CASH_OUT_NOTES if self.shifted else catalog.CASH_OUT_NOTES,
                            merchant,
                            "",
                        ),
                        timestamp,
                        channel=self.pick(category.channels),
                        mcc=self.pick(category.mccs),
                        label=1,
                        typology=typology,
                    )
                )
                timestamp += rng.randrange(60_000, 900_000)
        elif typology == "fraud_descriptor":
            merchant = self.pick(descriptors)
            notes = catalog.SHIFTED_DESCRIPTOR_NOTES if self.shifted else catalog.DESCRIPTOR_NOTES
            note = self._note(notes, merchant, "")
            rows.append(
                self._row(
                    account,
                    self._amount(15 * self.legit_scale, 450 * self.legit_scale),
                    merchant,
                    note,
                    self._time(night=self.random() < 0.4),
                    channel="online",
                    mcc=self.pick(("5999", "5734", "7399")),
                    label=1,
                    typology=typology,
                )
            )
        else:  # mimic: indistinguishable from ordinary online shopping
            row = self._from_category(account, "shopping")
            rows.append(row._replace(label=1, typology="mimic"))
        return rows
