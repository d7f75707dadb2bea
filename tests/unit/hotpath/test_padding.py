"""pipeline.hotpath.padding, and the classifier's padded runs through it on the shipped fraud model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.hotpath.artefacts import is_built
from pipeline.hotpath.binding import BoundSession
from pipeline.hotpath.inference import BATCH_TOLERANCE, OnnxClassifier
from pipeline.hotpath.padding import MAX_PADDING_SHARE, length_groups, padding_share
from tests.unit.modelbuild.smoke import REPO_MODELS


@given(st.lists(st.integers(min_value=1, max_value=128), max_size=200))
def test_groups_cover_every_row_once_and_pad_at_most_a_quarter(lengths: list[int]) -> None:
    groups = length_groups(lengths)
    rows = np.concatenate(groups) if groups else np.array([], dtype=np.int64)
    assert sorted(rows.tolist()) == list(range(len(lengths)))
    for group in groups:
        assert padding_share([lengths[i] for i in group]) <= MAX_PADDING_SHARE


@given(st.integers(min_value=1, max_value=128), st.integers(min_value=1, max_value=64))
def test_equal_lengths_make_one_group(length: int, count: int) -> None:
    assert len(length_groups([length] * count)) == 1


def test_a_long_text_does_not_pad_short_ones_to_its_length() -> None:
    groups = length_groups([8, 9, 100, 10, 8])
    assert [sorted(g.tolist()) for g in groups] == [[2], [0, 1, 3, 4]]
    assert padding_share([8, 9, 100, 10, 8]) > 0.7  # what one run would have padded


class RecordingRuns:
    """The classifier's real bound session, with the attention mask of every run kept."""

    def __init__(self, bound: BoundSession) -> None:
        self.bound = bound
        self.masks: list[np.ndarray] = []

    def output_width(self, name: str) -> int:
        return self.bound.output_width(name)

    def run_rows(
        self, output: str, feeds: dict[str, np.ndarray], rows: np.ndarray, width: int, into: np.ndarray
    ) -> None:
        self.masks.append(feeds["attention_mask"][rows][:, :width])
        self.bound.run_rows(output, feeds, rows, width, into)


@pytest.mark.skipif(not is_built(REPO_MODELS, "fraud"), reason="no full model in ./models (build it)")
def test_padded_runs_waste_at_most_a_quarter_and_keep_row_order() -> None:
    from pipeline.features.model_inputs import transaction_features_batch, transaction_text
    from tests.unit.event_factories import make_tx

    words = [
        "refund",
        "for",
        "order",
        "placed",
        "online",
        "last",
        "week",
        "was",
        "never",
        "received",
        "by",
        "the",
        "customer",
    ]
    txs = [make_tx(description=" ".join(words[: 1 + i % len(words)]) * (1 + i % 5)) for i in range(40)]
    texts, features = [transaction_text(tx) for tx in txs], transaction_features_batch(txs)
    model = OnnxClassifier.load(REPO_MODELS / "fraud", threads=1, cache_size=0)
    alone = np.concatenate([model.predict(texts[i : i + 1], features[i : i + 1]) for i in range(len(txs))])
    recorder = RecordingRuns(model._bound)
    model._bound = recorder  # type: ignore[assignment]

    batched = model.predict(texts, features)

    assert len(recorder.masks) > 1  # the mixed lengths were split
    assert sum(len(mask) for mask in recorder.masks) == len(texts)
    for mask in recorder.masks:
        assert mask.shape[1] == mask.sum(axis=1).max()  # cut to the group's longest text
        assert padding_share(mask.sum(axis=1)) <= MAX_PADDING_SHARE
    # Static int8: the groups' padding and neighbours change no score beyond the build's bound.
    np.testing.assert_allclose(batched, alone, rtol=0, atol=BATCH_TOLERANCE)
