"""Topics ``scores.transactions`` and ``scores.texts``: one score record per valid event."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["fraud", "sentiment"]


class ModelInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    provider: str = Field(description="execution provider that really ran, e.g. CPUExecutionProvider")


class Timestamps(BaseModel):
    """Epoch milliseconds (float) along the event's path."""

    model_config = ConfigDict(frozen=True)

    event: float = Field(description="the event's own timestamp")
    ingested: float = Field(description="when the worker consumed it")
    scored: float = Field(description="when inference finished")
    published: float = Field(description="when the output was handed to the producer")


class ScoreRecord(BaseModel):
    model_config = ConfigDict(frozen=True, title="ScoreRecord")

    event_id: str
    kind: Kind
    score: float = Field(
        ge=0, le=1, description="fraud probability, or the probability of the text model's alert class"
    )
    label: str = Field(
        min_length=1,
        description="fraud or legit; for texts, a label of the served model (ours: negative, neutral, "
        "positive)",
    )
    probabilities: dict[str, float]
    model: ModelInfo
    timestamps: Timestamps
    latency_ms: float = Field(description="published - ingested")
    sla_ms: float
    sla_met: bool
    degraded: bool = Field(
        default=False,
        description="scored by the cheap fallback of an overloaded worker (STREAMGUARD_OVERLOAD_POLICY="
        "shed), not by the model: token weights and transaction features, uncalibrated",
    )
