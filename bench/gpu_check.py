"""``make gpu-check``: what a CUDA device does for StreamGuard, in one command (at most ~8 minutes).

On a machine whose onnxruntime really runs a session on ``CUDAExecutionProvider``: prints the device
and providers; measures each lane's model floor per batch size (1-128) for the graph a GPU worker
serves and for the CPU graph; checks batch independence on the GPU; runs ``streamguard bench``'s
machinery at rising rates with one GPU worker; writes ``gpu_check.json``, ``gpu_check.md`` and
``latency_vs_throughput.png`` to ``bench/results/gpu-<time>/``.

Without a CUDA device it prints one line saying why and exits 2. "CUDA device" is decided by a real
session, not by ``get_available_providers()``: onnxruntime-gpu lists CUDA on machines without the
CUDA libraries and then runs on the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.gpu_floors import (
    GPU_BATCH_SIZES,
    GraphFloors,
    Independence,
    batch_floors,
    batch_independence,
    graph_for,
)
from bench.gpu_report import write_gpu_report
from pipeline.hotpath.providers import CPU_PROVIDER, CUDA_PROVIDER, GpuOptions

if TYPE_CHECKING:  # the bench's modules load aiokafka: only a machine with CUDA gets that far
    from bench.results import BenchResults
    from pipeline.settings import Settings

log = logging.getLogger(__name__)

EXIT_NO_CUDA = 2
BUDGET_S = 480.0  # the 8 minutes
DEFAULT_RESULTS = Path("bench/results")
# Rising open-loop rates for the GPU worker; the climb stops at the first saturated rate.
GPU_RATES = (100.0, 300.0, 600.0, 1000.0, 1600.0, 2400.0, 3200.0)
# What one rate of the bench costs on top of its 4 s of sending (worker start, warm-up, drain):
# rates that would not fit in what is left of the budget are not run.
_RATE_COST_S = 25.0
_FLOOR_BUDGET_S = 40.0  # per graph and lane
_LANES = ("fraud", "sentiment")
_INDEPENDENCE_TEXTS = 96


@dataclass(frozen=True)
class CudaProbe:
    """What onnxruntime offers and what a session on the CUDA provider really got."""

    onnxruntime: str
    available: tuple[str, ...]
    loaded: tuple[str, ...]  # empty when no session was tried (CUDA not offered)
    device: str | None  # nvidia-smi's name, memory and driver, when nvidia-smi is there

    @property
    def has_cuda(self) -> bool:
        return bool(self.loaded) and self.loaded[0] == CUDA_PROVIDER

    def why_not(self) -> str:
        seen = f"nvidia-smi sees {self.device}" if self.device else "nvidia-smi finds no GPU"
        if CUDA_PROVIDER not in self.available:
            return (
                f"onnxruntime {self.onnxruntime} offers {', '.join(self.available)}; {seen} "
                "(a GPU machine needs the `gpu` extra, onnxruntime-gpu, instead of onnxruntime)"
            )
        ran = self.loaded[0] if self.loaded else "nothing"
        return (
            f"onnxruntime {self.onnxruntime} lists {CUDA_PROVIDER} but a session ran on {ran} "
            f"(CUDA/cuDNN libraries or the driver missing); {seen}"
        )


def nvidia_smi() -> str | None:
    """``name, memory, driver`` of the first GPU nvidia-smi reports; None without one."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    query = [exe, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"]
    try:
        done = subprocess.run(query, capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    return lines[0] if done.returncode == 0 and lines else None


def probe_cuda(graph: Path | None) -> CudaProbe:
    """Opens ``graph`` on [CUDA, CPU] when this onnxruntime offers CUDA, and reads what loaded."""
    import onnxruntime as ort

    available = tuple(ort.get_available_providers())
    loaded: tuple[str, ...] = ()
    if CUDA_PROVIDER in available and graph is not None:
        # A missing CUDA library is logged as an error before the fallback: this probe reports it.
        ort.set_default_logger_severity(4)
        try:
            session = ort.InferenceSession(str(graph), providers=[CUDA_PROVIDER, CPU_PROVIDER])
            loaded = tuple(session.get_providers())
        except Exception as exc:  # onnxruntime's own exception types
            log.debug("CUDA session failed: %s", exc)
            loaded = ("error: " + str(exc).splitlines()[0],)
        finally:
            ort.set_default_logger_severity(2)  # onnxruntime's default, warnings and up
    return CudaProbe(ort.__version__, available, loaded, nvidia_smi())


def lane_inputs(kind: str, count: int, seed: int = 11) -> tuple[list[str], np.ndarray | None]:
    """What the lane's model reads for ``count`` synthetic events: texts (and fraud's features)."""
    if kind == "sentiment":
        from pipeline.synthetic.texts import generate_texts

        return [str(event["text"]) for event in generate_texts(count, seed)], None
    from pipeline.features.model_inputs import transaction_features_batch, transaction_text
    from pipeline.synthetic.transactions import generate_transactions
    from schemas import Transaction

    txs = [Transaction.model_validate(event) for event, _ in generate_transactions(count, seed)]
    return [transaction_text(tx) for tx in txs], transaction_features_batch(txs)


def _say(text: str) -> None:
    print(text, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make gpu-check", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="default bench/results/gpu-<time>")
    args = parser.parse_args(argv)

    import onnxruntime as ort

    from pipeline.hotpath.artefacts import ModelNotBuiltError, serving_model_path
    from pipeline.settings import load_settings

    settings = load_settings()
    lanes: dict[str, Path] = {}
    if CUDA_PROVIDER in ort.get_available_providers():  # else no session to try, no model needed
        try:
            lanes = {
                "fraud": serving_model_path(settings.model_dir, settings.fraud_model, "fraud"),
                "sentiment": serving_model_path(settings.model_dir, settings.sentiment_model, "sentiment"),
            }
        except (ModelNotBuiltError, ValueError) as exc:
            print(f"gpu-check: {exc}", file=sys.stderr)
            return 1
    probe = probe_cuda(graph_for(lanes["sentiment"], CUDA_PROVIDER) if lanes else None)
    if not probe.has_cuda:
        print(f"gpu-check: no CUDA device, nothing measured: {probe.why_not()}", file=sys.stderr)
        return EXIT_NO_CUDA

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for name in ("aiokafka", "pipeline.kafka.topics", "matplotlib"):
        logging.getLogger(name).setLevel(logging.WARNING)
    began = time.monotonic()
    out_dir = args.out or DEFAULT_RESULTS / f"gpu-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    out_dir.mkdir(parents=True, exist_ok=True)
    _say(f"device: {probe.device or 'unknown (no nvidia-smi)'}; onnxruntime {probe.onnxruntime}")
    _say(f"providers offered: {', '.join(probe.available)}; a CUDA session runs on {', '.join(probe.loaded)}")

    gpu = GpuOptions(device_id=settings.gpu_device, tensorrt=settings.tensorrt)  # as the worker opens it
    floors: list[tuple[str, str, GraphFloors]] = []
    for lane, path in lanes.items():
        texts, _ = lane_inputs(lane, max(GPU_BATCH_SIZES) * 2)
        for target, providers in (("gpu", [CUDA_PROVIDER, CPU_PROVIDER]), ("cpu", [CPU_PROVIDER])):
            found = batch_floors(
                path,
                providers,
                texts,
                threads=settings.inference_threads,
                budget_s=_FLOOR_BUDGET_S,
                gpu=gpu,
            )
            floors.append((lane, target, found))
            _say(floor_lines(lane, target, found))
    independence = []
    for lane, path in lanes.items():
        texts, features = lane_inputs(lane, _INDEPENDENCE_TEXTS, seed=23)
        checked = batch_independence(path, [CUDA_PROVIDER, CPU_PROVIDER], texts, features=features, gpu=gpu)
        independence.append((lane, checked))
        _say(independence_line(lane, checked))
    worker = worker_providers(lanes, settings.inference_threads)
    _say(f"the worker's loader picks: {', '.join(f'{k} {v}' for k, v in worker.items())}")

    remaining = BUDGET_S - (time.monotonic() - began) - 30.0  # the bench's own floors first
    fits = max(1, int(remaining // _RATE_COST_S))
    rates, skipped_rates = GPU_RATES[:fits], GPU_RATES[fits:]
    if skipped_rates:
        _say(f"bench rates {list(rates)}; {list(skipped_rates)} would not fit in the time budget")
    bench = run_gpu_bench(settings, out_dir, rates)
    elapsed = time.monotonic() - began
    text = write_gpu_report(
        out_dir, probe, floors, independence, worker, bench, elapsed, BUDGET_S, skipped_rates
    )
    _say(text)
    _say(f"written to {out_dir} in {elapsed:.0f} s")
    if elapsed > BUDGET_S:
        log.warning("gpu-check took %.0f s, over its %.0f s budget", elapsed, BUDGET_S)
    return 0


def worker_providers(lanes: dict[str, Path], threads: int) -> dict[str, str]:
    """The provider each lane's model gets from the worker's own loader (``OnnxClassifier``)."""
    from pipeline.hotpath.inference import OnnxClassifier

    return {lane: OnnxClassifier.load(path, threads=threads).provider for lane, path in lanes.items()}


def run_gpu_bench(settings: Settings, out_dir: Path, rates: Sequence[float]) -> BenchResults:
    """``streamguard bench --quick --systems streamguard`` at ``rates``: one worker, which takes
    the CUDA provider as every worker on this machine does; returns its ``BenchResults``."""
    from bench.bench_config import quick_config
    from bench.bench_progress import BenchProgress
    from bench.runner import run_bench

    config = quick_config().with_overrides(systems=("streamguard",), rates=tuple(rates))
    with BenchProgress(enabled=sys.stderr.isatty()) as progress:
        return asyncio.run(run_bench(config, settings, out_dir, progress))


def floor_lines(lane: str, target: str, found: GraphFloors) -> str:
    cells = ", ".join(
        f"B{f.batch_size} {f.p50_ms:.2f}/{f.p99_ms:.2f} ms {f.texts_per_s:.0f}/s" for f in found.floors
    )
    skipped = f" (skipped over budget: {list(found.skipped_sizes)})" if found.skipped_sizes else ""
    return f"floor {lane} {target} graph {found.graph} on {found.providers[0]}: {cells}{skipped}"


def independence_line(lane: str, checked: Independence) -> str:
    verdict = "ok" if checked.passed else f"OVER {checked.tolerance:g}"
    sizes = ", ".join(f"B{size} {diff:.2e}" for size, diff in checked.by_size.items())
    return (
        f"batch independence {lane} ({checked.graph} on {checked.providers[0]}, {checked.texts} texts): "
        f"max {checked.max_diff:.2e} {verdict} [{sizes}]"
    )


if __name__ == "__main__":
    raise SystemExit(main())
