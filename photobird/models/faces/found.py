"""What the face analyzer reports, and the sizes it works at: plain data, no torch, so the catalogue and the
app can speak of faces without loading the networks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The longer side of the view faces are looked for in: a face 40 pixels tall in it is still found.
VIEW_SIDE = 1024
#: The shorter side asked of the decoder: a 4:3 12 MP JPEG draft-decodes at 1/4 (1000 x 750), not 1/2.
DECODE_SIDE = 720


@dataclass(frozen=True)
class FoundFace:
    """One face: box (left, top, right, bottom) in fractions of the photo as displayed, detector score, and
    its 128-number descriptor."""

    box: tuple[float, float, float, float]
    score: float
    descriptor: np.ndarray  # (128,) float32
