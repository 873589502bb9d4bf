"""Cut the aligned face chip that dlib's face descriptor expects, from a photo and MTCNN's five landmarks.

dlib's network was trained on chips made by ``dlib.get_face_chip(img, shape_5pt, size=150, padding=0.25)``:
the face rotated upright, scaled and centred so its landmarks sit at fixed places. Descriptors are only
comparable when chips are cut the same way, so this fits the similarity transform (rotation, uniform scale,
translation) that best carries MTCNN's five points (eye centres, nose tip, mouth corners; "left" is the smaller
x in the image) onto where those same points sit, on average, in dlib's chips, and samples bilinearly.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

#: Where MTCNN's five landmarks fall in dlib's face chips, as fractions of the unpadded face square (dlib's own
#: convention: chip pixel = (fraction + padding) / (1 + 2 * padding) * size). Median over 609 faces of faces-dev,
#: measured by ``training/face_template.py``.
TEMPLATE = np.array(
    [
        [0.2358, 0.2159],  # left eye centre
        [0.7824, 0.2147],  # right eye centre
        [0.5054, 0.5475],  # nose tip
        [0.2702, 0.8156],  # mouth, left corner
        [0.7453, 0.8194],  # mouth, right corner
    ]
)


def template_points(size: int = 150, padding: float = 0.25) -> np.ndarray:
    """The five template points in chip pixels (pixel centres at integers, as dlib counts)."""
    return (TEMPLATE + padding) / (1 + 2 * padding) * size


def chip_to_image(landmarks: np.ndarray, size: int = 150, padding: float = 0.25) -> np.ndarray:
    """The 2 × 3 similarity transform from chip pixels to image pixels that best fits the five points.

    It is fitted in that direction, as dlib fits its own, by least squares over x' = a x - b y + tx,
    y' = b x + a y + ty, which cannot mirror the face.
    """
    chip = template_points(size, padding)
    x, y = chip[:, 0], chip[:, 1]
    one, zero = np.ones_like(x), np.zeros_like(x)
    rows = np.concatenate([np.stack([x, -y, one, zero], 1), np.stack([y, x, zero, one], 1)])
    target = np.concatenate([landmarks[:, 0], landmarks[:, 1]]).astype(np.float64)
    a, b, tx, ty = np.linalg.lstsq(rows, target, rcond=None)[0]
    return np.array([[a, -b, tx], [b, a, ty]])


def face_chip(image: np.ndarray, landmarks: np.ndarray, size: int = 150, padding: float = 0.25) -> np.ndarray:
    """The (size, size, 3) uint8 chip of the face whose five MTCNN landmarks (5, 2) are given, from (H, W, 3) RGB.

    Only the part of the photo the chip covers is handed to PIL, so a chip costs about a millisecond whatever
    the photo's size. Where a chip pixel spans more than two photo pixels the part is first shrunk by box
    averaging (PIL's ``reduce``), as dlib shrinks through an image pyramid, so small chips from large photos
    do not alias. Beyond the photo's edge the chip is black, as dlib's is.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
    if landmarks.shape != (5, 2):
        raise ValueError(f"expected five (x, y) landmarks, got an array of shape {landmarks.shape}")
    m = chip_to_image(landmarks, size, padding)
    # PIL puts pixel centres at +0.5: in its coordinates the map is  m @ (p - 0.5) + 0.5.
    m[:, 2] += 0.5 - m[:, :2].sum(axis=1) * 0.5
    corners = m @ np.array([[0, size, 0, size], [0, 0, size, size], [1, 1, 1, 1]], np.float64)
    height, width = image.shape[:2]
    x0, y0 = (max(0, int(np.floor(v.min())) - 1) for v in corners)
    x1, y1 = (min(limit, int(np.ceil(v.max())) + 1) for v, limit in zip(corners, (width, height), strict=True))
    if x1 <= x0 or y1 <= y0:
        return np.zeros((size, size, 3), np.uint8)
    part = Image.fromarray(np.ascontiguousarray(image[y0:y1, x0:x1]))
    m[:, 2] -= (x0, y0)
    shrink = int(np.hypot(m[0, 0], m[1, 0]))
    if shrink >= 2:
        part = part.reduce(shrink)
        m /= shrink
    chip = part.transform((size, size), Image.Transform.AFFINE, m.ravel().tolist(), Image.Resampling.BILINEAR)
    return np.asarray(chip)


def face_chips(image: np.ndarray, landmarks: np.ndarray, size: int = 150, padding: float = 0.25) -> np.ndarray:
    """Chips (N, size, size, 3) of all N faces (N, 5, 2) of one photo, ready for ``FaceDescriber.describe``."""
    chips = [face_chip(image, points, size, padding) for points in landmarks]
    return np.stack(chips) if chips else np.zeros((0, size, size, 3), np.uint8)
