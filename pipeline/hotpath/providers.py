"""Which graph runs on which ONNX Runtime execution provider, with which provider options.

The int8 graph (``model.onnx``) only ever goes to the CPU provider: its integer kernels are CPU
kernels. The GPU graph (``model.gpu.onnx``, fp16 or fp32) goes to CUDA, or to TensorRT first when
it is installed and asked for (``STREAMGUARD_TENSORRT``), each with its options set here rather
than left to onnxruntime's defaults. Whatever was asked for, the provider that really loaded decides:
a CUDA build lists CUDA even on a machine without CUDA libraries and then runs on CPU, so a session
not on the provider it was meant for is dropped and the next graph is tried, ending with int8 on CPU.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pipeline.hotpath.artefacts import GPU_MODEL_FILE, MODEL_FILE

log = logging.getLogger(__name__)

TENSORRT_PROVIDER = "TensorrtExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"
GPU_PROVIDERS = (TENSORRT_PROVIDER, CUDA_PROVIDER)

# Token inputs of every shipped graph, [batch, sequence]; TensorRT needs their shape range up front.
TOKEN_INPUTS = ("input_ids", "attention_mask")

# A provider entry as InferenceSession takes it: a name, or a name and its options.
ProviderEntry = str | tuple[str, dict[str, str]]


@dataclass(frozen=True)
class GpuOptions:
    """How a GPU session is opened (from ``STREAMGUARD_GPU_DEVICE``, ``STREAMGUARD_TENSORRT``)."""

    device_id: int = 0
    tensorrt: bool = False
    # Where TensorRT keeps the engines it built (minutes on first start); None: beside the graph.
    engine_cache: Path | None = None


def choose_graphs(
    path: Path, available: Sequence[str], *, tensorrt: bool = False
) -> tuple[list[tuple[Path, list[str]]], str | None]:
    """The (graph, providers) to try in order, and why the GPU is not tried (None: it is, or there
    is no GPU provider). The GPU graph goes to TensorRT (only if ``tensorrt``) or CUDA; the int8
    graph only ever to the CPU provider."""
    cpu = (path / MODEL_FILE, [CPU_PROVIDER])
    gpu = [name for name in GPU_PROVIDERS if name in available and (tensorrt or name != TENSORRT_PROVIDER)]
    if not gpu:
        return [cpu], None
    if not (path / GPU_MODEL_FILE).is_file():
        return [cpu], f"no {GPU_MODEL_FILE} beside the int8 graph"
    return [(path / GPU_MODEL_FILE, [*gpu, CPU_PROVIDER]), cpu], None


def provider_entries(
    providers: Sequence[str], graph: Path, options: GpuOptions, *, max_rows: int, max_tokens: int
) -> list[ProviderEntry]:
    """``providers`` with the options each GPU provider is opened with. ``max_rows`` and
    ``max_tokens`` bound the input shapes a run can have (the bound buffers' size): TensorRT builds
    one engine for that range instead of one per new shape (a batch of another size or length)."""
    entries: list[ProviderEntry] = []
    for name in providers:
        if name == CUDA_PROVIDER:
            entries.append((name, cuda_options(options)))
        elif name == TENSORRT_PROVIDER:
            entries.append((name, tensorrt_options(graph, options, max_rows=max_rows, max_tokens=max_tokens)))
        else:
            entries.append(name)
    return entries


def cuda_options(options: GpuOptions) -> dict[str, str]:
    return {
        "device_id": str(options.device_id),
        # The default arena rounds every growth up to the next power of two; batches of changing
        # size and length would soon reserve about twice the memory they use.
        "arena_extend_strategy": "kSameAsRequested",
        # Copies on the compute stream: a bound input is on the device before the run reads it.
        "do_copy_in_default_stream": "1",
        # EXHAUSTIVE benchmarks every new shape once; each batch size and length is a new shape.
        "cudnn_conv_algo_search": "HEURISTIC",
    }


def tensorrt_options(graph: Path, options: GpuOptions, *, max_rows: int, max_tokens: int) -> dict[str, str]:
    rows, tokens = max(1, max_rows), max(1, max_tokens)

    def shapes(batch: int, sequence: int) -> str:
        return ",".join(f"{name}:{batch}x{sequence}" for name in TOKEN_INPUTS)

    cache = options.engine_cache or graph.parent / ".tensorrt"
    return {
        "device_id": str(options.device_id),
        "trt_fp16_enable": "True",
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": str(cache),
        "trt_profile_min_shapes": shapes(1, 1),
        "trt_profile_opt_shapes": shapes(min(rows, 16), min(tokens, 32)),
        "trt_profile_max_shapes": shapes(rows, tokens),
    }


def open_session(
    ort: ModuleType, path: Path, session_options: Any, gpu: GpuOptions, *, max_rows: int, max_tokens: int
) -> tuple[Any, str | None]:
    """The first graph whose session really runs on the provider it was meant for, and the reason
    a GPU provider that is present was not used (None when it was, or when there is none)."""
    available = ort.get_available_providers()
    if gpu.tensorrt and TENSORRT_PROVIDER not in available:
        log.warning(
            "STREAMGUARD_TENSORRT is set but onnxruntime has no TensorRT provider: "
            "the GPU graph goes to CUDA where CUDA loads"
        )
    graphs, reason = choose_graphs(path, available, tensorrt=gpu.tensorrt)
    for graph, providers in graphs:
        if providers[0] == CPU_PROVIDER:
            return ort.InferenceSession(str(graph), session_options, providers=providers), reason
        try:
            session = ort.InferenceSession(
                str(graph),
                session_options,
                providers=provider_entries(providers, graph, gpu, max_rows=max_rows, max_tokens=max_tokens),
            )
        except Exception as exc:  # onnxruntime's own exception types
            reason = f"the GPU session failed: {exc}"
            continue
        loaded = session.get_providers()[0]
        if loaded in GPU_PROVIDERS:
            if providers[0] == TENSORRT_PROVIDER and loaded != TENSORRT_PROVIDER:
                log.warning("%s: the TensorRT provider did not load: running on %s", graph, loaded)
            return session, None
        reason = "the CUDA provider did not load (onnxruntime fell back to CPU)"
    raise AssertionError("choose_graphs always ends with the CPU graph")
