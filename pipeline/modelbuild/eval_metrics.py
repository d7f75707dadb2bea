"""Classification metrics in numpy (no scikit-learn dependency for a handful of formulas)."""

from __future__ import annotations

import numpy as np


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(y_true == y_pred)) if len(y_true) else 0.0


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    scores = []
    for cls in range(n_classes):
        tp = np.sum((y_pred == cls) & (y_true == cls))
        fp = np.sum((y_pred == cls) & (y_true != cls))
        fn = np.sum((y_pred != cls) & (y_true == cls))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(scores))


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Probability that a random positive outranks a random negative (ties count half)."""
    positives = int(np.sum(y_true == 1))
    negatives = len(y_true) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score), dtype=np.float64)
    sorted_scores = score[order]
    # Average rank within runs of equal scores.
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(score)]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    rank_sum = ranks[y_true == 1].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def average_precision(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the precision-recall curve (step-wise, as scikit-learn computes it)."""
    positives = int(np.sum(y_true == 1))
    if positives == 0:
        return float("nan")
    order = np.argsort(-score, kind="mergesort")
    hits = (y_true[order] == 1).astype(np.float64)
    precision_at_k = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(np.sum(precision_at_k * hits) / positives)


def precision_recall(y_true: np.ndarray, score: np.ndarray, threshold: float) -> tuple[float, float]:
    flagged = score >= threshold
    tp = int(np.sum(flagged & (y_true == 1)))
    precision = tp / int(np.sum(flagged)) if np.any(flagged) else 0.0
    recall = tp / int(np.sum(y_true == 1)) if np.any(y_true == 1) else 0.0
    return float(precision), float(recall)


def log_loss(y_true: np.ndarray, probs: np.ndarray) -> float:
    picked = probs[np.arange(len(y_true)), y_true]
    return float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0))))


def classification_report(y_true: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    predicted = probs.argmax(axis=1)
    return {
        "accuracy": round(accuracy(y_true, predicted), 4),
        "macro_f1": round(macro_f1(y_true, predicted, probs.shape[1]), 4),
        "log_loss": round(log_loss(y_true, probs), 4),
        "n": len(y_true),
    }


def binary_report(y_true: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, float]:
    precision, recall = precision_recall(y_true, score, threshold)
    return {
        "roc_auc": round(roc_auc(y_true, score), 4),
        "average_precision": round(average_precision(y_true, score), 4),
        "threshold": threshold,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "n": len(y_true),
        "positives": int(np.sum(y_true == 1)),
    }
