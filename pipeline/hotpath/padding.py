"""Length groups for padded model runs: a batch is split so no run pads more than a quarter of its tokens.

A padded run costs as if every text had the longest text's length. Texts sorted longest first are
added to a group while the group's padding (its longest length times its size, minus its real tokens)
stays within ``MAX_PADDING_SHARE`` of the tokens it runs; each group is then one run cut to its own
longest text. Adding a shorter text only ever raises the share, so a group closes at the first text
that does not fit and the next group starts with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAX_PADDING_SHARE = 0.25


def padding_share(lengths: Sequence[int] | np.ndarray) -> float:
    """Share of a padded run's tokens that are padding (0 for an empty run)."""
    values = np.asarray(lengths, dtype=np.int64)
    if values.size == 0:
        return 0.0
    total = int(values.max()) * values.size
    return float(total - int(values.sum())) / total


def length_groups(
    lengths: Sequence[int] | np.ndarray, max_padding_share: float = MAX_PADDING_SHARE
) -> list[np.ndarray]:
    """Row indices per group, longest texts first; every index appears in exactly one group."""
    if not 0.0 <= max_padding_share < 1.0:
        raise ValueError(f"max_padding_share must be in [0, 1), got {max_padding_share}")
    values = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-values, kind="stable")
    groups: list[np.ndarray] = []
    start = 0
    while start < len(order):
        longest = int(values[order[start]])
        real = 0
        end = start
        while end < len(order):
            size = end - start + 1
            candidate = real + int(values[order[end]])
            if longest * size - candidate > max_padding_share * longest * size:
                break
            real = candidate
            end += 1
        groups.append(order[start:end])
        start = end
    return groups
