"""``make gpu-check`` without a GPU: its floor and batch-independence code on the CPU provider over
the shipped models, the graph it picks per provider, its report, and its one-line exit 2."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest

from bench.floors import ModelFloor
from bench.gpu_check import EXIT_NO_CUDA, CudaProbe, lane_inputs, probe_cuda
from bench.gpu_floors import (
    INDEPENDENCE_TOLERANCE,
    GraphRunner,
    batch_floors,
    batch_independence,
    graph_for,
    mixed_length_order,
)
from bench.gpu_report import write_gpu_report
from bench.results import BenchResults, RateResult
from bench.stats import LatencySummary, summarize_run
from pipeline.hotpath.artefacts import GPU_MODEL_FILE, MODEL_FILE, TOKENIZER_FILE, read_meta
from pipeline.hotpath.providers import CPU_PROVIDER, CUDA_PROVIDER

REPO = Path(__file__).resolve().parents[3]
MODELS = REPO / "models"
LANES = ("fraud", "sentiment")
CPU_ONLY = [CPU_PROVIDER]


@pytest.mark.parametrize("lane", LANES)
def test_floors_per_batch_size_on_the_cpu_provider(lane: str) -> None:
    texts, _ = lane_inputs(lane, 6)
    found = batch_floors(MODELS / lane, CPU_ONLY, texts, sizes=(1, 2, 3, 4), batches_per_size=3)
    assert (found.kind, found.graph, found.providers) == (lane, MODEL_FILE, (CPU_PROVIDER,))
    assert [f.batch_size for f in found.floors] == [1, 2, 3, 4] and found.skipped_sizes == ()
    for floor in found.floors:
        assert 0 < floor.p50_ms <= floor.p99_ms
        # Back-to-back throughput comes from the mean batch time: no slower than the slowest batch.
        assert floor.texts_per_s >= floor.batch_size * 1000.0 / floor.p99_ms * (1 - 1e-9)
        assert floor.tokens >= 3  # [CLS], a piece at least, [SEP]


def test_floors_stop_at_the_time_budget_and_say_which_sizes_they_skipped() -> None:
    texts, _ = lane_inputs("sentiment", 4)
    found = batch_floors(
        MODELS / "sentiment", CPU_ONLY, texts, sizes=(1, 2, 4), batches_per_size=2, budget_s=0
    )
    assert [f.batch_size for f in found.floors] == [1]
    assert found.skipped_sizes == (2, 4)


@pytest.mark.parametrize("lane", LANES)
def test_batch_independence_on_the_cpu_provider(lane: str) -> None:
    texts, features = lane_inputs(lane, 7, seed=5)
    checked = batch_independence(MODELS / lane, CPU_ONLY, texts, features=features, sizes=(1, 2, 3, 4))
    assert checked.providers == (CPU_PROVIDER,) and checked.texts == 7
    assert checked.by_size[1] == 0.0  # a batch of one is the text alone
    assert checked.max_diff == max(checked.by_size.values())
    assert checked.passed == (checked.max_diff <= INDEPENDENCE_TOLERANCE)
    # The worst case, scored again by hand, shows the reported difference.
    runner = GraphRunner(MODELS / lane, CPU_ONLY)
    worst = texts.index(checked.worst_text)
    (chunk,) = [c for c in checked.batches[checked.worst_size] if worst in c]
    rows = None if features is None else features[chunk]
    together = runner.score([texts[i] for i in chunk], rows)[chunk.index(worst)]
    alone = runner.score([texts[worst]], None if features is None else features[[worst]])[0]
    assert float(np.abs(together - alone).max()) == pytest.approx(checked.max_diff, abs=1e-7)


def _toy_model(tmp_path: Path, *, depends_on_batch: bool) -> Path:
    """A two-class graph over the token count: p = softmax(n, -n), or with n minus the batch's mean
    count (so a text's probabilities move with its neighbours)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["mask", "axis1"], ["count"], keepdims=1),
    ]
    score = "count"
    if depends_on_batch:
        nodes += [
            helper.make_node("ReduceMean", ["count"], ["mean"], axes=[0], keepdims=1),
            helper.make_node("Sub", ["count", "mean"], ["centred"]),
        ]
        score = "centred"
    nodes += [
        helper.make_node("Mul", [score, "scale"], ["scaled"]),
        helper.make_node("Neg", ["scaled"], ["negated"]),
        helper.make_node("Concat", ["scaled", "negated"], ["logits"], axis=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "toy",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["B", "L"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["B", "L"]),
        ],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["B", 2])],
        initializer=[
            helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
            helper.make_tensor("scale", TensorProto.FLOAT, [1], [0.1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / ("dependent" if depends_on_batch else "independent")
    path.mkdir()
    onnx.save(model, str(path / MODEL_FILE))
    shutil.copy(MODELS / "sentiment" / TOKENIZER_FILE, path / TOKENIZER_FILE)
    (path / "meta.json").write_text(json.dumps({"kind": "sentiment", "labels": ["a", "b"]}))
    return path


def test_batch_independence_tells_a_batch_dependent_graph_from_an_independent_one(tmp_path: Path) -> None:
    texts = ["short", "a rather longer text with many more words in it", "mid length text", "x y"]
    independent = batch_independence(_toy_model(tmp_path, depends_on_batch=False), CPU_ONLY, texts)
    assert independent.max_diff < 1e-6 and independent.passed  # padding is masked out
    dependent = batch_independence(_toy_model(tmp_path, depends_on_batch=True), CPU_ONLY, texts)
    assert dependent.by_size[2] > 0.1 and not dependent.passed
    assert dependent.to_json()["passed"] is False


def test_mixed_length_order_alternates_shortest_and_longest() -> None:
    texts = ["ccc", "a", "eeeee", "bb", "dddd", "ffffff", "g"]
    order = mixed_length_order(texts)
    assert sorted(order) == list(range(len(texts)))
    assert [texts[i] for i in order] == ["a", "ffffff", "g", "eeeee", "bb", "dddd", "ccc"]


def test_the_gpu_graph_is_model_gpu_onnx_when_built_else_model_onnx_with_a_note(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="bench.gpu_floors"):
        assert graph_for(tmp_path, CUDA_PROVIDER) == tmp_path / MODEL_FILE
    assert GPU_MODEL_FILE in caplog.text and "CUDA provider runs model.onnx" in caplog.text
    (tmp_path / GPU_MODEL_FILE).write_bytes(b"")
    assert graph_for(tmp_path, CUDA_PROVIDER) == tmp_path / GPU_MODEL_FILE
    assert graph_for(tmp_path, CPU_PROVIDER) == tmp_path / MODEL_FILE


def test_lane_inputs_are_what_each_model_reads() -> None:
    texts, features = lane_inputs("fraud", 5)
    assert len(texts) == 5 and all(texts) and any(" | " in text for text in texts)  # merchant | description
    assert features is not None
    assert features.shape == (5, len(read_meta(MODELS / "fraud")["feature_names"]))
    texts, features = lane_inputs("sentiment", 5)
    assert len(texts) == 5 and features is None


def test_the_probe_tells_a_cuda_session_from_a_listed_but_unloadable_provider() -> None:
    real = CudaProbe("1.2", (CUDA_PROVIDER, CPU_PROVIDER), (CUDA_PROVIDER, CPU_PROVIDER), "A100, 80 GB")
    assert real.has_cuda
    fell_back = CudaProbe("1.2", (CUDA_PROVIDER, CPU_PROVIDER), (CPU_PROVIDER,), None)
    assert not fell_back.has_cuda
    assert f"ran on {CPU_PROVIDER}" in fell_back.why_not() and "no GPU" in fell_back.why_not()
    cpu_build = CudaProbe("1.2", (CPU_PROVIDER,), (), None)
    assert not cpu_build.has_cuda and "`gpu` extra" in cpu_build.why_not()


def _cuda_here() -> bool:
    return probe_cuda(MODELS / "sentiment" / MODEL_FILE).has_cuda


def test_without_a_cuda_device_the_command_prints_one_line_and_exits_2() -> None:
    if _cuda_here():
        pytest.skip("this machine has a CUDA device: make gpu-check would measure it")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "bench.gpu_check"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == EXIT_NO_CUDA
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu-check: no CUDA device"), done.stderr


def test_make_gpu_check_runs_the_module() -> None:
    makefile = (REPO / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.MULTILINE)
    assert phony and "gpu-check" in phony.group(1).split()
    recipe = re.search(r"^gpu-check:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe and "-m bench.gpu_check" in recipe.group(1)


def _bench_results() -> BenchResults:
    run = summarize_run(
        rate=100.0,
        latencies_ms=[8.0] * 200,
        censored_ms=[],
        first_receive_s=0.0,
        last_receive_s=1.99,
        sla_ms=20,
    )
    row = RateResult("streamguard", run, 40.0, 30.0, 20.0, 500.0, 0.5, saturated=False)
    return BenchResults(
        (row,), LatencySummary.of([3.0, 4.0]), (ModelFloor(1, 1.0, 2.0, 900.0),), {"streamguard": 3.0}, {}
    )


def test_the_report_writes_json_markdown_and_the_plot(tmp_path: Path) -> None:
    texts, features = lane_inputs("fraud", 4)
    floors = batch_floors(MODELS / "fraud", CPU_ONLY, texts, sizes=(1, 2), batches_per_size=2)
    checked = batch_independence(MODELS / "fraud", CPU_ONLY, texts, features=features, sizes=(2,))
    probe = CudaProbe("1.2", (CUDA_PROVIDER, CPU_PROVIDER), (CUDA_PROVIDER, CPU_PROVIDER), "T4, 16 GB")
    text = write_gpu_report(
        tmp_path,
        probe,
        [("fraud", "cpu", floors)],
        [("fraud", checked)],
        {"fraud": CPU_PROVIDER},
        _bench_results(),
        elapsed_s=12.0,
        budget_s=480.0,
        skipped_rates=(3200.0,),
    )
    assert (tmp_path / "gpu_check.md").read_text() == text
    assert "| fraud | cpu | model.onnx | CPUExecutionProvider | 2 |" in text
    assert "| streamguard | 100 |" in text and "T4, 16 GB" in text
    document = orjson.loads((tmp_path / "gpu_check.json").read_bytes())
    assert document["device"] == "T4, 16 GB"
    assert [f["batch_size"] for f in document["floors"][0]["floors"]] == [1, 2]
    assert document["independence"][0]["max_diff"] == checked.max_diff
    assert document["bench"]["results"][0]["system"] == "streamguard"
    assert document["bench_rates_skipped"] == [3200.0] and "Rates [3200.0] skipped" in text
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "latency_vs_throughput.png").stat().st_size > 0
