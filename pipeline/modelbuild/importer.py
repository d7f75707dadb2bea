"""``streamguard models import DIR --name NAME``: serve a text classifier someone else trained.

The input is the layout Hugging Face exporters write (``optimum-cli export onnx``, ``torch.onnx``):
``model.onnx`` with inputs ``input_ids`` and ``attention_mask`` (``token_type_ids`` optional) and an
output ``logits`` [B, C]; ``tokenizer.json``; ``config.json`` with ``id2label``. The result is a
model directory like the ones the builds write, so ``STREAMGUARD_SENTIMENT_MODEL=NAME`` serves it on
the texts lane with the model's own labels: the served graph ends in a softmax named
``probabilities``, ``token_type_ids`` (when the graph has it) is fed zeros inside the graph, and
``--quantize int8`` makes it static int8 with a parity check against the original on the card.

Nothing is known about the model's training data or quality: the card says so.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pipeline.errors import StreamGuardError
from pipeline.hotpath.artefacts import (
    META_FILE,
    MODEL_CARD_FILE,
    MODEL_FILE,
    TOKEN_WEIGHTS_FILE,
    TOKENIZER_FILE,
)
from pipeline.hotpath.inference import BATCH_TOLERANCE
from pipeline.hotpath.token_weights import save_token_weights
from pipeline.hotpath.tokenize import TextTokenizer
from pipeline.modelbuild.model_writer import batch_effect, choose_alert_class, install_model_dir, write_json
from pipeline.modelbuild.onnx_scoring import OnnxProbabilities

Quantize = Literal["int8", "none"]
QUANTIZE_CHOICES: tuple[Quantize, ...] = ("int8", "none")
CONFIG_FILE = "config.json"
_REQUIRED_INPUTS = ("input_ids", "attention_mask")
_OPTIONAL_INPUTS = ("token_type_ids",)
_LOGITS = "logits"
# Texts the import runs through the model: calibration (int8), parity, batch check.
_SAMPLE_TEXTS = 400
_SAMPLE_SEED = 2026


class ModelImportError(StreamGuardError):
    """The directory is not a text classifier this import can serve; the message names the problem."""

    retriable = False


@dataclass(frozen=True)
class ImportedModel:
    path: Path
    labels: tuple[str, ...]
    alert_class: str
    meta: dict[str, Any]


def import_model(
    source: Path,
    model_dir: Path,
    *,
    name: str,
    alert_class: str | None = None,
    threshold: float | None = None,
    quantize: Quantize = "int8",
    max_tokens: int = 128,
    force: bool = False,
) -> ImportedModel:
    """Checks ``source``, writes ``<model_dir>/<name>``; raises ModelImportError on anything unusable."""
    import onnx

    source = Path(source)
    for file in (MODEL_FILE, TOKENIZER_FILE, CONFIG_FILE):
        if not (source / file).is_file():
            raise ModelImportError(f"{source} has no {file} (need model.onnx, tokenizer.json, config.json)")
    labels = _labels(source / CONFIG_FILE)
    chosen = choose_alert_class(labels, alert_class, error=ModelImportError, of="this model")
    if threshold is not None and not 0.0 < threshold < 1.0:
        raise ModelImportError(f"--threshold must be between 0 and 1, got {threshold}")
    target = Path(model_dir) / name
    if target.exists() and not force:
        raise ModelImportError(f"{target} exists (add --force to replace it)")
    try:
        graph = onnx.load(str(source / MODEL_FILE))
    except Exception as exc:  # onnx raises DecodeError and friends
        raise ModelImportError(f"{source / MODEL_FILE} is not an ONNX model: {exc}") from exc
    token_type_ids = _check_graph(graph, len(labels))

    staging = target.with_name(f".{name}.importing")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        meta = _write(
            staging, source, graph, labels, chosen, threshold, quantize, max_tokens, name, token_type_ids
        )
        install_model_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ImportedModel(target, labels, chosen, meta)


def _labels(config_file: Path) -> tuple[str, ...]:
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelImportError(f"{config_file} is not readable JSON: {exc}") from exc
    id2label = config.get("id2label") if isinstance(config, dict) else None
    if not isinstance(id2label, dict) or not id2label:
        raise ModelImportError(f"{config_file} has no id2label: the model's labels are unknown")
    try:
        by_index = {int(index): str(label) for index, label in id2label.items()}
    except ValueError as exc:
        raise ModelImportError(f"{config_file}: id2label keys must be class indices: {exc}") from exc
    if sorted(by_index) != list(range(len(by_index))):
        raise ModelImportError(f"{config_file}: id2label must name classes 0..{len(by_index) - 1}")
    labels = tuple(by_index[i] for i in range(len(by_index)))
    if len(set(labels)) != len(labels) or len(labels) < 2:
        raise ModelImportError(f"{config_file}: id2label needs at least two distinct labels, got {labels}")
    return labels


def _check_graph(graph: Any, n_labels: int) -> bool:
    """True when the graph reads ``token_type_ids``; raises on inputs or outputs it cannot serve."""
    initializers = {init.name for init in graph.graph.initializer}
    inputs = [i.name for i in graph.graph.input if i.name not in initializers]
    missing = [name for name in _REQUIRED_INPUTS if name not in inputs]
    other = [name for name in inputs if name not in (*_REQUIRED_INPUTS, *_OPTIONAL_INPUTS)]
    if missing or other:
        problem = f"missing {', '.join(missing)}" if missing else f"unsupported {', '.join(other)}"
        raise ModelImportError(
            f"model.onnx inputs {inputs}: {problem} (supported: input_ids, attention_mask, token_type_ids)"
        )
    outputs = {o.name: o for o in graph.graph.output}
    if _LOGITS not in outputs:
        raise ModelImportError(f"model.onnx has no output {_LOGITS!r} (outputs: {', '.join(outputs)})")
    dims = outputs[_LOGITS].type.tensor_type.shape.dim
    if dims and dims[-1].HasField("dim_value") and dims[-1].dim_value != n_labels:
        raise ModelImportError(
            f"model.onnx logits have {dims[-1].dim_value} classes, config.json id2label {n_labels}"
        )
    return "token_type_ids" in inputs


def _served_graph(graph: Any, token_type_ids: bool) -> Any:
    """``logits`` -> softmax ``probabilities`` as the only output; zeros for ``token_type_ids``."""
    from onnx import TensorProto, helper

    served = graph.__class__()
    served.CopyFrom(graph)
    body = served.graph
    if token_type_ids:
        kept = [i for i in body.input if i.name != "token_type_ids"]
        del body.input[:]
        body.input.extend(kept)
        zero = helper.make_tensor("token_type_zero", TensorProto.INT64, [1], [0])
        body.node.insert(0, helper.make_node("Shape", ["input_ids"], ["token_type_shape"]))
        body.node.insert(
            1, helper.make_node("ConstantOfShape", ["token_type_shape"], ["token_type_ids"], value=zero)
        )
    body.node.append(helper.make_node("Softmax", [_LOGITS], ["probabilities"], axis=-1))
    del body.output[:]
    body.output.append(helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, None]))
    return served


def _sample_texts() -> list[str]:
    """Monitoring texts from our generator: what the texts lane serves, never a user's data."""
    from pipeline.synthetic.texts import generate_texts

    return [str(event["text"]) for event in generate_texts(_SAMPLE_TEXTS, seed=_SAMPLE_SEED)]


def _write(
    staging: Path,
    source: Path,
    graph: Any,
    labels: tuple[str, ...],
    alert_class: str,
    threshold: float | None,
    quantize: Quantize,
    max_tokens: int,
    name: str,
    token_type_ids: bool,
) -> dict[str, Any]:
    import onnx

    from pipeline.modelbuild.quantize import quantize_int8_static

    shutil.copyfile(source / TOKENIZER_FILE, staging / TOKENIZER_FILE)
    tokenizer = TextTokenizer.from_file(staging / TOKENIZER_FILE, max_tokens=max_tokens)
    texts = _sample_texts()
    fp32 = staging.parent / f".{name}.fp32.onnx"
    onnx.save(_served_graph(graph, token_type_ids), str(fp32))
    try:
        try:
            reference = OnnxProbabilities(fp32, tokenizer, threads=2)(texts, batch_size=1)
        except Exception as exc:  # onnxruntime's own exception types
            raise ModelImportError(f"model.onnx does not run on sample texts: {exc}") from exc
        parity: dict[str, Any] = {}
        if quantize == "int8":
            quantize_int8_static(fp32, staging / MODEL_FILE, tokenizer, texts)
            served = OnnxProbabilities(staging / MODEL_FILE, tokenizer, threads=2)(texts, batch_size=1)
            parity = {
                "texts": len(texts),
                "label_agreement": round(float(np.mean(served.argmax(1) == reference.argmax(1))), 4),
                "max_abs_prob_diff": round(float(np.max(np.abs(served - reference))), 4),
            }
        else:
            shutil.copyfile(fp32, staging / MODEL_FILE)
    finally:
        fp32.unlink(missing_ok=True)

    save_token_weights(staging / TOKEN_WEIGHTS_FILE, {}, alert_class=alert_class)
    digest = hashlib.sha256((source / MODEL_FILE).read_bytes()).hexdigest()[:12]
    meta: dict[str, Any] = {
        "name": name,
        "version": f"imported+{digest}",
        "kind": "sentiment",
        "labels": list(labels),
        "alert_class": alert_class,
        "feature_names": [],
        "max_tokens": max_tokens,
        "inputs": list(_REQUIRED_INPUTS),
        "output": "probabilities",
        "imported": {
            "source": str(source.resolve()),
            "model_sha256_12": digest,
            "token_type_ids": "zeros inside the graph" if token_type_ids else "not an input",
            "quantization": (
                f"onnxruntime quantize_static, QOperator: int8 per-channel MatMul and Gather weights, "
                f"uint8 activations at min/max ranges calibrated on {len(texts)} synthetic monitoring texts"
                if quantize == "int8"
                else "none (as given)"
            ),
            "int8_vs_original": parity,
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        "metrics": {},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if threshold is not None:
        meta["threshold"] = threshold
    write_json(staging / META_FILE, meta)
    (staging / MODEL_CARD_FILE).write_text(_card(meta), encoding="utf-8")
    effect = batch_effect(staging, texts[:32])
    meta["imported"]["batch_vs_single_max_abs_diff"] = effect
    # The score cache relies on this flag: set only when the check passed (OnnxClassifier).
    meta["batch_independent"] = effect <= BATCH_TOLERANCE
    write_json(staging / META_FILE, meta)
    (staging / MODEL_CARD_FILE).write_text(_card(meta), encoding="utf-8")
    return meta


def _card(meta: dict[str, Any]) -> str:
    imported = meta["imported"]
    parity = imported["int8_vs_original"]
    lines = [
        f"# {meta['name']} {meta['version']}",
        "",
        f"Imported {imported['when']} from `{imported['source']}` with `streamguard models import`.",
        f"Labels (from config.json id2label, in class order): {', '.join(meta['labels'])}. Alerts on "
        f"`{meta['alert_class']}`"
        + (
            f" at P >= {meta['threshold']} (STREAMGUARD_SENTIMENT_THRESHOLD overrides)."
            if "threshold" in meta
            else " at the STREAMGUARD_SENTIMENT_THRESHOLD setting."
        ),
        "",
        "## What is known",
        "- The graph reads `input_ids` and `attention_mask`; `token_type_ids`: "
        f"{imported['token_type_ids']}.",
        "- The served graph adds a softmax over the model's `logits` (output `probabilities`).",
        f"- Quantization: {imported['quantization']}.",
    ]
    if parity:
        lines.append(
            f"- Against the model as given, on {parity['texts']} synthetic monitoring texts: labels agree on "
            f"{parity['label_agreement']:.1%}, largest probability difference {parity['max_abs_prob_diff']}."
        )
    if "batch_vs_single_max_abs_diff" in imported:
        lines.append(
            "- Alone vs in one batch of 32 texts: max |diff| "
            f"{imported['batch_vs_single_max_abs_diff']} "
            f"(batch-independent: {meta.get('batch_independent')})."
        )
    lines += [
        "",
        "## What is not known",
        "- Training data, licence, intended use and accuracy: nothing here measured them. Evaluate the",
        "  model on your own labelled text before you rely on its alerts.",
        "- Alert reasons carry no token drivers (no training-set token weights come with an imported model).",
        "",
    ]
    return "\n".join(lines)
