"""Topic ``texts``: one piece of monitoring text (support ticket, social post, log line)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from schemas.common import EventId, Timestamp

_Short = Annotated[str, StringConstraints(max_length=256)]


class TextEvent(BaseModel):
    """A text event as producers send it. Unknown extra fields are accepted and ignored."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", strict=True, allow_inf_nan=False, title="TextEvent"
    )

    event_id: EventId
    text: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]
    timestamp: Timestamp
    source: _Short | None = None
    author: _Short | None = None
    lang: Annotated[str, StringConstraints(max_length=35)] | None = None
    metadata: dict[str, Any] | None = None
