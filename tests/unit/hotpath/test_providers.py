"""pipeline.hotpath.providers: which graph goes to which provider, with which options."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.hotpath.artefacts import GPU_MODEL_FILE, MODEL_FILE
from pipeline.hotpath.inference import OnnxClassifier
from pipeline.hotpath.providers import (
    CPU_PROVIDER,
    CUDA_PROVIDER,
    TENSORRT_PROVIDER,
    GpuOptions,
    choose_graphs,
    provider_entries,
)
from tests.unit.modelbuild.smoke import REPO_MODELS

TRT, CUDA, CPU = TENSORRT_PROVIDER, CUDA_PROVIDER, CPU_PROVIDER


def test_the_int8_graph_only_ever_goes_to_the_cpu_provider(tmp_path: Path) -> None:
    int8, gpu = tmp_path / MODEL_FILE, tmp_path / GPU_MODEL_FILE
    assert choose_graphs(tmp_path, [CPU]) == ([(int8, [CPU])], None)
    graphs, reason = choose_graphs(tmp_path, [CUDA, CPU])
    assert graphs == [(int8, [CPU])] and reason == f"no {GPU_MODEL_FILE} beside the int8 graph"
    gpu.write_bytes(b"")
    assert choose_graphs(tmp_path, [CUDA, CPU]) == ([(gpu, [CUDA, CPU]), (int8, [CPU])], None)


def test_tensorrt_goes_first_only_when_asked_for_and_installed(tmp_path: Path) -> None:
    int8, gpu = tmp_path / MODEL_FILE, tmp_path / GPU_MODEL_FILE
    gpu.write_bytes(b"")
    installed = [TRT, CUDA, CPU]
    cuda_first = ([(gpu, [CUDA, CPU]), (int8, [CPU])], None)
    assert choose_graphs(tmp_path, installed) == cuda_first
    trt_first = ([(gpu, [TRT, CUDA, CPU]), (int8, [CPU])], None)
    assert choose_graphs(tmp_path, installed, tensorrt=True) == trt_first
    assert choose_graphs(tmp_path, [CUDA, CPU], tensorrt=True) == cuda_first


def test_gpu_providers_are_opened_with_explicit_options(tmp_path: Path) -> None:
    graph = tmp_path / GPU_MODEL_FILE
    options = GpuOptions(device_id=1, tensorrt=True)
    trt, cuda, cpu = provider_entries([TRT, CUDA, CPU], graph, options, max_rows=64, max_tokens=96)
    assert cpu == CPU
    assert cuda == (
        CUDA,
        {
            "device_id": "1",
            "arena_extend_strategy": "kSameAsRequested",
            "do_copy_in_default_stream": "1",
            "cudnn_conv_algo_search": "HEURISTIC",
        },
    )
    name, trt_options = trt
    assert name == TRT and trt_options["device_id"] == "1" and trt_options["trt_fp16_enable"] == "True"
    # One engine for every batch the lane can form: 1..max_rows rows of 1..max_tokens tokens.
    assert trt_options["trt_profile_min_shapes"] == "input_ids:1x1,attention_mask:1x1"
    assert trt_options["trt_profile_max_shapes"] == "input_ids:64x96,attention_mask:64x96"
    assert trt_options["trt_engine_cache_path"] == str(tmp_path / ".tensorrt")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Specified provider")
def test_gpu_providers_with_options_that_do_not_load_fall_back_to_int8_on_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The session a GPU machine opens, TensorRT and CUDA with their options, on onnxruntime's
    CPU build: it falls back to CPU, and the classifier serves the int8 graph instead."""
    import onnxruntime

    model = tmp_path / "sentiment"
    shutil.copytree(REPO_MODELS / "sentiment", model)
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [TRT, CUDA, CPU])
    with caplog.at_level("WARNING"):
        classifier = OnnxClassifier.load(model, threads=1, gpu=GpuOptions(tensorrt=True))
    assert classifier.provider == CPU
    assert classifier.gpu_fallback == "the CUDA provider did not load (onnxruntime fell back to CPU)"
    assert classifier.predict(["the flight was cancelled again"]).shape == (1, 3)
