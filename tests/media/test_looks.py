"""Perceptual hashes on real photos: changed copies of a picture stay near it, other pictures do not."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from photobird import config
from photobird.library.duplicates import NEAR_BITS
from photobird.media import looks


def _photos(n: int) -> list[Image.Image]:
    files = sorted(config.real_photos_dir().glob("*.JPEG"))[:n]
    return [ImageOps.exif_transpose(Image.open(f)).convert("RGB") for f in files]


def _bits(a: int, b: np.ndarray) -> np.ndarray:
    return np.bitwise_count(np.uint64(a) ^ b)


def test_resized_brightened_and_cropped_copies_stay_near_their_original() -> None:
    for im in _photos(12):
        w, h = im.size
        original = looks.hashes(im)
        assert original.shape == (len(looks.WINDOWS),) and original.dtype == np.uint64
        half = looks.hashes(im.resize((w // 2, h // 2)))[0]
        brighter = looks.hashes(ImageEnhance.Brightness(im).enhance(1.15))[0]
        assert _bits(half, original[:1])[0] <= NEAR_BITS
        assert _bits(brighter, original[:1])[0] <= NEAR_BITS
        for box in ((w * 0.05, h * 0.05, w * 0.95, h * 0.95), (0, 0, w * 0.9, h * 0.9), (w * 0.1, 0, w, h)):
            cropped = looks.hashes(im.crop(tuple(int(v) for v in box)))[0]
            # far from the whole picture's hash is allowed; near one of the windows is what finds it
            assert _bits(cropped, original).min() <= NEAR_BITS, box


def test_different_photos_are_far_apart() -> None:
    whole = np.array([looks.hashes(im)[0] for im in _photos(40)])
    apart = np.bitwise_count(whole[:, None] ^ whole[None, :])[np.triu_indices(len(whole), 1)]
    assert apart.min() > 2 * NEAR_BITS


def test_hashes_round_trip_through_bytes() -> None:
    values = looks.hashes(_photos(1)[0])
    assert np.array_equal(looks.from_bytes(looks.to_bytes(values)), values)
