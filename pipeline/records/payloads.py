"""Score and alert records as plain dicts, serialised with orjson.

This is the hot path: one record per event, so no pydantic model is built here. The shapes match
``schemas.score.ScoreRecord`` and ``schemas.alert.AlertRecord``; tests hold the two together.

Every record passes ``masking.mask_record`` last, so no field, including one added later, carries a
card number, phone number or e-mail address (see ``pipeline.records.masking`` for the rule). Only the
record's identity, our model's name and version, and the numbers we computed are exempt
(``UNMASKED``).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import orjson

from pipeline.errors import ModelOutputError
from pipeline.records.masking import mask_record
from pipeline.records.rules import RuleHit, overall_severity

# Fixed namespace: the same event and rules give the same alert id on every worker and every replay.
ALERT_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:streamguard:alert")
_DECIMALS: Final = 6
# float32 softmax can land a hair outside [0, 1]; more than this is a model bug, not rounding.
_PROBABILITY_SLACK: Final = 1e-6
# Not masked: the producer's event id is the Kafka key and how a reader finds the event, the alert
# id is a UUID (its hex groups can look like digit runs), the model block is our artefact's version;
# probabilities and timestamps are numbers we computed (walking them would double a score's cost).
UNMASKED: Final = frozenset({"event_id", "alert_id", "model", "probabilities", "timestamps"})
EVENT_IDENTITY: Final = frozenset({"event_id"})


def score_record(
    *,
    kind: str,
    event_id: str,
    probabilities: Mapping[str, float],
    score: float,
    label: str,
    model: Mapping[str, str],
    event_ts: float,
    ingested: float,
    scored: float,
    published: float,
    sla_ms: float,
    degraded: bool = False,
) -> dict[str, Any]:
    """One record for ``scores.*``. Raises ModelOutputError for a score that is not a probability."""
    latency_ms = published - ingested
    record = {
        "event_id": event_id,
        "kind": kind,
        "score": _probability(score, "score"),
        "label": label,
        "probabilities": {
            name: round(_probability(value, name), _DECIMALS) for name, value in probabilities.items()
        },
        "model": {"name": model["name"], "version": model["version"], "provider": model["provider"]},
        "timestamps": {
            "event": float(event_ts),
            "ingested": float(ingested),
            "scored": float(scored),
            "published": float(published),
        },
        "latency_ms": float(latency_ms),
        "sla_ms": float(sla_ms),
        "sla_met": latency_ms <= sla_ms,
        "degraded": degraded,
    }
    return mask_record(record, UNMASKED)


def alert_record(
    score: Mapping[str, Any], hits: Sequence[RuleHit], event: Mapping[str, Any]
) -> dict[str, Any]:
    """The score record plus why it alerts; every field but the identity is masked, ``event`` too."""
    record = mask_record(
        {
            **score,
            "alert_id": alert_id(score["event_id"], (hit.rule for hit in hits)),
            "severity": overall_severity(hits),
            "reasons": [
                {"rule": hit.rule, "detail": hit.detail, "drivers": list(hit.drivers)} for hit in hits
            ],
        },
        UNMASKED,
    )
    record["event"] = mask_record(event, EVENT_IDENTITY)
    return record


def alert_id(event_id: str, rule_ids: Iterable[str]) -> str:
    """Deterministic id: the same event and set of rules always give the same UUID (version 5)."""
    # JSON of [id, sorted rules] is unambiguous whatever characters the event id contains.
    name = orjson.dumps([event_id, sorted(set(rule_ids))]).decode()
    return str(uuid.uuid5(ALERT_NAMESPACE, name))


def to_json(record: Mapping[str, Any]) -> bytes:
    """UTF-8 JSON bytes; numpy scalars and arrays are accepted."""
    as_dict = record if isinstance(record, dict) else dict(record)  # orjson takes dicts only
    return orjson.dumps(as_dict, option=orjson.OPT_SERIALIZE_NUMPY)


def _probability(value: float, name: str) -> float:
    number = float(value)
    if not math.isfinite(number) or not -_PROBABILITY_SLACK <= number <= 1.0 + _PROBABILITY_SLACK:
        raise ModelOutputError(f"{name} is {number!r}, not a probability in [0, 1]")
    return min(max(number, 0.0), 1.0)
