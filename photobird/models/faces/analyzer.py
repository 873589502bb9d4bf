"""The face analyzer: find the faces in a photo, align each on its five landmarks, describe it with 128 numbers
(Geitgey's part 4, step by step), on one reduced-size view of the photo.

Why a 1,024-pixel view: a face 40 pixels tall in it is still found (the detector's smallest face is about that),
and a 12-megapixel JPEG decodes to it at a quarter of its size (JPEG draft mode), the cheapest decode that is
big enough. Boxes come back as fractions of the photo, so they hold for the photo at any size.
"""

from __future__ import annotations

import hashlib
import json
import threading

import numpy as np
import torch
from PIL import Image

from photobird.media.decode import fit_long
from photobird.models.faces import align, detect
from photobird.models.faces.align import face_chips
from photobird.models.faces.describe import FaceDescriber
from photobird.models.faces.detect import FaceDetector
from photobird.models.faces.found import VIEW_SIDE, FoundFace


class FaceAnalyzer:
    """Detector + aligner + descriptor, loaded once; ``version`` changes whenever any of them would give other
    results (their weights, thresholds or the alignment), so the library knows which photos to analyse again."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.detector = FaceDetector(device)
        self.describer = FaceDescriber(device)
        self.version = hashlib.sha256(
            json.dumps(
                {
                    "detector": [
                        detect.WEIGHTS_SHA256,
                        self.detector.min_face,
                        list(self.detector.thresholds),
                        self.detector.mirror_threshold,
                        self.detector.max_faces,
                        detect.MAX_RNET,
                        detect.MAX_ONET,
                        detect.MAX_SIDE,
                    ],
                    "align": align.TEMPLATE.tolist(),
                    "describer": self.describer.sha256,
                    "view": VIEW_SIDE,
                    "mirrored": True,
                },
                sort_keys=True,
            ).encode()
        ).hexdigest()[:16]
        # one photo at a time on a GPU; on a CPU, threads run photos side by side (torch single-threaded in each)
        self._lock = threading.Lock() if device.type != "cpu" else None

    def view(self, image: Image.Image) -> np.ndarray:
        """The photo as the detector sees it: longer side at most ``VIEW_SIDE``, RGB uint8."""
        if max(image.size) > VIEW_SIDE:
            image = fit_long(image, VIEW_SIDE)
        return np.asarray(image.convert("RGB"))

    def analyze(self, image: Image.Image) -> list[FoundFace]:
        """The faces in one photo (EXIF orientation already applied), in reading order (left to right)."""
        pixels = self.view(image)
        h, w = pixels.shape[:2]
        if self._lock is not None:
            with self._lock:
                return self._analyze(pixels, w, h)
        return self._analyze(pixels, w, h)

    def _analyze(self, pixels: np.ndarray, w: int, h: int) -> list[FoundFace]:
        detected = self.detector.detect([pixels])[0]
        if not detected:
            return []
        chips = face_chips(pixels, np.stack([d.landmarks for d in detected]))
        # each face described as it is and mirrored, the two averaged: a face turned a little to one side then
        # matches the same face turned to the other (on faces-dev it joins 4 % more same-person pairs)
        both = self.describer.describe(np.concatenate([chips, chips[:, :, ::-1]]))
        descriptors = (both[: len(chips)] + both[len(chips) :]) / 2
        found = []
        for d, desc in zip(detected, descriptors, strict=True):
            left, top, right, bottom = d.box
            box = (
                min(max(left / w, 0.0), 1.0),
                min(max(top / h, 0.0), 1.0),
                min(max(right / w, 0.0), 1.0),
                min(max(bottom / h, 0.0), 1.0),
            )
            found.append(FoundFace(box, float(d.score), np.asarray(desc, dtype=np.float32)))
        return sorted(found, key=lambda f: (f.box[0], f.box[1]))
