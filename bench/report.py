"""Targets, the markdown table, the JSON file and the latency-vs-throughput plot of a benchmark."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from bench.results import BenchResults, RateResult
from bench.stats import LatencySummary

log = logging.getLogger(__name__)

# The targets (2-core CPU, embedded broker).
P99_AT_300_MS = 15.0
SLA_P99_MS = 50.0
FLOOR_SHARE = 0.8
NAIVE_FACTOR = 10.0
FIXED_WINDOW_FACTOR = 5.0
IDLE_CPU_PCT = 10.0


def _rows(results: BenchResults, system: str) -> list[RateResult]:
    return [row for row in results.rows if row.system == system]


def _at(results: BenchResults, system: str, rate: float) -> RateResult | None:
    return next((row for row in _rows(results, system) if row.run.rate == rate), None)


def _best_throughput(rows: list[RateResult], p99_max_ms: float) -> float | None:
    """Highest throughput of a run that kept up (nothing lost) with p99 within ``p99_max_ms``."""
    ok = [row.run.throughput for row in rows if row.run.missing == 0 and row.run.latency.p99 <= p99_max_ms]
    return max(ok, default=None)


def _target(description: str, value: float | None, met: bool | None, **detail: Any) -> dict[str, Any]:
    return {
        "target": description,
        "value": None if value is None else round(value, 2),
        "met": met,
        **detail,
    }


def _vs_baseline(results: BenchResults, baseline: str) -> tuple[float | None, dict[str, Any]]:
    """StreamGuard's (caches off) best throughput at the baseline's p99, over the baseline's best
    throughput: of runs where it kept up, or, if it never did, of its saturated runs (its capacity)."""
    rows = _rows(results, baseline)
    kept_up = [row for row in rows if row.run.missing == 0] or rows
    if not kept_up:
        return None, {}
    best = max(kept_up, key=lambda row: row.run.throughput)
    sg_same_p99 = _best_throughput(_rows(results, "streamguard"), best.run.latency.p99)
    ratio = sg_same_p99 / best.run.throughput if sg_same_p99 else None
    return ratio, {
        f"{baseline}_throughput": round(best.run.throughput, 1),
        f"{baseline}_p99": round(best.run.latency.p99, 1),
        "streamguard_throughput_at_that_p99": sg_same_p99,
        f"{baseline}_saturated": any(row.saturated for row in rows),
        "note": (
            "streamguard's best tested rate: a lower bound when no streamguard run saturated; "
            f"an upper bound when no {baseline} run saturated (its capacity was not reached)"
        ),
    }


def evaluate_targets(results: BenchResults) -> dict[str, dict[str, Any]]:
    """Each target with the measured value and met/missed (None: not measured in this run)."""
    targets: dict[str, dict[str, Any]] = {}
    sg_300 = _at(results, "streamguard", 300)
    p99_300 = sg_300.run.latency.p99 if sg_300 else None
    targets["p99_at_300"] = _target(
        f"StreamGuard p99 <= {P99_AT_300_MS:g} ms at 300 events/s",
        p99_300,
        None if p99_300 is None else p99_300 <= P99_AT_300_MS,
    )
    floor_best = max((floor.throughput for floor in results.model_floor), default=None)
    sg_best = _best_throughput(_rows(results, "streamguard"), SLA_P99_MS)
    share = sg_best / floor_best if sg_best is not None and floor_best else None
    targets["share_of_model_floor"] = _target(
        f"max rate with p99 <= {SLA_P99_MS:g} ms >= {FLOOR_SHARE:.0%} of the model floor's best throughput",
        share,
        None if share is None else share >= FLOOR_SHARE,
        streamguard_throughput=sg_best,
        model_floor_best=None if floor_best is None else round(floor_best, 1),
    )
    for key, baseline in (("vs_naive", "naive"), ("vs_naive_tuned", "naive_tuned")):
        ratio, detail = _vs_baseline(results, baseline)
        targets[key] = _target(
            f">= {NAIVE_FACTOR:g}x the {baseline} baseline's throughput at equal p99",
            ratio,
            None if ratio is None else ratio >= NAIVE_FACTOR,
            **detail,
        )
    fixed, sg_100 = _at(results, "fixed_window", 100), _at(results, "streamguard", 100)
    factor = fixed.run.latency.p99 / sg_100.run.latency.p99 if fixed and sg_100 else None
    targets["vs_fixed_window_at_100"] = _target(
        f">= {FIXED_WINDOW_FACTOR:g}x lower p99 than fixed-window at 100 events/s",
        factor,
        None if factor is None else factor >= FIXED_WINDOW_FACTOR,
    )
    idle = results.idle_cpu_pct.get("streamguard")
    targets["idle_cpu"] = _target(
        f"idle worker CPU <= {IDLE_CPU_PCT:g}% of a core",
        idle,
        None if idle is None else idle <= IDLE_CPU_PCT,
    )
    return targets


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _fmt_caches(sizes: Any) -> str:
    if not isinstance(sizes, Mapping) or not sizes:
        return "not recorded"
    return ", ".join(f"{name} {size}" for name, size in sizes.items())


def _fmt_leg(latency: LatencySummary | None) -> str:
    return "-" if latency is None else f"{latency.p50:.1f} / {latency.p99:.1f}"


def markdown(results: BenchResults, targets: Mapping[str, Mapping[str, Any]]) -> str:
    meta = results.meta
    lines = [
        f"# streamguard bench — {meta.get('started', '')}",
        "",
        f"Machine: {meta.get('cpus', '?')} CPUs, load average before/after "
        f"{meta.get('load_before', '?')} / {meta.get('load_after', '?')}; broker {meta.get('broker', '?')}; "
        f"SLA for the miss rate {meta.get('sla_ms', '?')} ms end to end; "
        f"{meta.get('duration_s', '?')} s per rate. Latency: scheduled send -> score received "
        "by an independent consumer (open loop). It is split at the worker's own timestamps into "
        "input hop (scheduled send -> consumed by the worker), in-worker (consumed -> handed to its "
        "producer; of it, consumed -> the model's result: to scored) and output hop (handed to the "
        "producer -> received); the legs' percentiles do not add up to the total's. In SLA: per cent "
        "of scores the worker published within the SLA of ingesting the event (its own stamps). "
        "CPU % is of one core.",
        "",
        f"Caches (texts kept per model; 0: off): {_fmt_caches(meta.get('model_cache_size'))}. "
        "Repeats: per cent of the run's texts / transaction model texts (merchant and description) "
        "that repeat an earlier one of the same run, which a worker with caches on may score "
        "without its model.",
        "",
        f"Broker floor (two hops, one event at a time): p50 {results.broker_floor.p50:.2f} / "
        f"p99 {results.broker_floor.p99:.2f} ms over {results.broker_floor.count} events.",
        "",
        "| system | rate | throughput | p50 | p95 | p99 | p99.9 | SLA miss % | input hop p50/p99 | "
        "in-worker p50/p99 | to scored p50/p99 | in SLA % | output hop p50/p99 | worker CPU % | "
        "broker CPU % | loadgen CPU % | "
        "peak RSS MB | repeats texts / desc. % | note |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in results.rows:
        run, lat = row.run, row.run.latency
        note = []
        if row.run.missing:
            note.append(f"{row.run.missing} unscored")
        if row.saturated:
            note.append("saturated")
        legs = " | ".join(
            [
                _fmt_leg(row.input_latency),
                _fmt_leg(row.worker_latency),
                _fmt_leg(row.scored_latency),
                _fmt(row.worker_within_sla_pct),
                _fmt_leg(row.output_latency),
            ]
        )
        if row.send_lag_p99_ms > 5:
            note.append(f"loadgen late p99 {row.send_lag_p99_ms:.0f} ms")
        lines.append(
            f"| {row.system} | {run.rate:g} | {run.throughput:.0f} | {lat.p50:.1f} | {lat.p95:.1f} | "
            f"{lat.p99:.1f} | {lat.p999:.1f} | {run.sla_miss_pct:.1f} | {legs} | "
            f"{_fmt(row.worker_cpu_pct)} | {_fmt(row.broker_cpu_pct)} | {_fmt(row.loadgen_cpu_pct)} | "
            f"{_fmt(row.peak_rss_mb, 0)} | {_fmt(row.text_repeat_pct, 0)} / "
            f"{_fmt(row.description_repeat_pct, 0)} | {', '.join(note)} |"
        )
    lines += ["", "Model floor (onnxruntime alone, event mix, served configuration):", ""]
    lines += ["| batch | p50 ms | p99 ms | events/s |", "|---:|---:|---:|---:|"]
    lines += [
        f"| {f.batch_size} | {f.p50:.2f} | {f.p99:.2f} | {f.throughput:.0f} |" for f in results.model_floor
    ]
    for system, reason in dict(meta.get("failed_systems") or {}).items():
        lines.append(f"\n**{system} failed** (no figures): {reason}")
    idle = ", ".join(f"{name} {_fmt(value)}%" for name, value in results.idle_cpu_pct.items())
    lines += [
        "",
        f"Idle worker CPU (% of a core): {idle}",
        "",
        "| target | measured | met |",
        "|---|---:|---|",
    ]
    for target in targets.values():
        met = {True: "yes", False: "no", None: "not measured"}[target["met"]]
        lines.append(f"| {target['target']} | {_fmt(target['value'], 2)} | {met} |")
    return "\n".join(lines) + "\n"


def plot(results: BenchResults, path: Path) -> bool:
    """p50 and p99 against achieved throughput, one colour per system; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed (pip install 'streamguard[bench]'): no plot")
        return False
    figure, axes = plt.subplots(figsize=(9, 5.5))
    systems = list(dict.fromkeys(row.system for row in results.rows))
    for index, system in enumerate(systems):
        rows = sorted(_rows(results, system), key=lambda row: row.run.rate)
        colour = f"C{index}"
        x = [row.run.throughput for row in rows]
        axes.plot(x, [row.run.latency.p99 for row in rows], "o-", color=colour, label=f"{system} p99")
        axes.plot(
            x, [row.run.latency.p50 for row in rows], "x--", color=colour, alpha=0.6, label=f"{system} p50"
        )
    axes.axhline(results.broker_floor.p99, color="grey", linestyle=":", label="broker floor p99")
    floor_best = max((floor.throughput for floor in results.model_floor), default=None)
    if floor_best:
        axes.axvline(floor_best, color="black", linestyle=":", label="model floor best throughput")
    axes.set_xscale("log")  # the naive baseline is two orders of magnitude left of the others
    axes.set_yscale("log")
    axes.set_xlabel("achieved throughput (events/s, log)")
    axes.set_ylabel("end-to-end latency (ms, log)")
    axes.set_title("StreamGuard vs baselines: latency against throughput")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def write_report(results: BenchResults, out_dir: Path, json_path: Path | None = None) -> str:
    """Writes ``results.md``, ``results.json`` and ``latency_vs_throughput.png`` to ``out_dir``
    (and the JSON to ``json_path`` too); returns the markdown."""
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = evaluate_targets(results)
    text = markdown(results, targets)
    (out_dir / "results.md").write_text(text)
    document = orjson.dumps(results.to_json(targets), option=orjson.OPT_INDENT_2)
    (out_dir / "results.json").write_bytes(document)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_bytes(document)
    plot(results, out_dir / "latency_vs_throughput.png")
    return text
