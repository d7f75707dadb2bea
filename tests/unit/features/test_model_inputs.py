from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.features.model_inputs import (
    FEATURE_NAMES,
    feature_drivers,
    transaction_features,
    transaction_features_batch,
    transaction_text,
)
from schemas.transaction import Transaction
from tests.unit.event_factories import NIGHT_MS, make_tx

# 2024-03-01T03:30:00Z


def feature(tx: Transaction, name: str) -> float:
    return float(transaction_features(tx)[FEATURE_NAMES.index(name)])


def test_shape_dtype_and_names_are_unique() -> None:
    vector = transaction_features(make_tx())
    assert vector.shape == (len(FEATURE_NAMES),) and vector.dtype == np.float32
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)


def test_everyday_purchase_values() -> None:
    tx = make_tx()
    assert feature(tx, "log_amount_usd") == pytest.approx(math.log1p(42.5 / 0.92), rel=1e-6)
    assert feature(tx, "hour_sin") == pytest.approx(math.sin(12.5 / 24 * 2 * math.pi), abs=1e-6)
    assert feature(tx, "night") == 0.0
    assert feature(tx, "channel_card_present") == 1.0 and feature(tx, "channel_unknown") == 0.0
    assert feature(tx, "country_currency_mismatch") == 0.0  # DE uses EUR
    assert sum(transaction_features(tx)[FEATURE_NAMES.index("mcc_missing") :]) == 0.0


def test_missing_fields_have_their_own_flags() -> None:
    tx = make_tx(channel=None, country=None, mcc=None)
    assert feature(tx, "channel_unknown") == 1.0
    assert feature(tx, "country_missing") == 1.0
    assert feature(tx, "mcc_missing") == 1.0


@pytest.mark.parametrize(
    ("currency", "country", "mismatch"),
    [("USD", "NG", 1.0), ("USD", "US", 0.0), ("SEK", "SE", 0.0), ("GBP", "FR", 1.0), ("EUR", "IE", 0.0)],
)
def test_currency_country_mismatch(currency: str, country: str, mismatch: float) -> None:
    assert feature(make_tx(currency=currency, country=country), "country_currency_mismatch") == mismatch


def test_card_testing_shape() -> None:
    tx = make_tx(amount=1.0, currency="USD", country="US", channel="online", mcc="8398", timestamp=NIGHT_MS)
    assert feature(tx, "amount_tiny") == 1.0 and feature(tx, "amount_whole") == 1.0
    assert feature(tx, "night") == 1.0
    assert feature(tx, "mcc_card_testing_prone") == 1.0


def test_batch_matches_single_rows() -> None:
    txs = [make_tx(), make_tx(amount=9800.0, channel="atm", mcc="6011"), make_tx(channel=None)]
    batch = transaction_features_batch(txs)
    assert batch.shape == (3, len(FEATURE_NAMES)) and batch.dtype == np.float32
    for row, tx in zip(batch, txs, strict=True):
        np.testing.assert_array_equal(row, transaction_features(tx))
    assert transaction_features_batch([]).shape == (0, len(FEATURE_NAMES))


def test_text_joins_merchant_and_description() -> None:
    assert transaction_text(make_tx()) == "Tesco Stores | weekly shop"
    assert transaction_text(make_tx(description="  ")) == "Tesco Stores"


def test_drivers_name_what_is_unusual() -> None:
    tx = make_tx(
        amount=9800.0,
        currency="USD",
        country="RO",
        channel="transfer",
        mcc="6051",
        merchant="Coinbase",
        description="Transfer to wallet 0xabc",
        timestamp=NIGHT_MS,
    )
    drivers = feature_drivers(tx)
    assert "amount 9,800.00 USD (large)" in drivers
    assert "night-time 03:30 UTC" in drivers
    assert "channel transfer" in drivers
    assert any("RO" in d for d in drivers)
    assert any(d.startswith("MCC 6051") for d in drivers)
    assert "merchant looks like crypto cash-out" in drivers


def test_ordinary_purchase_has_no_drivers() -> None:
    assert feature_drivers(make_tx()) == []
