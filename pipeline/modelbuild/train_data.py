"""Reads a user's labelled texts (``{"text", "label"}`` per JSON line) for ``streamguard models train``.

Every unusable row is reported with its line number instead of stopping at the first; the command
stops before training when too few usable rows, or only one label, remain.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from pipeline.errors import StreamGuardError

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


def read_labelled_texts(path: Path) -> LabelledRows:
    """Usable rows of ``path``; raises TrainingDataError when the file cannot train a model."""
    try:
        lines = Path(path).read_bytes().splitlines()
    except OSError as exc:
        raise TrainingDataError(f"cannot read {path}: {exc}") from exc
    texts: list[str] = []
    raw_labels: list[str] = []
    problems: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        problem = _row_problem(line, texts, raw_labels)
        if problem:
            problems.append(f"line {number}: {problem}")
    if not texts:
        detail = f" ({len(problems)} unusable rows, first: {problems[0]})" if problems else ""
        raise TrainingDataError(f"{path} has no usable rows{detail}")
    names = tuple(sorted(set(raw_labels)))
    if len(names) < 2:
        raise TrainingDataError(
            f"{path}: every usable row has the label {names[0]!r}; need two labels or more"
        )
    index = {name: i for i, name in enumerate(names)}
    rows = LabelledRows(
        texts, np.array([index[label] for label in raw_labels], dtype=np.int64), names, tuple(problems)
    )
    scarce = {name: n for name, n in rows.counts().items() if n < MIN_PER_LABEL}
    if len(texts) < MIN_ROWS or scarce:
        why = (
            f"{len(texts)} usable rows (need {MIN_ROWS})"
            if len(texts) < MIN_ROWS
            else (f"labels with fewer than {MIN_PER_LABEL} rows: {scarce}")
        )
        raise TrainingDataError(f"{path}: too little to train on: {why}; {len(problems)} rows skipped")
    return rows


def _row_problem(line: bytes, texts: list[str], labels: list[str]) -> str | None:
    """Appends a usable row to ``texts``/``labels``, or says why the row is not usable."""
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "not valid JSON"
    if not isinstance(row, dict):
        return "not a JSON object"
    text, label = row.get("text"), row.get("label")
    if not isinstance(text, str) or not text.strip():
        return "missing or empty text"
    if isinstance(label, bool) or not isinstance(label, (str, int)) or label == "":
        return f"label must be a string or an integer, got {label!r}"
    texts.append(text)
    labels.append(str(label))
    return None
