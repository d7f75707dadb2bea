"""Reads a user's labelled rows for ``streamguard models train``: texts (``{"text", "label"}`` per JSON
line) for ``--kind sentiment``, transactions in the input schema plus ``label`` for ``--kind fraud``.

Every unusable row is reported with its line number instead of stopping at the first; the command
stops before training when too few usable rows, or only one label, remain.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from pipeline.errors import StreamGuardError
from pipeline.hotpath.artefacts import LABELS
from pipeline.ingest.validation import Failure, decode_event
from schemas.transaction import Transaction

# Below this many usable rows a seeded 80/10/10 split leaves too little to validate and test on.
MIN_ROWS = 50
# At least this many rows of each label, so that every split can hold one.
MIN_PER_LABEL = 10


class TrainingDataError(StreamGuardError):
    """The labelled file cannot train a model; the message says why (and where, per row)."""

    retriable = False


@dataclass(frozen=True)
class LabelledRows:
    texts: list[str]
    labels: np.ndarray  # class index into ``names``
    names: tuple[str, ...]  # label names, sorted
    problems: tuple[str, ...]  # "line N: why" for every skipped row

    def counts(self) -> dict[str, int]:
        found = Counter(int(i) for i in self.labels)
        return {name: found[i] for i, name in enumerate(self.names)}


@dataclass(frozen=True)
class LabelledTransactions:
    transactions: list[Transaction]  # validated as the worker validates the input topic
    labels: np.ndarray  # index into ``names``: 1 = fraud
    problems: tuple[str, ...]  # "line N: why" for every skipped row
    names: tuple[str, ...] = LABELS["fraud"]

    def counts(self) -> dict[str, int]:
        found = Counter(int(i) for i in self.labels)
        return {name: found[i] for i, name in enumerate(self.names)}


# What a fraud row's ``label`` may be, and the class it means (1 and 0 hash as True and False).
_FRAUD_LABEL_VALUES: dict[object, int] = {True: 1, False: 0, "1": 1, "0": 0, "fraud": 1, "legit": 0}
# Generous for a transaction with a long description, and still a bound on one line's parse.
_MAX_ROW_BYTES = 1 << 20


def read_labelled_texts(path: Path) -> LabelledRows:
    """Usable rows of ``path``; raises TrainingDataError when the file cannot train a model."""
    texts: list[str] = []
    raw_labels: list[str] = []
    problems = _read_rows(path, lambda line: _row_problem(line, texts, raw_labels))
    names = tuple(sorted(set(raw_labels)))
    index = {name: i for i, name in enumerate(names)}
    rows = LabelledRows(
        texts, np.array([index[label] for label in raw_labels], dtype=np.int64), names, problems
    )
    _check_enough(path, len(texts), rows.counts(), problems)
    return rows


def read_labelled_transactions(path: Path) -> LabelledTransactions:
    """Usable rows of ``path`` (a transaction of the input topic's schema plus ``label``: 1/0,
    true/false or "fraud"/"legit"); raises TrainingDataError when the file cannot train a model."""
    transactions: list[Transaction] = []
    labels: list[int] = []
    problems = _read_rows(path, lambda line: _transaction_problem(line, transactions, labels))
    rows = LabelledTransactions(transactions, np.array(labels, dtype=np.int64), problems)
    _check_enough(path, len(transactions), {k: n for k, n in rows.counts().items() if n}, problems)
    return rows


def _read_rows(path: Path, take: Callable[[bytes], str | None]) -> tuple[str, ...]:
    """Feeds every non-blank line to ``take``; returns the "line N: why" of those it refused."""
    try:
        lines = Path(path).read_bytes().splitlines()
    except OSError as exc:
        raise TrainingDataError(f"cannot read {path}: {exc}") from exc
    problems: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        problem = take(line)
        if problem:
            problems.append(f"line {number}: {problem}")
    return tuple(problems)


def _check_enough(path: Path, usable: int, counts: dict[str, int], problems: tuple[str, ...]) -> None:
    """Raises TrainingDataError unless the usable rows can be split, trained and tested on."""
    if not usable:
        detail = f" ({len(problems)} unusable rows, first: {problems[0]})" if problems else ""
        raise TrainingDataError(f"{path} has no usable rows{detail}")
    if len(counts) < 2:
        raise TrainingDataError(
            f"{path}: every usable row has the label {next(iter(counts))!r}; need two labels or more"
        )
    scarce = {name: n for name, n in counts.items() if n < MIN_PER_LABEL}
    if usable < MIN_ROWS or scarce:
        why = (
            f"{usable} usable rows (need {MIN_ROWS})"
            if usable < MIN_ROWS
            else (f"labels with fewer than {MIN_PER_LABEL} rows: {scarce}")
        )
        raise TrainingDataError(f"{path}: too little to train on: {why}; {len(problems)} rows skipped")


def _json_object(line: bytes) -> dict[str, Any] | str:
    """The line's JSON object, or why it is not one."""
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "not valid JSON"
    if not isinstance(row, dict):
        return "not a JSON object"
    return row


def _row_problem(line: bytes, texts: list[str], labels: list[str]) -> str | None:
    """Appends a usable row to ``texts``/``labels``, or says why the row is not usable."""
    row = _json_object(line)
    if isinstance(row, str):
        return row
    text, label = row.get("text"), row.get("label")
    if not isinstance(text, str) or not text.strip():
        return "missing or empty text"
    if isinstance(label, bool) or not isinstance(label, (str, int)) or label == "":
        return f"label must be a string or an integer, got {label!r}"
    texts.append(text)
    labels.append(str(label))
    return None


def _transaction_problem(line: bytes, transactions: list[Transaction], labels: list[int]) -> str | None:
    """Appends a usable transaction and its class, or says why the row is not usable."""
    row = _json_object(line)
    if isinstance(row, str):
        return row
    if "label" not in row:
        return "missing label"
    label = row.pop("label")
    value = label.strip().lower() if isinstance(label, str) else label
    if isinstance(value, float) or value not in _FRAUD_LABEL_VALUES:
        return f"label must be 1/0, true/false or 'fraud'/'legit', got {label!r}"
    # The same validation as the worker's input topic, so training sees what serving would score.
    decoded = decode_event(orjson.dumps(row), Transaction, max_bytes=_MAX_ROW_BYTES)
    if isinstance(decoded, Failure):
        return f"not a transaction: {decoded.message}"
    transactions.append(decoded)
    labels.append(_FRAUD_LABEL_VALUES[value])
    return None
