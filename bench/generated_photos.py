"""Generated photos for the benchmarks and the tests that need many distinct ones: small JPEGs, each a coloured
gradient with a few shapes on it, from a seed (the same photos on every run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def generate(folder: Path, n: int, seed: int = 0) -> None:
    """``n`` small JPEGs, each different: a coloured gradient with a few shapes on it."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:240, 0:320]
    for i in range(n):
        a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        t = (x * rng.random() + y * rng.random())[..., None] / 560.0
        image = Image.fromarray((a * (1 - t) + b * t).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(2, 8))):
            x0, y0 = int(rng.integers(0, 280)), int(rng.integers(0, 200))
            box = (x0, y0, x0 + int(rng.integers(10, 120)), y0 + int(rng.integers(10, 120)))
            fill = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
        image.save(folder / f"gen_{i:04d}.jpg", quality=85)
