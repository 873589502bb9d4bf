"""The everyday photo sets: ``coco-train`` (train here) and ``everyday-dev`` (choose thresholds, compare methods).

Both live in the shared data folder (``PHOTOBIRD_DATA``), never in the repository. Each has ``labels.csv`` (file,
';'-joined COCO categories, largest box area per category) and ``captions.csv`` (COCO's five captions per
photo, where the photo has them); ``coco-train`` also has ``boxes.csv`` (every instance, normalised centre and
size). A scene or people word is present when at least two of a photo's captions use it, the rule
``../shared/tools/eval_search.py`` scores search by.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from photobird import config
from photobird.models.words import EverydayWord, load_everyday

#: Captions that must use a word for the photo to have it.
CAPTION_VOTES = 2


@dataclass(frozen=True)
class Box:
    thing: int  # index into ``things()``
    cx: float
    cy: float
    w: float
    h: float


@dataclass
class PhotoSet:
    folder: Path
    files: list[str]
    things: np.ndarray  # (N, things) 0/1
    #: (N, scenes) 0/1, and which photos have captions at all (the others say nothing about scene words)
    scenes: np.ndarray
    has_captions: np.ndarray
    #: largest instance's share of the frame, per photo and thing (0 where absent)
    areas: np.ndarray
    boxes: dict[str, list[Box]] = field(default_factory=dict)

    def path(self, i: int) -> Path:
        return self.folder / "images" / self.files[i]


def things() -> list[EverydayWord]:
    """The everyday words taught by COCO categories, in COCO's order (the tail's per-position classes)."""
    return [w for w in load_everyday() if w.coco]


def scenes() -> list[EverydayWord]:
    """The scene and people words taught by captions."""
    return [w for w in load_everyday() if w.caption]


def load(name: str) -> PhotoSet:
    folder = config.shared_data_dir() / name
    coco = [w.coco for w in things()]
    with open(folder / "labels.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    files = [r["file"] for r in rows]
    index = {f: i for i, f in enumerate(files)}
    y = np.zeros((len(rows), len(coco)), np.float32)
    areas = np.zeros_like(y)
    for i, r in enumerate(rows):
        area = dict(a.split(":") for a in r.get("areas", "").split(";") if a)
        for c in filter(None, r["categories"].split(";")):
            y[i, coco.index(c)] = 1
            areas[i, coco.index(c)] = float(area.get(c, 0))
    captions: dict[str, list[str]] = defaultdict(list)
    if (folder / "captions.csv").exists():
        with open(folder / "captions.csv", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                captions[r["file"]].append(r["caption"].lower())
    words = scenes()
    patterns = [re.compile(r"\b(" + w.caption + r")\b") for w in words if w.caption]
    s = np.zeros((len(rows), len(words)), np.float32)
    has = np.zeros(len(rows), bool)
    for f, caps in captions.items():
        if f not in index:
            continue
        i = index[f]
        has[i] = True
        for j, rx in enumerate(patterns):
            s[i, j] = sum(bool(rx.search(c)) for c in caps) >= CAPTION_VOTES
    boxes: dict[str, list[Box]] = defaultdict(list)
    if (folder / "boxes.csv").exists():
        with open(folder / "boxes.csv", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                boxes[r["file"]].append(
                    Box(coco.index(r["category"]), float(r["cx"]), float(r["cy"]), float(r["w"]), float(r["h"]))
                )
    return PhotoSet(folder, files, y, s, has, areas, dict(boxes))
