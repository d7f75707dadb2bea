"""Write a JSON Schema (draft 2020-12) for every topic, for producers and consumers in any language.

    python -m schemas.export           # rewrite schemas/json/<topic>.schema.json
    python -m schemas.export --check   # exit 1 if the shipped files differ from the models

The schemas come from the pydantic models, then are adjusted where the model says less than the
topic does: a score topic carries one kind and its own labels, outputs always have every field,
inputs accept unknown fields explicitly. Checks pydantic runs in Python but JSON Schema cannot
express (nesting depth, message size) are stated in the descriptions.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from schemas.alert import AlertRecord
from schemas.deadletter import DeadLetterRecord
from schemas.score import ScoreRecord
from schemas.text_event import TextEvent
from schemas.transaction import Transaction

DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_PREFIX = "urn:streamguard:schema:"
JSON_DIR = Path(__file__).parent / "json"

_INPUT_NOTE = (
    " The Kafka key is event_id and the value UTF-8 JSON. Unknown fields are accepted and ignored."
    " Also rejected, though JSON Schema cannot say so: values over the worker's max_message_bytes"
    " (default 1,000,000) and arrays or objects nested more than 32 levels deep."
    " Anything rejected goes to the deadletter topic with the reason."
)
_FRAUD_LABELS = ["fraud", "legit"]
_SENTIMENT_LABELS = ["negative", "neutral", "positive"]

Schema = dict[str, Any]


@dataclass(frozen=True)
class TopicSchema:
    model: type[BaseModel]
    description: str
    direction: Literal["input", "output"]
    adjust: Callable[[Schema], None] = field(default=lambda schema: None)


# The texts lane serves any text classifier (``streamguard models import``): its labels are the model's.
_MODEL_LABELS = (
    "a label of the served text model, from its meta.json (the shipped sentiment models: "
    + ", ".join(_SENTIMENT_LABELS)
    + ")"
)


def _one_kind(kind: str, labels: list[str] | None) -> Callable[[Schema], None]:
    """``labels`` None: whatever labels the served model has (described, not enumerated)."""

    def adjust(schema: Schema) -> None:
        properties = schema["properties"]
        properties["kind"] = {"const": kind, "type": "string"}
        properties["label"] = (
            {"enum": labels, "type": "string"}
            if labels
            else {"description": _MODEL_LABELS, "minLength": 1, "type": "string"}
        )
        properties["probabilities"] = {
            "description": "probability of each label, rounded to 6 decimals",
            "propertyNames": {"enum": labels} if labels else {"minLength": 1},
            "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
            "type": "object",
        }

    return adjust


def _alert_of(kind: str, labels: list[str] | None) -> Callable[[Schema], None]:
    one_kind = _one_kind(kind, labels)

    def adjust(schema: Schema) -> None:
        one_kind(schema)
        schema["properties"]["reasons"]["minItems"] = 1

    return adjust


TOPICS: dict[str, TopicSchema] = {
    "transactions": TopicSchema(
        Transaction, "One card or payment transaction to score for fraud." + _INPUT_NOTE, "input"
    ),
    "texts": TopicSchema(
        TextEvent, "One piece of monitoring text to score for sentiment." + _INPUT_NOTE, "input"
    ),
    "scores.transactions": TopicSchema(
        ScoreRecord,
        "The fraud score of one valid transaction; score is the fraud probability.",
        "output",
        _one_kind("fraud", _FRAUD_LABELS),
    ),
    "scores.texts": TopicSchema(
        ScoreRecord,
        "The score of one valid text by the served text model; score is the probability of its alert"
        " class (negative for the shipped sentiment models).",
        "output",
        _one_kind("sentiment", None),
    ),
    "alerts.fraud": TopicSchema(
        AlertRecord,
        "A fraud alert: the score record plus severity, reasons and the masked transaction."
        " alert_id is the same when the event is replayed.",
        "output",
        _alert_of("fraud", _FRAUD_LABELS),
    ),
    "alerts.sentiment": TopicSchema(
        AlertRecord,
        "A sentiment alert: the score record plus severity, reasons and the masked text event."
        " alert_id is the same when the event is replayed.",
        "output",
        _alert_of("sentiment", None),
    ),
    "deadletter": TopicSchema(
        DeadLetterRecord,
        "A consumed message that could not be scored: why, where it came from, and its original"
        " bytes. Headers x-error-type and x-source-topic repeat error.type and source.topic.",
        "output",
    ),
}


def build_schema(topic: str) -> Schema:
    """The JSON Schema for one topic's values."""
    spec = TOPICS[topic]
    generated = spec.model.model_json_schema(
        mode="validation" if spec.direction == "input" else "serialization"
    )
    _drop_property_titles(generated)
    if spec.direction == "input":
        generated["additionalProperties"] = True
    else:
        # Records are built with every key present (null where empty): say so to consumers.
        for node in [generated, *generated.get("$defs", {}).values()]:
            node["required"] = list(node["properties"])
    spec.adjust(generated)
    generated.pop("title", None)
    generated.pop("description", None)
    return {
        "$schema": DIALECT,
        "$id": f"{ID_PREFIX}{topic}",
        "title": f"StreamGuard {topic} ({spec.model.__name__})",
        "description": spec.description,
        **generated,
    }


def build_all() -> dict[str, Schema]:
    return {topic: build_schema(topic) for topic in TOPICS}


def render(schema: Schema) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def schema_path(topic: str, directory: Path = JSON_DIR) -> Path:
    return directory / f"{topic}.schema.json"


def _drop_property_titles(node: Any) -> None:
    """Remove pydantic's per-property titles ("Event Id"): noise next to the property name."""
    if isinstance(node, dict):
        for sub in node.get("properties", {}).values():
            sub.pop("title", None)
        for value in node.values():
            _drop_property_titles(value)
    elif isinstance(node, list):
        for item in node:
            _drop_property_titles(item)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.export", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if a file is stale")
    parser.add_argument(
        "--out", type=Path, default=JSON_DIR, help="directory to write (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    stale = []
    for topic, schema in build_all().items():
        path = schema_path(topic, args.out)
        text = render(schema)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'} {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
