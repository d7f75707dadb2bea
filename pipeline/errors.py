"""Exceptions raised inside StreamGuard.

Bad *input* is not an exception here: ``pipeline.ingest.validation`` returns a ``Failure`` value and the
message becomes a dead letter. These classes are for faults of our own components. Callers decide
whether to retry from ``retriable`` alone (as aiokafka's errors do), never from the class name.
"""

from __future__ import annotations


class StreamGuardError(Exception):
    """Base of every StreamGuard error."""

    retriable: bool = False


class ConfigurationError(StreamGuardError):
    """Settings that cannot work together, found at start-up."""


class ModelOutputError(StreamGuardError):
    """A model produced something that is not a probability (NaN, outside [0, 1], missing label)."""


class PublishError(StreamGuardError):
    """The broker did not confirm an output after every retry (``pipeline.hotpath.lane.confirm_delivery``).

    Its input stays unacknowledged and its lane fails, so the worker stops and the input is consumed
    again. ``retriable`` is the cause's own flag where it has one (aiokafka's errors do): it decides
    the worker's exit code (1: restart it; 2: a restart alone will not help).
    """

    def __init__(self, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable


class BrokerError(StreamGuardError):
    """The broker could not be started or reached, or refused an admin request (see ``retriable``)."""

    def __init__(self, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable
