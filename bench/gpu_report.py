"""``make gpu-check``'s report: ``gpu_check.json``, ``gpu_check.md`` and the latency-throughput plot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from bench.gpu_floors import INDEPENDENCE_TOLERANCE, GraphFloors, Independence

if TYPE_CHECKING:
    from bench.gpu_check import CudaProbe
    from bench.results import BenchResults


def floors_markdown(floors: Sequence[tuple[str, str, GraphFloors]]) -> list[str]:
    lines = [
        "## Model floor per batch size",
        "",
        "onnxruntime alone, back-to-back batches of synthetic lane inputs, tokenising included; "
        "`gpu`: the graph a GPU worker serves, on CUDA; `cpu`: the CPU graph on the CPU provider.",
        "",
        "| lane | target | graph | provider | batch | tokens | p50 ms | p99 ms | texts/s |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for lane, target, found in floors:
        for f in found.floors:
            lines.append(
                f"| {lane} | {target} | {found.graph} | {found.providers[0]} | {f.batch_size} | "
                f"{f.tokens} | {f.p50_ms:.2f} | {f.p99_ms:.2f} | {f.texts_per_s:.0f} |"
            )
        if found.skipped_sizes:
            lines.append(f"\n{lane} {target}: sizes {list(found.skipped_sizes)} skipped (time budget)\n")
    return lines


def independence_markdown(checks: Sequence[tuple[str, Independence]]) -> list[str]:
    sizes = sorted({size for _, check in checks for size in check.by_size})
    lines = [
        "## Batch independence",
        "",
        f"Largest |probability alone - probability inside a batch| per batch size, mixed lengths; "
        f"tolerance {INDEPENDENCE_TOLERANCE:g}.",
        "",
        "| lane | graph | provider | texts | " + " | ".join(f"B{s}" for s in sizes) + " | max | passed |",
        "|---|---|---|---:|" + "---:|" * len(sizes) + "---:|---|",
    ]
    for lane, check in checks:
        cells = " | ".join(f"{check.by_size[s]:.1e}" if s in check.by_size else "-" for s in sizes)
        lines.append(
            f"| {lane} | {check.graph} | {check.providers[0]} | {check.texts} | {cells} | "
            f"{check.max_diff:.1e} | {'yes' if check.passed else 'no'} |"
        )
    return lines


def write_gpu_report(
    out_dir: Path,
    probe: CudaProbe,
    floors: Sequence[tuple[str, str, GraphFloors]],
    independence: Sequence[tuple[str, Independence]],
    worker: Mapping[str, str],
    bench: BenchResults,
    elapsed_s: float,
    budget_s: float,
    skipped_rates: Sequence[float] = (),
) -> str:
    """Writes the three files into ``out_dir``; returns the markdown."""
    from bench.report import evaluate_targets, markdown, plot

    targets = evaluate_targets(bench)
    document: dict[str, Any] = {
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "elapsed_s": round(elapsed_s, 1),
        "budget_s": budget_s,
        "device": probe.device,
        "onnxruntime": probe.onnxruntime,
        "providers_available": list(probe.available),
        "providers_loaded": list(probe.loaded),
        "worker_providers": dict(worker),
        "floors": [{"lane": lane, "target": target, **found.to_json()} for lane, target, found in floors],
        "independence": [{"lane": lane, **check.to_json()} for lane, check in independence],
        "bench": bench.to_json(targets),
        "bench_rates_skipped": list(skipped_rates),  # would not have fitted in the time budget
    }
    (out_dir / "gpu_check.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    lines = [
        f"# make gpu-check — {document['written']}",
        "",
        f"Device: {probe.device or 'unknown (no nvidia-smi)'}; onnxruntime {probe.onnxruntime}; "
        f"providers offered {', '.join(probe.available)}; a CUDA session runs on "
        f"{', '.join(probe.loaded)}; the worker's loader picks "
        f"{', '.join(f'{lane} {provider}' for lane, provider in worker.items())}. "
        f"{elapsed_s:.0f} s of a {budget_s:.0f} s budget.",
        "",
        *floors_markdown(floors),
        "",
        *independence_markdown(independence),
        "",
        "## Bench with a GPU worker",
        "",
        *(
            [f"Rates {list(skipped_rates)} skipped: they would not have fitted in the time budget.", ""]
            if skipped_rates
            else []
        ),
        markdown(bench, targets),
    ]
    text = "\n".join(lines)
    (out_dir / "gpu_check.md").write_text(text)
    plot(bench, out_dir / "latency_vs_throughput.png")
    return text
