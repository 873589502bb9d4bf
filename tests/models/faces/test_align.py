"""Face chips: the five landmarks land on the template, whatever the face's position, size and tilt."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageFilter

from photobird.models.faces.align import chip_to_image, face_chip, face_chips, template_points


def similarity(scale: float, degrees: float, shift: tuple[float, float]) -> np.ndarray:
    c, s = scale * math.cos(math.radians(degrees)), scale * math.sin(math.radians(degrees))
    return np.array([[c, -s, shift[0]], [s, c, shift[1]]])


def apply(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ m[:, :2].T + m[:, 2]


def smooth_texture(height: int, width: int) -> np.ndarray:
    """A blurred random picture: enough detail to compare chips, no edges sharp enough to alias."""
    noise = np.random.default_rng(0).integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    picture = Image.fromarray(noise).resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(picture.filter(ImageFilter.GaussianBlur(3)))


def test_fits_the_transform_that_made_the_landmarks() -> None:
    m = similarity(1.7, 20, (140.0, 60.0))
    np.testing.assert_allclose(chip_to_image(apply(m, template_points())), m, atol=1e-9)


def test_landmarks_land_on_the_template() -> None:
    m = similarity(1.3, -12, (90.0, 40.0))
    landmarks = apply(m, template_points())
    image = np.zeros((320, 400, 3), np.uint8)
    for x, y in np.rint(landmarks).astype(int):
        image[y - 1 : y + 2, x - 1 : x + 2] = 255
    chip = face_chip(image, np.rint(landmarks)).astype(float).sum(axis=2)
    for tx, ty in template_points():
        x0, y0 = int(tx) - 4, int(ty) - 4
        window = chip[y0 : y0 + 9, x0 : x0 + 9]
        ys, xs = np.mgrid[y0 : y0 + 9, x0 : x0 + 9]
        centre = np.array([(xs * window).sum(), (ys * window).sum()]) / window.sum()
        assert np.hypot(*(centre - (tx, ty))) < 1.0


def test_a_tilted_face_gives_the_same_chip() -> None:
    image = smooth_texture(300, 300)
    landmarks = apply(similarity(0.9, 0, (80.0, 90.0)), template_points())
    # the photo turned 30 degrees about its centre, into a larger canvas, landmarks with it
    turn = similarity(1.0, 30, (0.0, 0.0))
    turn[:, 2] = (220, 220) - turn[:, :2] @ (150, 150)
    back = np.linalg.inv(np.vstack([turn, [0, 0, 1]]))[:2]
    pil_back = back.copy()
    pil_back[:, 2] += 0.5 - pil_back[:, :2].sum(axis=1) * 0.5  # PIL counts from pixel corners
    turned = Image.fromarray(image).transform(
        (440, 440), Image.Transform.AFFINE, pil_back.ravel().tolist(), Image.Resampling.BICUBIC
    )
    upright = face_chip(image, landmarks).astype(float)
    tilted = face_chip(np.asarray(turned), apply(turn, landmarks)).astype(float)
    assert np.abs(upright - tilted).mean() < 2.0


def test_a_large_photo_is_shrunk_before_sampling() -> None:
    small = smooth_texture(200, 200)
    landmarks = apply(similarity(0.8, 5, (60.0, 50.0)), template_points())
    large = np.asarray(Image.fromarray(small).resize((1600, 1600), Image.Resampling.BICUBIC))
    big_chip = face_chip(large, (landmarks + 0.5) * 8 - 0.5).astype(float)  # 6.4 photo pixels a chip pixel
    assert np.abs(big_chip - face_chip(small, landmarks)).mean() < 2.0


def test_beyond_the_edge_is_black() -> None:
    image = np.full((100, 100, 3), 200, np.uint8)
    chip = face_chip(image, apply(similarity(0.5, 0, (-30.0, -30.0)), template_points()))
    assert chip.shape == (150, 150, 3) and chip.dtype == np.uint8
    assert chip[0, 0].tolist() == [0, 0, 0] and chip[-1, -1].tolist() == [200, 200, 200]


def test_chips_of_several_faces() -> None:
    image = smooth_texture(300, 300)
    faces = np.stack([apply(similarity(0.5, a, (40.0 + a, 50.0)), template_points()) for a in (0, 10, 20)])
    chips = face_chips(image, faces)
    assert chips.shape == (3, 150, 150, 3)
    assert np.array_equal(chips[1], face_chip(image, faces[1]))
    assert face_chips(image, faces[:0]).shape == (0, 150, 150, 3)


def test_rejects_what_it_cannot_use() -> None:
    with pytest.raises(ValueError, match="uint8"):
        face_chip(np.zeros((50, 50), np.uint8), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="five"):
        face_chip(np.zeros((50, 50, 3), np.uint8), np.zeros((68, 2)))
