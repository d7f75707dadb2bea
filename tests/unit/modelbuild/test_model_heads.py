from __future__ import annotations

import numpy as np

from pipeline.modelbuild.heads import HeadConfig, head_probabilities, train_head


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 6)) + np.eye(3, 6)[y] * 4
    x[:, 5] = 7.0  # constant in training
    return x.astype(np.float32), y


def test_head_learns_and_is_reproducible() -> None:
    x, y = blobs(600, 0)
    xv, yv = blobs(200, 1)
    config = HeadConfig(hidden=16, epochs=15, seed=3)
    a = train_head(x, y, xv, yv, 3, config)
    b = train_head(x, y, xv, yv, 3, config)
    probs = head_probabilities(a, xv)
    assert np.mean(probs.argmax(axis=1) == yv) > 0.85
    np.testing.assert_array_equal(probs, head_probabilities(b, xv))


def test_constant_feature_cannot_blow_up_at_serving() -> None:
    x, y = blobs(300, 0)
    weights = train_head(x, y, x, y, 3, HeadConfig(hidden=0, epochs=3))
    assert weights.scale[5] == 1.0 and np.all(weights.layers[0][0][5] == 0.0)
    shifted = x.copy()
    shifted[:, 5] = 1e6
    expected = head_probabilities(weights, x)
    np.testing.assert_allclose(head_probabilities(weights, shifted), expected, atol=1e-6)
