"""Fitting the two-expert head: each expert learns from its own images, stays near where it started, and
its calibration puts the chosen threshold at 0.5."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from photobird.learn import data as data_mod
from photobird.learn import head as head_mod
from photobird.models import nets

FEATURES = 8


def synthetic(n: int, side: float, seed: int, informative: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose label shows in verdict 0 (small images) or in feature ``informative`` (photos)."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    f = rng.normal(0, 1, (n, FEATURES)).astype(np.float32)
    f[:, informative] += np.where(y, 1.5, -1.5)
    v = rng.normal(0, 1, (n, len(nets.VERDICTS))).astype(np.float32)
    v[:, 0] += np.where(y, 2.0, -2.0)
    s = np.full((n, 1), math.log2(side), np.float32)
    return np.concatenate([f, v, s], 1), y


def test_small_images_leave_the_photo_expert_as_it_started() -> None:
    x, y = synthetic(600, 32, seed=1)
    head = head_mod.fit(x, y)
    start = nets.BirdHead(x.shape[1])
    torch.testing.assert_close(head.prior[head.PHOTO], start.prior[head.PHOTO])
    torch.testing.assert_close(head.bias[head.PHOTO], start.bias[head.PHOTO])
    assert float(head.prior[head.SMALL, 0]) > 0.5  # the small expert learned to read verdict 0
    acc = ((head_mod.predict(head, x) >= 0.5) == y).mean()
    assert acc > 0.9


def test_photos_teach_the_photo_expert_and_the_pull_back_holds_it() -> None:
    base_x, base_y = synthetic(400, 32, seed=2)
    px, py = synthetic(200, 400, seed=3, informative=5)
    x, y = np.concatenate([base_x, px]), np.concatenate([base_y, py])
    loose = head_mod.fit(x, y, head_mod.HeadRecipe(linear_decay=1e-4))
    tight = head_mod.fit(x, y, head_mod.HeadRecipe(linear_decay=10.0))
    assert float(loose.linear[loose.PHOTO, 5]) > 0.5  # learned the feature that tells photos apart
    assert float(loose.linear[loose.SMALL].abs().max()) == 0.0  # the small expert reads verdicts only
    assert float(tight.linear[tight.PHOTO].abs().max()) < 0.1 * float(loose.linear[loose.PHOTO].abs().max())
    acc = ((head_mod.predict(loose, px) >= 0.5) == py).mean()
    assert acc > 0.85


def test_fit_starts_from_the_given_head_and_does_not_change_it() -> None:
    x, y = synthetic(300, 400, seed=4, informative=2)
    start = head_mod.fit(x, y)
    before = {k: v.clone() for k, v in start.state_dict().items()}
    # on other photos, the features are re-standardized by their statistics: the function must not change
    other, _ = synthetic(300, 400, seed=8, informative=2)
    other[:, :FEATURES] = other[:, :FEATURES] * 2 + 1
    again = head_mod.fit(other, y, head_mod.HeadRecipe(epochs=0), init=start)
    for k, v in start.state_dict().items():
        torch.testing.assert_close(v, before[k])
    assert not torch.allclose(again.mean, start.mean)
    np.testing.assert_allclose(head_mod.predict(again, x), head_mod.predict(start, x), atol=1e-5)


def test_calibration_moves_the_threshold_to_one_half() -> None:
    x, y = synthetic(300, 400, seed=5, informative=1)
    head = head_mod.fit(x, y)
    raw = head_mod.predict(head, x, calibrated=False)
    head_mod.calibrate(head, nets.BirdHead.PHOTO, 0.2)
    calibrated = head_mod.predict(head, x)
    np.testing.assert_array_equal(calibrated >= 0.5, raw >= 0.2)


def test_refuses_one_class_and_wrong_dimensions() -> None:
    x, y = synthetic(50, 400, seed=6)
    with pytest.raises(ValueError, match="both birds and non-birds"):
        head_mod.fit(x, np.zeros(len(y), bool))
    with pytest.raises(ValueError, match="dimensional"):
        head_mod.fit(x, y, init=nets.BirdHead(x.shape[1] + 1))


def test_base_data_keeps_verdicts_and_size_exact(tmp_path) -> None:
    x, y = synthetic(100, 32, seed=7)
    data_mod.save_base(tmp_path / "base.npz", x, y, [{"model": "test"}], "synthetic")
    with np.load(tmp_path / "base.npz") as z:
        restored = np.concatenate([data_mod.dequantize(z["q"], z["lo"], z["scale"]), z["exact"]], 1)
    np.testing.assert_array_equal(restored[:, -data_mod.EXACT_DIMS :], x[:, -data_mod.EXACT_DIMS :])
    assert np.abs(restored - x).max() < 0.05  # the features: 8-bit
