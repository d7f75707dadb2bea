"""Model inputs of a transaction: the text the encoder reads and a small numeric feature vector.

Shared by the model build and by serving, so both compute exactly the same thing. Pure Python and
numpy, and cheap: this runs for every transaction on the hot path.

Hours are UTC: a transaction carries no time zone, and the synthetic training data reads UTC as local.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from pipeline.features import velocity as account_velocity
from pipeline.features.velocity import NO_HISTORY, VELOCITY_FEATURE_NAMES, Velocity
from schemas.transaction import Transaction

# Units of each currency per US dollar, approximate and static: the model needs the magnitude of an
# amount, not an exchange rate. Unknown currencies count as dollars.
_UNITS_PER_USD: dict[str, float] = {
    "USD": 1.0,
    "EUR": 0.92,
    "GBP": 0.79,
    "CHF": 0.88,
    "CAD": 1.37,
    "AUD": 1.52,
    "NZD": 1.65,
    "SEK": 10.5,
    "NOK": 10.7,
    "DKK": 6.9,
    "PLN": 4.0,
    "CZK": 23.0,
    "HUF": 360.0,
    "RON": 4.6,
    "JPY": 150.0,
    "CNY": 7.2,
    "HKD": 7.8,
    "SGD": 1.35,
    "KRW": 1350.0,
    "INR": 83.0,
    "IDR": 15800.0,
    "THB": 35.0,
    "VND": 25000.0,
    "PHP": 56.0,
    "MXN": 17.0,
    "BRL": 5.0,
    "AED": 3.67,
    "ZAR": 18.5,
    "NGN": 1500.0,
    "RUB": 90.0,
    "UAH": 40.0,
    "KZT": 470.0,
    "TRY": 32.0,
}
# ISO 4217 codes start with the issuing country's ISO 3166 code; these are the exceptions we know.
_CURRENCY_COUNTRIES: dict[str, frozenset[str]] = {
    "EUR": frozenset(
        [
            "AT",
            "BE",
            "CY",
            "DE",
            "EE",
            "ES",
            "FI",
            "FR",
            "GR",
            "HR",
            "IE",
            "IT",
            "LT",
            "LU",
            "LV",
            "MT",
            "NL",
            "PT",
            "SI",
            "SK",
            "AD",
            "MC",
            "SM",
            "VA",
            "ME",
            "XK",
        ]
    ),
    "USD": frozenset(
        ["US", "PR", "GU", "VI", "AS", "MP", "EC", "SV", "PA", "TL", "ZW", "BQ", "FM", "MH", "PW", "TC", "VG"]
    ),
    "GBP": frozenset(["GB", "IM", "JE", "GG"]),
    "AUD": frozenset(["AU", "KI", "NR", "TV"]),
    "CHF": frozenset(["CH", "LI"]),
}

# Merchant category codes grouped by the fraud pattern they are known for.
_MCC_BUCKETS: dict[str, tuple[str, ...]] = {
    "mcc_quasi_cash": ("4829", "6051", "6540", "6012"),  # money transfer, crypto, stored-value loads
    "mcc_digital_gift": ("5815", "5816", "5817", "5818", "5947"),  # resellable digital goods, gift cards
    "mcc_high_value_goods": ("5732", "5944", "5094", "5045"),  # electronics, jewellery
    "mcc_cash": ("6010", "6011"),  # cash disbursement, ATM
    "mcc_gambling": ("7995", "7800", "7801", "7802"),
    "mcc_card_testing_prone": ("8398", "5734", "7399", "5999", "5967"),  # charities, software, misc.
}
_CHANNELS = ("card_present", "online", "atm", "transfer")

FEATURE_NAMES: tuple[str, ...] = (
    "log_amount_usd",  # log1p of the amount in approximate US dollars
    "amount_tiny",  # under 3 USD: card-testing size
    "amount_whole",  # no cents (1.00, 500.00)
    "hour_sin",
    "hour_cos",
    "night",  # 00:00-05:59 UTC
    *(f"channel_{name}" for name in _CHANNELS),
    "channel_unknown",
    "country_missing",
    "country_currency_mismatch",  # paid in a currency the country does not use: card used abroad
    "mcc_missing",
    *_MCC_BUCKETS,
    *VELOCITY_FEATURE_NAMES,  # per-account activity before this transaction (pipeline.features.velocity)
)
N_FEATURES = len(FEATURE_NAMES)

_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
_CHANNEL_INDEX: dict[str | None, int] = {name: _INDEX[f"channel_{name}"] for name in _CHANNELS}
_CHANNEL_INDEX[None] = _INDEX["channel_unknown"]
_MCC_INDEX = {mcc: _INDEX[bucket] for bucket, codes in _MCC_BUCKETS.items() for mcc in codes}
_VELOCITY_START = _INDEX[VELOCITY_FEATURE_NAMES[0]]
_MCC_LABEL = {
    "mcc_quasi_cash": "quasi-cash/crypto/money transfer",
    "mcc_digital_gift": "digital goods/gift cards",
    "mcc_high_value_goods": "resellable high-value goods",
    "mcc_cash": "cash withdrawal",
    "mcc_gambling": "gambling",
    "mcc_card_testing_prone": "often used for card testing",
}
_HOUR_MS = 3_600_000.0
_TWO_PI_BY_DAY = 2.0 * math.pi / 24.0
LARGE_USD = 1000.0
TINY_USD = 3.0


def transaction_text(tx: Transaction) -> str:
    """What the encoder reads: merchant descriptor and free-text description."""
    description = tx.description.strip()
    return f"{tx.merchant.strip()} | {description}" if description else tx.merchant.strip()


def amount_usd(tx: Transaction) -> float:
    return tx.amount / _UNITS_PER_USD.get(tx.currency, 1.0)


def hour_of_day(tx: Transaction) -> float:
    """Fractional UTC hour, 0 <= h < 24."""
    return (tx.timestamp / _HOUR_MS) % 24.0


def currency_mismatch(tx: Transaction) -> bool:
    if tx.country is None:
        return False
    countries = _CURRENCY_COUNTRIES.get(tx.currency)
    return tx.country not in countries if countries is not None else tx.country != tx.currency[:2]


def _feature_row(tx: Transaction, velocity: Velocity) -> list[float]:
    row = [0.0] * N_FEATURES
    usd = amount_usd(tx)
    row[0] = math.log1p(usd)
    row[1] = float(usd < TINY_USD)
    row[2] = float(tx.amount == round(tx.amount))
    hour = hour_of_day(tx)
    row[3] = math.sin(hour * _TWO_PI_BY_DAY)
    row[4] = math.cos(hour * _TWO_PI_BY_DAY)
    row[5] = float(hour < 6.0)
    row[_CHANNEL_INDEX[tx.channel]] = 1.0
    if tx.country is None:
        row[_INDEX["country_missing"]] = 1.0
    elif currency_mismatch(tx):
        row[_INDEX["country_currency_mismatch"]] = 1.0
    if tx.mcc is None:
        row[_INDEX["mcc_missing"]] = 1.0
    else:
        bucket = _MCC_INDEX.get(tx.mcc)
        if bucket is not None:
            row[bucket] = 1.0
    row[_VELOCITY_START : _VELOCITY_START + len(VELOCITY_FEATURE_NAMES)] = velocity.as_features()
    return row


def transaction_features(tx: Transaction, velocity: Velocity = NO_HISTORY) -> np.ndarray:
    """float32 [F], in the order of ``FEATURE_NAMES``."""
    return np.array(_feature_row(tx, velocity), dtype=np.float32)


def transaction_features_batch(
    txs: Sequence[Transaction], velocities: Sequence[Velocity] | None = None
) -> np.ndarray:
    """float32 [B, F]: one numpy conversion per batch instead of one per event.

    Without ``velocities`` every account counts as having no recent activity.
    """
    if not txs:
        return np.zeros((0, N_FEATURES), dtype=np.float32)
    if velocities is None:
        return np.array([_feature_row(tx, NO_HISTORY) for tx in txs], dtype=np.float32)
    rows = [_feature_row(tx, v) for tx, v in zip(txs, velocities, strict=True)]
    return np.array(rows, dtype=np.float32)


def observe_velocity(history: bytes | None, tx: Transaction) -> tuple[Velocity, bytes]:
    """Velocity of ``tx`` from its account's stored history, and the history to store after it."""
    return account_velocity.observe(history, tx, amount_usd(tx))


def replay_velocities(txs: Sequence[Transaction]) -> list[Velocity]:
    """Each transaction's velocity as a worker would compute it seeing them in time order.

    The model build runs its synthetic data through this; results come back in input order.
    """
    histories: dict[str, bytes] = {}
    out: list[Velocity] = [NO_HISTORY] * len(txs)
    for index in sorted(range(len(txs)), key=lambda i: txs[i].timestamp):
        tx = txs[index]
        out[index], histories[tx.account_id] = observe_velocity(histories.get(tx.account_id), tx)
    return out


# Descriptor words that point at a cash-out or card-testing merchant, for alert reasons only.
_CASH_OUT_WORDS: dict[str, tuple[str, ...]] = {
    "crypto": ("crypto", "btc", "bitcoin", "eth ", "coinbase", "binance", "kraken", "wallet 0x"),
    "gift-card": ("gift card", "giftcard", "egift", "gift x"),
    "money-transfer": ("western union", "moneygram", "wu money", "remit", "payout to"),
}
_CARD_TESTING_WORDS = ("verify", "vrfy", "*temp", "temp auth", "auth check", "card verification")


def _money(value: float, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def feature_drivers(tx: Transaction, velocity: Velocity = NO_HISTORY) -> list[str]:
    """Short, human-readable notable facts about a transaction, used as alert reasons."""
    drivers = account_velocity.velocity_drivers(velocity)
    usd = amount_usd(tx)
    if usd >= LARGE_USD:
        drivers.append(f"amount {_money(tx.amount, tx.currency)} (large)")
    elif usd < TINY_USD:
        drivers.append(f"amount {_money(tx.amount, tx.currency)} (tiny, card-testing size)")
    hour = hour_of_day(tx)
    if hour < 6.0:
        drivers.append(f"night-time {int(hour):02d}:{int(hour % 1 * 60):02d} UTC")
    if tx.channel in ("atm", "transfer"):
        drivers.append(f"channel {tx.channel}")
    elif tx.channel is None:
        drivers.append("channel unknown")
    if tx.country is None:
        drivers.append("country missing")
    elif currency_mismatch(tx):
        drivers.append(f"paid in {tx.currency} in {tx.country} (card used abroad)")
    if tx.mcc is not None:
        bucket = _MCC_INDEX.get(tx.mcc)
        if bucket is not None:
            drivers.append(f"MCC {tx.mcc} {_MCC_LABEL[FEATURE_NAMES[bucket]]}")
    text = f"{tx.merchant} {tx.description}".lower()
    kinds = [kind for kind, words in _CASH_OUT_WORDS.items() if any(w in text for w in words)]
    if kinds:
        drivers.append(f"merchant looks like {'/'.join(kinds)} cash-out")
    if any(word in text for word in _CARD_TESTING_WORDS):
        drivers.append("descriptor looks like a card-verification charge")
    return drivers
