"""Appends a trained head (and softmax) to the int8 encoder graph: the served ``model.onnx``.

The head stays fp32: it is tiny, and keeping it exact means the served model computes what the head
was trained and evaluated on (the int8 encoder's embeddings). Standardisation is folded into the first
layer's weights, so serving passes raw features.

A model with features also gets its head as a graph of its own (``head.onnx``) and exposes the
embedding as a second output: the text embedding depends on the text alone, the features change
with every event, and transaction descriptions repeat (one merchant, one descriptor), so serving
keeps embeddings by text and runs only the head for a description it has seen.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.utils import Extractor

from pipeline.hotpath.artefacts import EMBEDDING_OUTPUT, HEAD_FILE
from pipeline.modelbuild.heads import HeadWeights

FEATURES_INPUT = "features"
PROBABILITIES_OUTPUT = "probabilities"


def fold_standardisation(weights: HeadWeights) -> list[tuple[np.ndarray, np.ndarray]]:
    """((x - mean) / scale) @ W + b  ==  x @ (W / scale) + (b - (mean / scale) @ W)."""
    (w, b), *rest = weights.layers
    folded_w = w / weights.scale[:, None]
    folded_b = b - (weights.mean / weights.scale) @ w
    return [(folded_w.astype(np.float32), folded_b.astype(np.float32)), *rest]


def compose_model(
    encoder_path: Path,
    weights: HeadWeights,
    target: Path,
    *,
    n_features: int = 0,
    properties: dict[str, str] | None = None,
) -> Path:
    """encoder(input_ids, attention_mask) [+ features] -> head -> softmax -> ``probabilities`` [B, C]."""
    model = onnx.load(str(encoder_path))
    graph = model.graph
    head_input = EMBEDDING_OUTPUT
    if n_features:
        graph.input.append(
            helper.make_tensor_value_info(FEATURES_INPUT, TensorProto.FLOAT, ["batch", n_features])
        )
        graph.node.append(
            helper.make_node(
                "Concat", [EMBEDDING_OUTPUT, FEATURES_INPUT], ["head/input"], axis=1, name="head/concat"
            )
        )
        head_input = "head/input"

    layers = fold_standardisation(weights)
    current = head_input
    for i, (w, b) in enumerate(layers):
        graph.initializer.extend(
            [numpy_helper.from_array(w, f"head/w{i}"), numpy_helper.from_array(b, f"head/b{i}")]
        )
        graph.node.append(
            helper.make_node("MatMul", [current, f"head/w{i}"], [f"head/mm{i}"], name=f"head/matmul{i}")
        )
        graph.node.append(
            helper.make_node("Add", [f"head/mm{i}", f"head/b{i}"], [f"head/z{i}"], name=f"head/add{i}")
        )
        current = f"head/z{i}"
        if i < len(layers) - 1:
            graph.node.append(helper.make_node("Relu", [current], [f"head/h{i}"], name=f"head/relu{i}"))
            current = f"head/h{i}"
    n_classes = layers[-1][1].shape[0]
    graph.node.append(
        helper.make_node("Softmax", [current], [PROBABILITIES_OUTPUT], axis=-1, name="head/softmax")
    )

    del graph.output[:]
    graph.output.append(
        helper.make_tensor_value_info(PROBABILITIES_OUTPUT, TensorProto.FLOAT, ["batch", n_classes])
    )
    if n_features:
        _expose_embedding(graph)
    if properties:
        helper.set_model_props(model, properties)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))
    if n_features:
        _write_head(model, target.parent / HEAD_FILE)
    return target


def split_head(model_path: Path) -> Path:
    """Adds ``embedding`` to the outputs of the composed feature model at ``model_path`` (if missing)
    and writes its head, ``embedding`` + ``features`` -> ``probabilities``, to ``head.onnx`` beside it.

    Idempotent: upgrades a model composed before heads were split (``compose_model`` now does both
    itself). Returns the head's path."""
    model = onnx.load(str(model_path))
    if FEATURES_INPUT not in {i.name for i in model.graph.input}:
        raise ValueError(f"{model_path} has no {FEATURES_INPUT!r} input: nothing to split")
    if _expose_embedding(model.graph):
        onnx.checker.check_model(model)
        onnx.save(model, str(model_path))
    return _write_head(model, model_path.parent / HEAD_FILE)


def _expose_embedding(graph: onnx.GraphProto) -> bool:
    """Makes the encoder's embedding a graph output too (after ``probabilities``); False if it was."""
    if EMBEDDING_OUTPUT in {o.name for o in graph.output}:
        return False
    graph.output.append(
        helper.make_tensor_value_info(EMBEDDING_OUTPUT, TensorProto.FLOAT, ["batch", "embedding_dim"])
    )
    return True


def _write_head(model: onnx.ModelProto, head_path: Path) -> Path:
    head = Extractor(model).extract_model([EMBEDDING_OUTPUT, FEATURES_INPUT], [PROBABILITIES_OUTPUT])
    onnx.save(head, str(head_path))
    return head_path
