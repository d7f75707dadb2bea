"""The alert cut of a text model: at most the stated share of other texts alert on the data it was
chosen on, and no lower cut (at the cut's precision) would hold that share."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.modelbuild.alert_cut import alert_rates, choose_alert_cut

scores = st.lists(st.floats(0.0, 1.0, width=32), min_size=1, max_size=300)


@given(others=scores, positives=scores, rate=st.sampled_from([0.0, 0.01, 0.05, 0.2, 0.5]))
def test_the_cut_holds_the_rate_and_is_the_lowest_that_does(
    others: list[float], positives: list[float], rate: float
) -> None:
    score = np.array(others + positives, dtype=np.float32)
    is_alert = np.array([False] * len(others) + [True] * len(positives))
    cut = choose_alert_cut(score, is_alert, rate)
    false_alerts, recall = alert_rates(score, is_alert, cut.threshold)
    # Only other texts at P = 1.0, more than the rate allows, can hold a cut of 1.0 above the rate.
    assert false_alerts <= rate or cut.threshold == 1.0
    assert (cut.false_alerts, cut.recall) == (false_alerts, recall)
    if 0.0 < cut.threshold < 1.0:
        assert alert_rates(score, is_alert, cut.threshold - 1e-4)[0] > rate


def test_a_separable_split_alerts_on_every_negative_and_no_other_text() -> None:
    score = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    cut = choose_alert_cut(score, np.array([False, False, False, True, True]), 0.05)
    assert 0.3 < cut.threshold <= 0.3001 and (cut.false_alerts, cut.recall) == (0.0, 1.0)
    assert cut.as_meta()["chosen_on"] == "validation"


@pytest.mark.parametrize(
    ("is_alert", "rate", "message"),
    [
        ([True, True], 0.05, "needs texts of the alert class and of the other classes"),
        ([False, False], 0.05, "needs texts of the alert class and of the other classes"),
        ([True, False], 1.0, "must lie in [0, 1)"),
    ],
)
def test_a_cut_that_cannot_be_chosen_is_refused(is_alert: list[bool], rate: float, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        choose_alert_cut(np.array([0.4, 0.6]), np.array(is_alert), rate)
