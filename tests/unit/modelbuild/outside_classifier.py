"""A text classifier that is not one of ours, written the way Hugging Face exporters write one.

A small BERT for sequence classification (2 layers, random weights, seeded) over the vocabulary of
the all-MiniLM tokenizer, exported with ``torch.onnx`` to ``model.onnx`` (inputs ``input_ids``,
``attention_mask``, ``token_type_ids``; output ``logits``), with ``config.json`` (``id2label``) and
``tokenizer.json`` beside it. Its labels are not ours: ``calm``, ``urgent``, ``angry``.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

LABELS = ("calm", "urgent", "angry")


def write_outside_classifier(target: Path, *, seed: int = 5) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from pipeline.modelbuild.encoder import encoder_files

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=512,
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    model = BertForSequenceClassification(config).eval()
    target.mkdir(parents=True, exist_ok=True)
    config.to_json_file(str(target / "config.json"))
    shutil.copyfile(encoder_files() / "tokenizer.json", target / "tokenizer.json")
    with warnings.catch_warnings():  # the tracer's notes on transformers' masking code
        warnings.simplefilter("ignore")
        _export(model, target)
    return target


def _export(model: object, target: Path) -> None:
    import torch

    ids = torch.ones((2, 8), dtype=torch.int64)
    axes = {0: "batch", 1: "sequence"}
    torch.onnx.export(
        model,
        (ids, torch.ones_like(ids), torch.zeros_like(ids)),
        str(target / "model.onnx"),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["logits"],
        dynamic_axes={
            "input_ids": axes,
            "attention_mask": axes,
            "token_type_ids": axes,
            "logits": {0: "batch"},
        },
        opset_version=17,
        dynamo=False,
    )
