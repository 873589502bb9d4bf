"""What a picture looks like, as a few 64-bit perceptual hashes: enough to know a resized, re-encoded, brightened
or cropped copy of a photo without looking at either again.

A perceptual hash (pHash) keeps the signs of a picture's lowest spatial frequencies: the 8x8 top-left block of
the DCT of a 32x32 grey copy, each coefficient compared with their median. Resizing, JPEG re-encoding and a
brightness change leave those signs as they are (a few bits flip at most). Cropping does not: a 10% crop moves
and rescales everything, and the hash moves as far from its original as an unrelated photo's can.

So besides the whole picture (window 0) each photo gets the hashes of the crops a user is likely to make of it:
90% and 80% of each side (centred, at a corner or at an edge) and the same of one side only (a change of aspect
ratio). A cropped copy's whole-picture hash is then close to one of its original's window hashes. Windows raise
the chance that two unrelated photos match somewhere, so a match by looks is confirmed by what the networks saw
(``photobird.library.duplicates``).
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.fft import dctn

#: The grey copy the windows are cut from, and the side each window is scaled to before its DCT.
GREY_SIDE = 96
HASH_SIDE = 32


def _windows() -> list[tuple[float, float, float, float]]:
    """(left, top, right, bottom) as fractions of the picture; the whole picture first."""
    out = [(0.0, 0.0, 1.0, 1.0)]
    places = (0.0, 0.5, 1.0)
    for scale in (0.9, 0.8):
        margin = 1 - scale
        for fy in places:
            for fx in places:
                out.append((margin * fx, margin * fy, margin * fx + scale, margin * fy + scale))
    for scale in (0.9, 0.8):
        margin = 1 - scale
        for f in places:
            out.append((margin * f, 0.0, margin * f + scale, 1.0))  # narrower, full height
            out.append((0.0, margin * f, 1.0, margin * f + scale))  # shorter, full width
    return out


WINDOWS = _windows()
#: Changes whenever the hashes would come out differently: stored hashes of another version are made again.
VERSION = f"phash-dct8-windows{len(WINDOWS)}-v1"


def hashes(image: Image.Image) -> np.ndarray:
    """The picture's window hashes, ``len(WINDOWS)`` unsigned 64-bit integers, the whole picture first."""
    grey = image.convert("L")
    scale = GREY_SIDE / max(1, min(grey.size))
    if scale < 1:
        grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))), Image.BILINEAR)
    w, h = grey.size
    stack = np.empty((len(WINDOWS), HASH_SIDE, HASH_SIDE), np.float32)
    for k, (x0, y0, x1, y1) in enumerate(WINDOWS):
        box = (
            round(x0 * w),
            round(y0 * h),
            max(round(x1 * w), round(x0 * w) + 1),
            max(round(y1 * h), round(y0 * h) + 1),
        )
        stack[k] = np.asarray(grey.resize((HASH_SIDE, HASH_SIDE), Image.BILINEAR, box=box), np.float32)
    low = dctn(stack, axes=(1, 2), norm="ortho")[:, :8, :8].reshape(len(WINDOWS), 64)
    # the DC term (overall brightness) is left out: it is the one coefficient a brightness change moves
    ac = low[:, 1:]
    bits = np.concatenate([ac > np.median(ac, axis=1, keepdims=True), np.zeros((len(WINDOWS), 1), bool)], axis=1)
    return np.packbits(bits, axis=1, bitorder="little").view("<u8").ravel().astype(np.uint64)


def to_bytes(values: np.ndarray) -> bytes:
    return np.asarray(values, dtype="<u8").tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u8").astype(np.uint64)
