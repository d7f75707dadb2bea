"""Message models, one per topic. JSON Schema files for other languages live in ``schemas/json``."""

from schemas.alert import AlertRecord, Reason, Severity
from schemas.deadletter import DeadLetterRecord, ErrorInfo, SourceInfo
from schemas.score import Kind, ModelInfo, ScoreRecord, Timestamps
from schemas.text_event import TextEvent
from schemas.transaction import Transaction

__all__ = [
    "AlertRecord",
    "DeadLetterRecord",
    "ErrorInfo",
    "Kind",
    "ModelInfo",
    "Reason",
    "ScoreRecord",
    "Severity",
    "SourceInfo",
    "TextEvent",
    "Timestamps",
    "Transaction",
]
