"""Topic ``deadletter``: one record per consumed message that could not be scored."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: str = Field(description="machine-readable error type, e.g. not_json, missing_field")
    message: str = Field(description="what is wrong, for a person")
    field: str | None = Field(default=None, description="dotted path of the offending field")


class SourceInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    offset: int


class DeadLetterRecord(BaseModel):
    """Headers ``x-error-type`` and ``x-source-topic`` repeat error.type and source.topic."""

    model_config = ConfigDict(frozen=True, title="DeadLetterRecord")

    error: ErrorInfo
    source: SourceInfo
    raw: str = Field(
        description="the original message value, base64 (lossless for any bytes); empty if it had none",
        json_schema_extra={"contentEncoding": "base64"},
    )
    raw_encoding: Literal["base64"] = "base64"
    raw_policy: Literal["full", "masked", "omit"] = Field(
        default="full",
        description="STREAMGUARD_DEADLETTER_RAW: full keeps raw and key as consumed; masked holds them "
        "with personal data masked (still base64); omit leaves raw empty and key null",
    )
    key: str | None = Field(
        default=None,
        description="the original key, base64, if any",
        json_schema_extra={"contentEncoding": "base64"},
    )
    received_at: float = Field(description="epoch ms when the worker consumed it")
