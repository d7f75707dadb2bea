"""Rich progress bars on stderr for long commands (model build, bench), or silence when disabled."""

from __future__ import annotations

from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)


class StderrProgress:
    """A context manager that shows ``self._progress`` while open; with ``enabled=False`` it is None
    and subclasses do nothing (tests, CI, output that is not a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self._progress: Progress | None = (
            Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            if enabled
            else None
        )

    def __enter__(self) -> Self:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
