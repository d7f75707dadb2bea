from __future__ import annotations

import importlib.util
from pathlib import Path

import orjson
import pytest

from bench.floors import ModelFloor
from bench.report import evaluate_targets, write_report
from bench.results import CONTRACT_ROW_KEYS, BenchResults, RateResult
from bench.stats import LatencySummary, summarize_run
from bench.systems import SYSTEMS


def _row(
    system: str, rate: float, latency_ms: float, *, lost: int = 0, repeats: tuple[float, float] = (10.0, 40.0)
) -> RateResult:
    count = int(rate * 2)
    run = summarize_run(
        rate=rate,
        latencies_ms=[latency_ms] * (count - lost),
        censored_ms=[latency_ms * 10] * lost,
        first_receive_s=0.0,
        last_receive_s=(count - lost - 1) / rate,
        sla_ms=20,
    )
    texts_pct, descriptions_pct = repeats
    if system.startswith("naive"):  # its scores carry no timestamps
        return RateResult(
            system,
            run,
            50.0,
            30.0,
            20.0,
            400.0,
            0.5,
            saturated=lost > 0,
            text_repeat_pct=texts_pct,
            description_repeat_pct=descriptions_pct,
        )
    # Legs of the latency: a third of it each, the input hop's tail twice as long.
    leg = LatencySummary.of([latency_ms / 3] * 99 + [latency_ms * 2 / 3])
    return RateResult(
        system,
        run,
        50.0,
        30.0,
        20.0,
        400.0,
        0.5,
        saturated=lost > 0,
        input_latency=LatencySummary.of([latency_ms / 3] * 98 + [latency_ms * 2 / 3] * 2),
        worker_latency=leg,
        output_latency=LatencySummary.of([latency_ms / 3]),
        scored_latency=LatencySummary.of([latency_ms / 6]),
        worker_within_sla_pct=90.0,
        text_repeat_pct=texts_pct,
        description_repeat_pct=descriptions_pct,
    )


def _results() -> BenchResults:
    rows = (
        _row("streamguard", 100, 6.0),
        _row("streamguard", 300, 9.0),
        _row("streamguard", 1000, 40.0),
        _row("streamguard_cached", 300, 7.0, repeats=(12.4, 61.0)),
        _row("per_event_onnx", 100, 8.0),
        _row("fixed_window", 100, 60.0),
        _row("naive", 10, 800.0),
        _row("naive", 50, 900.0, lost=5),
        _row("naive_tuned", 10, 30.0),
        _row("naive_tuned", 50, 45.0),
    )
    floor = (ModelFloor(1, 2.0, 3.0, 400.0), ModelFloor(32, 30.0, 40.0, 1100.0))
    return BenchResults(
        rows,
        LatencySummary.of([3.0, 4.0, 5.0]),
        floor,
        {"streamguard": 4.0, "naive": 1.0},
        {"started": "now", "cpus": 2, "model_cache_size": {"model floor": 0, "streamguard": 0}},
    )


def test_json_keeps_the_contract(tmp_path: Path) -> None:
    json_path = tmp_path / "elsewhere" / "bench.json"
    write_report(_results(), tmp_path / "out", json_path)
    document = orjson.loads(json_path.read_bytes())
    assert document == orjson.loads((tmp_path / "out" / "results.json").read_bytes())
    assert {row["system"] for row in document["results"]} == set(SYSTEMS)
    for row in document["results"]:
        assert set(CONTRACT_ROW_KEYS) <= set(row)
        assert all(isinstance(row[key], int | float) for key in CONTRACT_ROW_KEYS if key != "system")
    assert document["broker_floor_p99"] == 5.0
    rows = {(row["system"], row["rate"]): row for row in document["results"]}
    legs = {key: value for key, value in rows[("streamguard", 300)].items() if key[-4:] in ("_p50", "_p99")}
    assert legs == {
        "input_p50": 3.0,
        "input_p99": 6.0,
        "worker_p50": 3.0,
        "worker_p99": 3.0,
        "output_p50": 3.0,
        "output_p99": 3.0,
        "to_scored_p50": 1.5,
        "to_scored_p99": 1.5,
    }
    assert rows[("streamguard", 300)]["worker_within_sla_pct"] == 90.0
    assert {key: value for key, value in rows[("naive", 10)].items() if key[-4:] == "_p99"} == {
        "input_p99": None,
        "worker_p99": None,
        "output_p99": None,
        "to_scored_p99": None,
    }
    assert rows[("streamguard_cached", 300)]["text_repeat_pct"] == 12.4
    assert rows[("naive", 10)]["description_repeat_pct"] == 40.0
    assert document["meta"]["model_cache_size"] == {"model floor": 0, "streamguard": 0}
    assert document["model_floor"] == {
        "1": {"p50": 2.0, "p99": 3.0, "throughput": 400.0},
        "32": {"p50": 30.0, "p99": 40.0, "throughput": 1100.0},
    }


def test_markdown_and_plot_are_written(tmp_path: Path) -> None:
    text = write_report(_results(), tmp_path)
    assert (tmp_path / "results.md").read_text() == text
    assert "| streamguard | 300 |" in text
    assert "| naive | 50 |" in text and "5 unscored" in text
    # streamguard at 300/s: input hop 3.0 / 6.0, in-worker 3.0 / 3.0 (1.5 / 1.5 of it to the model's
    # result, 90% within the SLA), output hop 3.0 / 3.0.
    assert "| 3.0 / 6.0 | 3.0 / 3.0 | 1.5 / 1.5 | 90.0 | 3.0 / 3.0 |" in text
    assert "| - | - | - | - | - |" in text  # naive
    assert "| 12 / 61 |" in text  # streamguard_cached's repeats
    assert "Caches (texts kept per model; 0: off): model floor 0, streamguard 0." in text
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "latency_vs_throughput.png").read_bytes()[:4] == b"\x89PNG"


def test_targets_are_computed_from_the_rows() -> None:
    targets = evaluate_targets(_results())
    assert targets["p99_at_300"]["value"] == 9.0 and targets["p99_at_300"]["met"] is True
    # Best streamguard run with p99 <= 50 ms: 1000 events/s, against a floor of 1100.
    assert targets["share_of_model_floor"]["value"] == pytest.approx(1000 / 1100, abs=0.01)
    # Naive kept up at 10/s with p99 800 ms; streamguard did 1000/s under that p99.
    assert targets["vs_naive"]["value"] == pytest.approx(100.0, rel=0.01)
    # Tuned naive kept up at 50/s with p99 45 ms: streamguard (caches off) did 1000/s at p99 40 ms.
    assert targets["vs_naive_tuned"]["value"] == pytest.approx(20.0, rel=0.02)
    assert targets["vs_naive_tuned"]["naive_tuned_throughput"] == pytest.approx(50.0, rel=0.02)
    # It never saturated: its capacity, and so the ratio, is not known from these rows.
    assert (targets["vs_naive"]["naive_saturated"], targets["vs_naive_tuned"]["naive_tuned_saturated"]) == (
        True,
        False,
    )
    assert targets["vs_fixed_window_at_100"]["value"] == pytest.approx(10.0)
    assert targets["idle_cpu"]["met"] is True


def test_targets_not_measured_stay_unknown() -> None:
    results = BenchResults((), LatencySummary.of([1.0]), (), {})
    assert all(target["met"] is None for target in evaluate_targets(results).values())


def test_naive_that_never_kept_up_is_compared_at_its_capacity() -> None:
    rows = (_row("streamguard", 100, 6.0), _row("naive", 10, 900.0, lost=4))
    results = BenchResults(rows, LatencySummary.of([1.0]), (), {})
    target = evaluate_targets(results)["vs_naive"]
    assert target["value"] is not None and target["value"] > 1
    assert target["naive_throughput"] > 0
