"""Progress bars for the model build (rich), or silence when ``progress=False`` (tests, CI)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pipeline.tooling.progress import StderrProgress


class BuildProgress(StderrProgress):
    """One line per build step; steps with a known size get a bar."""

    def __init__(self, enabled: bool) -> None:
        super().__init__(enabled)
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        """Yields ``advance(n)``; records the step's wall time in ``timings``."""
        start = time.perf_counter()
        progress = self._progress
        if progress is None:
            yield lambda n: None
        else:
            task = progress.add_task(description, total=total)

            def advance(n: int) -> None:
                progress.advance(task, n)

            try:
                yield advance
            finally:
                progress.update(task, completed=total if total is not None else 1, total=total or 1)
        self.timings[description] = round(time.perf_counter() - start, 2)
