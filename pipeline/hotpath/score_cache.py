"""A bounded cache of model outputs by input text: class probabilities, or text embeddings.

Monitoring text repeats (retweets, copy-pasted complaints, bot posts): a text scored once need not
run through the encoder again. Only a graph its build checked batch-independent (meta.json
``batch_independent``: alone or in any batch, within ``BATCH_TOLERANCE``) gets a score cache, so a
cached score is the one the text would get now. A model with features keeps embeddings
instead (its head scores them with each event's features). Least recently used entries are dropped
first. Used from one inference thread: not thread-safe.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np


class ScoreCache:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._rows: OrderedDict[str, np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, text: str) -> np.ndarray | None:
        row = self._rows.get(text)
        if row is None:
            self.misses += 1
            return None
        self._rows.move_to_end(text)
        self.hits += 1
        return row

    def put(self, text: str, row: np.ndarray) -> None:
        stored = np.array(row, dtype=np.float32, copy=True)
        stored.flags.writeable = False  # callers get views of it: nobody may change a cached score
        self._rows[text] = stored
        self._rows.move_to_end(text)
        while len(self._rows) > self.capacity:
            self._rows.popitem(last=False)
