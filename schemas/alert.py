"""Topics ``alerts.fraud`` and ``alerts.sentiment``: raised when a rule or threshold fires."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.score import ScoreRecord

Severity = Literal["low", "medium", "high", "critical"]


class Reason(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule: str = Field(description="id of the rule that fired")
    detail: str = Field(description="what made it fire, for a person")
    drivers: list[str] = Field(default_factory=list, description="features or tokens that drove the score")


class AlertRecord(ScoreRecord):
    model_config = ConfigDict(frozen=True, title="AlertRecord")

    alert_id: str = Field(description="deterministic from event_id and rules: a replay gives the same id")
    severity: Severity
    reasons: list[Reason]
    event: dict[str, Any] = Field(
        description="the input with personal data masked: every run of 7+ digits (cards keep their last 4, "
        "other runs their last 2), e-mail local parts, card numbers sent as JSON numbers; event_id as sent"
    )
