"""``python -m pipeline.modelbuild eval``: tables of the built models, read from their meta.json.

The first table has one row per built model directory (``sentiment``, ``sentiment-student``,
``fraud``); the second compares compression choices for sentiment: the 6-layer model in fp32 and int8
(served) and the 3-layer student in fp32 and int8, plus fraud int8. Accuracy figures are not
recomputed: they are those the build measured on held-out data. Latency comes from meta.json too, or
is measured now with ``--measure`` for the int8 models that are on disk (fp32 graphs are not shipped,
so their rows keep the build's figures). Missing measurements show as "-".
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

from pipeline.hotpath.artefacts import (
    BUILD_TARGETS,
    KINDS,
    MODEL_FILE,
    STUDENT_MODEL,
    TOKENIZER_FILE,
    ModelNotBuiltError,
    read_meta,
)
from pipeline.hotpath.inference import OnnxClassifier
from pipeline.hotpath.tokenize import TextTokenizer

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


COMPRESSION_COLUMNS = (
    "model",
    "layers",
    "precision",
    "MB",
    "test n",
    "accuracy",
    "macro-F1",
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
    return measure_latencies([classifier], tokenizer, sizes, runs)[0]


def measure_latencies(
    classifiers: Sequence[OnnxClassifier],
    tokenizer: TextTokenizer,
    sizes: Sequence[int] = (1, 16),
    runs: int = 30,
) -> list[dict[str, Any]]:
    """``measure_latency`` of several models, interleaved run by run: on a shared machine whose load
    changes, each model sees the same conditions, so their ratios are fair."""
    tokens = int(tokenizer.encode([LATENCY_TEXT]).attention_mask.sum())
    timings: list[dict[int, list[float]]] = [{size: [] for size in sizes} for _ in classifiers]
    inputs = []
    for classifier in classifiers:
        by_size = {}
        for size in sizes:
            features = np.zeros((size, len(classifier.feature_names)), dtype=np.float32)
            by_size[size] = ([LATENCY_TEXT] * size, features if classifier.feature_names else None)
            classifier.predict(*by_size[size])
        inputs.append(by_size)
    for _ in range(runs):
        for size in sizes:
            for i, classifier in enumerate(classifiers):
                start = time.perf_counter()
                classifier.predict(*inputs[i][size])
                timings[i][size].append((time.perf_counter() - start) * 1000.0)
    results = []
    for per_size in timings:
        result: dict[str, Any] = {"tokens": tokens}
        for size, values in per_size.items():
            values.sort()
            result[f"B{size}_median_ms"] = round(statistics.median(values), 2)
            result[f"B{size}_p99_ms"] = round(values[min(len(values) - 1, int(0.99 * len(values)))], 2)
        results.append(result)
    return results


def _live_latencies(paths: Sequence[Path], threads: int) -> list[dict[str, Any]]:
    """Latency of each model directory measured now, interleaved (same load for all)."""
    if not paths:
        return []
    classifiers = [OnnxClassifier.load(path, threads=threads) for path in paths]
    tokenizer = TextTokenizer.from_file(paths[0] / TOKENIZER_FILE)
    return [{"threads": threads, **result} for result in measure_latencies(classifiers, tokenizer)]


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


def _read_models(model_dir: Path, measure: bool, threads: int) -> dict[str, dict[str, Any] | str]:
    """meta.json of each build target (or why it is unusable); optional targets only when present.
    With ``measure``, each model's ``latency_ms`` is replaced by a measurement made now."""
    models: dict[str, dict[str, Any] | str] = {}
    for name in BUILD_TARGETS:
        path = Path(model_dir) / name
        if name not in KINDS and not path.exists():
            continue
        try:
            meta = read_meta(path)
        except ModelNotBuiltError as exc:
            models[name] = exc.problem
            continue
        models[name] = meta
    if measure:
        built = [name for name, meta in models.items() if isinstance(meta, dict)]
        for name, latency in zip(
            built, _live_latencies([Path(model_dir) / name for name in built], threads), strict=True
        ):
            measured = models[name]
            if isinstance(measured, dict):
                measured.setdefault("metrics", {})["latency_ms"] = latency
                measured["latency_measured_now"] = True
    return models


def models_table(
    model_dir: Path,
    *,
    measure: bool = False,
    threads: int = 2,
    models: dict[str, dict[str, Any] | str] | None = None,
) -> Table:
    models = models if models is not None else _read_models(model_dir, measure, threads)
    table = Table(title=f"StreamGuard models in {model_dir} (held-out test split, served int8 model)")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("model", "version") else "right")
    for name, meta in models.items():
        if isinstance(meta, str):
            table.add_row(f"{name}: not built", meta, *["-"] * (len(COLUMNS) - 2))
        else:
            table.add_row(*model_row(name, meta))
    return table


def _layers(meta: dict[str, Any]) -> str:
    if meta.get("kind") == "fraud" or _get(meta, "encoder", "training") in ("finetune", None):
        return "6"
    return _fmt(_get(meta, "head", "layers"))


def _megabytes(model_dir: Path, name: str) -> str:
    path = Path(model_dir) / name / MODEL_FILE
    return f"{path.stat().st_size / 2**20:.1f}" if path.is_file() else "-"


def compression_rows(model_dir: Path, models: dict[str, dict[str, Any] | str]) -> list[list[str]]:
    """fp32 / int8 rows of the sentiment model and its student, and fraud int8. The fp32 latency of
    a sentiment build made before fp32 latency was recorded falls back to the student build's
    measurement of the same teacher (marked *)."""
    rows: list[list[str]] = []
    student = models.get(STUDENT_MODEL)
    teacher_ref = _get(student, "metrics", "teacher") if isinstance(student, dict) else None
    for name in ("sentiment", STUDENT_MODEL, "fraud"):
        meta = models.get(name)
        if not isinstance(meta, dict):
            continue
        metrics = meta.get("metrics", {})
        precisions = ("fp32", "int8") if "test_fp32" in metrics else ("int8",)
        for precision in precisions:
            test = metrics.get("test_fp32" if precision == "fp32" else "test", {})
            latency = metrics.get("latency_ms_fp32" if precision == "fp32" else "latency_ms")
            mark = ""
            if latency is None and precision == "fp32" and name == "sentiment" and teacher_ref:
                latency, mark = teacher_ref.get("latency_ms_fp32"), "*"
            served = precision == "int8"
            rows.append([
                name + (" (served)" if served and name in KINDS else ""),
                _layers(meta),
                precision,
                _megabytes(model_dir, name) if served else "-",
                _fmt(test.get("n")),
                _fmt(test.get("accuracy"), percent=True),
                _fmt(test.get("macro_f1")),
                _fmt(test.get("roc_auc")),
                _fmt(_get(latency, "B1_median_ms")) + mark,
                _fmt(_get(latency, "B16_median_ms")) + mark,
            ])  # fmt: skip
    return rows


def compression_table(model_dir: Path, models: dict[str, dict[str, Any] | str]) -> Table:
    table = Table(title="Compression: accuracy vs latency (test split; B1/B16 at 32 tokens)")
    for column in COMPRESSION_COLUMNS:
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in compression_rows(model_dir, models):
        table.add_row(*row)
    return table


def print_models_table(
    model_dir: Path, *, measure: bool = False, threads: int = 2, console: Console | None = None
) -> None:
    # Wide enough for every column even when piped or captured (rich would otherwise use 80).
    console = console or Console(width=max(Console().width, 150))
    models = _read_models(model_dir, measure, threads)
    console.print(models_table(model_dir, models=models))
    source = f"measured now, {threads} threads" if measure else "as the build measured it"
    console.print(
        f"latency ({source}): median ms per predict() of B texts of 32 tokens; "
        "int8-fp32: test accuracy points the int8 quantization cost."
    )
    rows = compression_rows(model_dir, models)
    if rows:
        console.print(compression_table(model_dir, models))
        console.print(
            "fp32 rows: the build's measurement (fp32 graphs are not shipped)"
            + (f"; int8 rows measured now, {threads} threads" if measure else "")
            + "; * measured by the student build on the same teacher weights. Serve another model "
            "with STREAMGUARD_SENTIMENT_MODEL / STREAMGUARD_FRAUD_MODEL (a directory name under the "
            "model directory)."
        )
