from __future__ import annotations

import itertools

import numpy as np

from pipeline.modelbuild.eval_metrics import average_precision, macro_f1, precision_recall, roc_auc


def brute_force_auc(y: np.ndarray, s: np.ndarray) -> float:
    pairs = list(itertools.product(s[y == 1], s[y == 0]))
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)


def test_roc_auc_matches_pair_counting_with_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.random(200) + y * 0.3, 1)  # coarse scores: many ties
    assert abs(roc_auc(y, s) - brute_force_auc(y, s)) < 1e-12
    assert np.isnan(roc_auc(np.zeros(3, dtype=int), np.ones(3)))


def test_average_precision_and_threshold_metrics() -> None:
    y = np.array([1, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.7, 0.1])
    assert average_precision(y, s) == (1 / 1 + 2 / 3) / 2
    assert precision_recall(y, s, 0.75) == (0.5, 0.5)


def test_macro_f1() -> None:
    y = np.array([0, 0, 1, 2])
    assert macro_f1(y, y, 3) == 1.0
    assert macro_f1(y, np.array([0, 0, 1, 1]), 3) == (1 + 2 / 3 + 0) / 3
