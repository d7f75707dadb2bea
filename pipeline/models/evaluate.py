"""``python -m pipeline.models eval``: one table of the built models, read from their meta.json.

Accuracy figures are not recomputed: they are those the build measured on held-out data with the
served (int8) model. Latency comes from meta.json too, or is measured now with ``--measure``
(needed for builds that did not record it). Missing measurements show as "-".
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from pipeline.inference import OnnxClassifier
from pipeline.models.registry import KINDS, TOKENIZER_FILE, ModelNotBuiltError, model_path, read_meta
from pipeline.tokenize import TextTokenizer

# 32 tokens with [CLS]/[SEP] (a median tweet has ~33): the latency reference input.
LATENCY_TEXT = (
    "the app keeps crashing after the latest update and support has not answered my ticket in three "
    "days, really disappointed with this service, never buying from them again"
)

COLUMNS = (
    "model",
    "version",
    "test n",
    "accuracy",
    "macro-F1",
    "fp32 acc",
    "int8-fp32 (pt)",
    "ROC AUC",
    "B1 ms",
    "B16 ms",
)


def measure_latency(
    classifier: OnnxClassifier,
    tokenizer: TextTokenizer,
    sizes: Sequence[int] = (1, 16),
    runs: int = 30,
) -> dict[str, Any]:
    """Median and p99 milliseconds per ``predict`` of B copies of ``LATENCY_TEXT``."""
    tokens = int(tokenizer.encode([LATENCY_TEXT]).attention_mask.sum())
    result: dict[str, Any] = {"tokens": tokens}
    for size in sizes:
        texts = [LATENCY_TEXT] * size
        features = np.zeros((size, len(classifier.feature_names)), dtype=np.float32)
        feats = features if classifier.feature_names else None
        classifier.predict(texts, feats)
        timings = []
        for _ in range(runs):
            start = time.perf_counter()
            classifier.predict(texts, feats)
            timings.append((time.perf_counter() - start) * 1000.0)
        timings.sort()
        result[f"B{size}_median_ms"] = round(statistics.median(timings), 2)
        result[f"B{size}_p99_ms"] = round(timings[min(len(timings) - 1, int(0.99 * len(timings)))], 2)
    return result


def _live_latency(path: Path, threads: int) -> dict[str, Any]:
    classifier = OnnxClassifier.load(path, threads=threads)
    tokenizer = TextTokenizer.from_file(path / TOKENIZER_FILE)
    return {"threads": threads, **measure_latency(classifier, tokenizer)}


def _get(document: dict[str, Any], *keys: str) -> Any:
    value: Any = document
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _fmt(value: Any, percent: bool = False) -> str:
    if value is None:
        return "-"
    if percent and isinstance(value, int | float):
        return f"{100 * value:.2f}%"
    return str(value)


def model_row(kind: str, meta: dict[str, Any]) -> list[str]:
    metrics = meta.get("metrics", {})
    return [
        f"{kind}: {meta.get('name', '?')}",
        str(meta.get("version", "?")) + (" (smoke)" if meta.get("smoke") else ""),
        _fmt(_get(metrics, "test", "n")),
        _fmt(_get(metrics, "test", "accuracy"), percent=True),
        _fmt(_get(metrics, "test", "macro_f1")),
        _fmt(_get(metrics, "test_fp32", "accuracy"), percent=True),
        _fmt(_get(metrics, "int8_vs_fp32_test", "accuracy_delta_points")),
        _fmt(_get(metrics, "test", "roc_auc")),
        _fmt(_get(metrics, "latency_ms", "B1_median_ms")),
        _fmt(_get(metrics, "latency_ms", "B16_median_ms")),
    ]


def models_table(model_dir: Path, *, measure: bool = False, threads: int = 2) -> Table:
    table = Table(title=f"StreamGuard models in {model_dir} (held-out test split, served int8 model)")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("model", "version") else "right")
    for kind in KINDS:
        try:
            meta = read_meta(model_path(model_dir, kind))
        except ModelNotBuiltError as exc:
            table.add_row(f"{kind}: not built", exc.problem, *["-"] * (len(COLUMNS) - 2))
            continue
        if measure:
            meta.setdefault("metrics", {})["latency_ms"] = _live_latency(model_path(model_dir, kind), threads)
        table.add_row(*model_row(kind, meta))
    return table


def print_models_table(
    model_dir: Path, *, measure: bool = False, threads: int = 2, console: Console | None = None
) -> None:
    # Wide enough for every column even when piped or captured (rich would otherwise use 80).
    console = console or Console(width=max(Console().width, 150))
    console.print(models_table(model_dir, measure=measure, threads=threads))
    source = f"measured now, {threads} threads" if measure else "as the build measured it"
    console.print(
        f"latency ({source}): median ms per predict() of B texts of 32 tokens; "
        "int8-fp32: test accuracy points the int8 quantization cost."
    )
