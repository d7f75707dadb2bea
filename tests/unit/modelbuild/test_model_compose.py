"""Head composition on a tiny stand-in encoder graph (no real encoder needed)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from pipeline.modelbuild.compose import compose_model, fold_standardisation, split_head
from pipeline.modelbuild.heads import HeadWeights, head_probabilities

VOCAB, DIM = 20, 4
TABLE = np.random.default_rng(0).normal(size=(VOCAB, DIM)).astype(np.float32)


def toy_encoder(path: Path) -> Path:
    """embedding = masked mean of a lookup table, like the real encoder's pooling."""
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["hidden"]),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "axis2"], ["mask3"]),
        helper.make_node("Mul", ["hidden", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask3", "axis1"], ["count"], keepdims=0),
        helper.make_node("Div", ["summed", "count"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes,
        "toy",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", DIM])],
        [
            numpy_helper.from_array(TABLE, "table"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        ],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def random_head(n_inputs: int, hidden: int, n_classes: int) -> HeadWeights:
    rng = np.random.default_rng(1)
    sizes = [n_inputs, *([hidden] if hidden else []), n_classes]
    layers = [
        (rng.normal(size=(a, b)).astype(np.float32), rng.normal(size=b).astype(np.float32))
        for a, b in itertools.pairwise(sizes)
    ]
    mean = rng.normal(size=n_inputs).astype(np.float32)
    return HeadWeights(mean, rng.uniform(0.5, 2, n_inputs).astype(np.float32), layers)


def run(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["probabilities"], feeds)[0])


def test_folding_keeps_the_function() -> None:
    head = random_head(6, 0, 2)
    x = np.random.default_rng(2).normal(size=(5, 6)).astype(np.float32)
    (w, b), *_ = fold_standardisation(head)
    folded = HeadWeights(np.zeros(6, np.float32), np.ones(6, np.float32), [(w, b)])
    np.testing.assert_allclose(head_probabilities(folded, x), head_probabilities(head, x), atol=1e-5)


def test_composed_graph_matches_head_with_features(tmp_path: Path) -> None:
    encoder = toy_encoder(tmp_path / "enc.onnx")
    head = random_head(DIM + 3, 8, 2)
    target = tmp_path / "model.onnx"
    composed = compose_model(encoder, head, target, n_features=3, properties={"kind": "fraud"})
    ids = np.array([[1, 5, 7, 0], [3, 4, 0, 0]], dtype=np.int64)
    mask = (ids > 0).astype(np.int64)
    features = np.array([[1, 0, 2], [0, 1, -1]], dtype=np.float32)
    embedding = np.stack([TABLE[row[m > 0]].mean(axis=0) for row, m in zip(ids, mask, strict=True)])
    expected = head_probabilities(head, np.concatenate([embedding, features], axis=1))
    got = run(composed, {"input_ids": ids, "attention_mask": mask, "features": features})
    np.testing.assert_allclose(got, expected, atol=1e-5)
    props = {p.key: p.value for p in onnx.load(str(composed)).metadata_props}
    assert props == {"kind": "fraud"}


def test_feature_model_ships_its_head_apart(tmp_path: Path) -> None:
    encoder = toy_encoder(tmp_path / "enc.onnx")
    head = random_head(DIM + 3, 8, 2)
    composed = compose_model(encoder, head, tmp_path / "model.onnx", n_features=3)
    ids = np.array([[1, 5, 7, 0], [3, 4, 0, 0]], dtype=np.int64)
    features = np.array([[1, 0, 2], [0, 1, -1]], dtype=np.float32)
    session = ort.InferenceSession(str(composed), providers=["CPUExecutionProvider"])
    probabilities, embedding = session.run(
        ["probabilities", "embedding"],
        {"input_ids": ids, "attention_mask": (ids > 0).astype(np.int64), "features": features},
    )
    head_path = tmp_path / "head.onnx"
    assert [i.name for i in onnx.load(str(head_path)).graph.input] == ["embedding", "features"]
    from_head = run(head_path, {"embedding": embedding, "features": features})
    np.testing.assert_array_equal(from_head, probabilities)
    # Upgrading an already split model changes nothing.
    before = composed.read_bytes(), head_path.read_bytes()
    assert split_head(composed) == head_path
    assert (composed.read_bytes(), head_path.read_bytes()) == before


def test_model_without_features_has_no_head_to_split(tmp_path: Path) -> None:
    composed = compose_model(
        toy_encoder(tmp_path / "enc.onnx"), random_head(DIM, 0, 3), tmp_path / "model.onnx"
    )
    assert not (tmp_path / "head.onnx").exists()
    assert [o.name for o in onnx.load(str(composed)).graph.output] == ["probabilities"]
    with pytest.raises(ValueError, match="features"):
        split_head(composed)


def test_composed_graph_without_features(tmp_path: Path) -> None:
    encoder = toy_encoder(tmp_path / "enc.onnx")
    head = random_head(DIM, 0, 3)
    composed = compose_model(encoder, head, tmp_path / "model.onnx")
    ids = np.array([[2, 3]], dtype=np.int64)
    got = run(composed, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
    expected = head_probabilities(head, TABLE[[2, 3]].mean(axis=0, keepdims=True))
    np.testing.assert_allclose(got, expected, atol=1e-5)
