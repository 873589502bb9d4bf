"""The shared set of 250 real photos with bird labels (``../shared/data/real-photos/labels.csv``).

Training scripts, benchmarks and tests use it as "a user's own photos"; the app never needs it.
"""

from __future__ import annotations

import csv
from pathlib import Path

from photobird import config


def rows(folder: Path | None = None) -> list[dict[str, str]]:
    """labels.csv as dicts: file, imagenet_index, wnid, class_name, is_bird ("1" or "0")."""
    folder = folder or config.real_photos_dir()
    with open(folder / "labels.csv", newline="") as f:
        return list(csv.DictReader(f))


def truth(folder: Path | None = None) -> dict[Path, bool]:
    """Photo path -> is it a bird."""
    folder = folder or config.real_photos_dir()
    return {folder / r["file"]: r["is_bird"] == "1" for r in rows(folder)}
