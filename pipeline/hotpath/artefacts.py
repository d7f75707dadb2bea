"""Where built models live and whether they are complete. Pure: no torch, safe for serving.

Layout: ``<model_dir>/<name>/`` holds the files in ``ARTEFACTS``. The default model of a kind lives in
``<model_dir>/<kind>/``; other builds of a kind (e.g. ``sentiment-student``) sit beside it, and
``serving_model_path`` opens any of them by directory name (what the ``STREAMGUARD_*_MODEL`` settings
hold). A build writes into a temporary sibling directory and renames it into place, so a directory
with ``meta.json`` is a finished build.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pipeline.errors import StreamGuardError

ModelKind = Literal["sentiment", "fraud"]
KINDS: tuple[ModelKind, ...] = ("sentiment", "fraud")
LABELS: dict[str, tuple[str, ...]] = {
    "sentiment": ("negative", "neutral", "positive"),
    "fraud": ("legit", "fraud"),
}
STUDENT_MODEL = "sentiment-student"
# What ``streamguard models build`` can build: directory under the model directory -> its kind. The
# directories named like a kind are the defaults; the student is an optional, smaller "sentiment".
BUILD_TARGETS: dict[str, ModelKind] = {"sentiment": "sentiment", "fraud": "fraud", STUDENT_MODEL: "sentiment"}
# The class whose probability is the alert score, and toward which token weights point.
ALERT_CLASS: dict[str, str] = {"sentiment": "negative", "fraud": "fraud"}

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "meta.json"
TOKEN_WEIGHTS_FILE = "token_weights.json"
MODEL_CARD_FILE = "MODEL_CARD.md"
ARTEFACTS = (MODEL_FILE, TOKENIZER_FILE, META_FILE, TOKEN_WEIGHTS_FILE, MODEL_CARD_FILE)
# Optional: the graph for the CUDA execution provider (float weights and kernels). The int8 graph's
# integer kernels are CPU kernels, so it is only ever given to the CPU provider.
GPU_MODEL_FILE = "model.gpu.onnx"
# Optional, beside a model with features: its head alone (embedding + features -> probabilities), so
# the embedding of a text seen before is not computed again (``pipeline.modelbuild.compose.split_head``).
HEAD_FILE = "head.onnx"
# The graph output holding the pooled text embedding (fraud models feed it to their head).
EMBEDDING_OUTPUT = "embedding"


class ModelNotBuiltError(StreamGuardError):
    """Model artefacts are missing or unreadable; retrying cannot help, building can."""

    retriable = False

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(
            f"model at {path} is not usable ({problem}); run `streamguard models build` "
            f"(add --force to rebuild)"
        )
        self.path = path
        self.problem = problem


def model_path(model_dir: Path, kind: str) -> Path:
    """Directory holding one kind's artefacts."""
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {KINDS}")
    return Path(model_dir) / kind


def serving_model_path(model_dir: Path, name: str, kind: str | None = None) -> Path:
    """``<model_dir>/<name>``: any model directory whose meta.json names a known kind (and ``kind``,
    when given). Raises ValueError for a name that is not one directory inside ``model_dir``, and
    ModelNotBuiltError when the directory is missing, its meta.json unusable or of another kind."""
    if not name or name in (".", "..") or name.startswith(".") or "/" in name or "\\" in name:
        raise ValueError(f"model name {name!r} must be a directory name inside the model directory")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {KINDS}")
    path = Path(model_dir) / name
    if not path.is_dir():
        raise ModelNotBuiltError(path, "directory does not exist")
    meta = read_meta(path)
    if kind is not None:
        check_kind(path, meta, kind)
    return path


def check_kind(path: Path, meta: dict[str, Any], kind: str) -> None:
    """Raises ModelNotBuiltError unless ``meta`` (read from ``path``) is a model of ``kind``: a worker
    must not serve a fraud model on the texts lane, or the other way round."""
    if meta.get("kind") != kind:
        raise ModelNotBuiltError(
            path, f"{META_FILE} says kind {meta.get('kind')!r}, but a {kind!r} model is needed here"
        )


def read_meta(path: Path) -> dict[str, Any]:
    """meta.json of a model directory; raises ModelNotBuiltError if absent or malformed."""
    meta_file = path / META_FILE
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelNotBuiltError(path, f"{META_FILE} is missing") from None
    except (OSError, ValueError) as exc:
        raise ModelNotBuiltError(path, f"{META_FILE} is unreadable: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("kind") not in KINDS or not meta.get("labels"):
        raise ModelNotBuiltError(path, f"{META_FILE} lacks kind or labels")
    return meta


def missing_artefacts(path: Path) -> list[str]:
    return [name for name in ARTEFACTS if not (path / name).is_file()]


def is_built(model_dir: Path, kind: str) -> bool:
    """True when every artefact is present and meta.json names this kind."""
    return is_complete(model_path(model_dir, kind), kind)


def is_complete(path: Path, kind: str) -> bool:
    """True when the directory ``path`` holds every artefact and meta.json names ``kind``."""
    if missing_artefacts(path):
        return False
    try:
        return bool(read_meta(path)["kind"] == kind)
    except ModelNotBuiltError:
        return False
