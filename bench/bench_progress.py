"""Rich progress bars for ``streamguard bench`` (on stderr), or silence."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import TaskID

from pipeline.tooling.progress import StderrProgress


def _ignore(n: int) -> None:
    pass


class BenchProgress(StderrProgress):
    """One line per phase (floors, each system); ``describe`` retitles the current line."""

    def __init__(self, enabled: bool) -> None:
        super().__init__(enabled)
        self._current: TaskID | None = None

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        """Yields ``advance(n)``; the line is completed when the block ends."""
        progress = self._progress
        if progress is None:
            yield _ignore
            return
        task = progress.add_task(description, total=max(total, 1))
        self._current = task

        def advance(n: int = 1) -> None:
            progress.advance(task, n)

        try:
            yield advance
        finally:
            progress.update(task, completed=max(total, 1))
            self._current = None

    def describe(self, description: str) -> None:
        if self._progress is not None and self._current is not None:
            self._progress.update(self._current, description=description)
