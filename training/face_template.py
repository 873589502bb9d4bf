"""Measure where MTCNN's five landmarks sit in dlib's face chips (``align.TEMPLATE``), and check the result.

Development only: this script compares PhotoBird's face pipeline with two reference implementations that are
NOT PhotoBird dependencies and are not installed in its venv: dlib 20.0.1 (its HOG face detector, the CC0
5-point shape predictor ``shape_predictor_5_face_landmarks.dat`` from face_recognition_models,
``get_face_chip_details``/``get_face_chip`` and its face descriptor) and facenet-pytorch's MTCNN, which stands
in for PhotoBird's own MTCNN port. Point ``PYTHONPATH`` at a folder holding them::

    PYTHONPATH=/work/devlibs .venv/bin/python training/face_template.py

On every photo of ``../shared/data/faces-dev`` (LFW; the person is the face nearest the centre) it finds the
face with dlib (HOG detector, upsampled once, then the 5-point shape) and with MTCNN, keeps the faces both
agree on (boxes overlapping by IoU >= 0.4), maps MTCNN's landmarks into the chip dlib cuts for that face
(size 150, padding 0.25) and prints the per-coordinate median as ``TEMPLATE`` to paste into align.py. Then,
with the template align.py holds, it reports:

1. how far descriptors of PhotoBird's chips (``align.face_chip`` on MTCNN's points, then ``FaceDescriber``)
   are from dlib's own (``get_face_chip`` on dlib's 5 points, then dlib's descriptor), for the same faces;
2. the distances of same-person and different-person pairs with PhotoBird's chips, using labels.csv (a
   stranger, with an empty ``person``, is a different person from everyone), to choose a grouping threshold.

It writes nothing.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dlib  # development-only reference, see the module docstring
from facenet_pytorch import MTCNN  # development-only reference, see the module docstring

from photobird import config
from photobird.models.faces import align
from photobird.models.faces.describe import FaceDescriber, weights_path

SIZE, PADDING = 150, 0.25
POINTS = ["left eye centre", "right eye centre", "nose tip", "mouth, left corner", "mouth, right corner"]


@dataclass
class Face:
    file: str
    person: str
    image: np.ndarray
    mtcnn: np.ndarray  # (5, 2) MTCNN landmarks in the photo
    dlib_shape: dlib.full_object_detection | None  # dlib's 5 points, when dlib found the same face
    chip_from_image: np.ndarray | None  # 2 × 3, photo pixels → dlib's chip pixels


def dlib_chip_to_image(details: dlib.chip_details) -> np.ndarray:
    """dlib's map from chip pixels to photo pixels: chip corners (0,0), (cols-1,0), (cols-1,rows-1) go to the
    rect's corners rotated by ``angle`` about its centre (dlib's ``get_mapping_to_chip``; checked against
    ``extract_image_chip`` on a coordinate ramp)."""
    r = details.rect
    centre = np.array([(r.left() + r.right()) / 2, (r.top() + r.bottom()) / 2])
    cos, sin = math.cos(details.angle), math.sin(details.angle)
    rot = np.array([[cos, -sin], [sin, cos]])
    corners = np.array([[r.left(), r.top()], [r.right(), r.top()], [r.right(), r.bottom()]])
    image = (corners - centre) @ rot.T + centre
    chip = np.array([[0, 0, 1], [details.cols - 1, 0, 1], [details.cols - 1, details.rows - 1, 1]], float)
    return np.linalg.solve(chip, image).T


def invert(m: np.ndarray) -> np.ndarray:
    inv = np.linalg.inv(m[:, :2])
    return np.hstack([inv, -inv @ m[:, 2:]])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def nearest_centre(boxes: np.ndarray, shape: tuple[int, ...]) -> int:
    centres = (boxes[:, :2] + boxes[:, 2:4]) / 2
    return int(np.argmin(np.hypot(centres[:, 0] - shape[1] / 2, centres[:, 1] - shape[0] / 2)))


def find_faces(folder: Path, limit: int | None) -> list[Face]:
    models = weights_path().parent
    detector = dlib.get_frontal_face_detector()
    shaper = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
    mtcnn = MTCNN(keep_all=True, device="cpu")
    with open(folder / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))[:limit]
    faces = []
    for row in rows:
        image = np.asarray(Image.open(folder / row["file"]).convert("RGB"))
        boxes, _, points = mtcnn.detect(Image.fromarray(image), landmarks=True)
        if boxes is None:
            continue
        pick = nearest_centre(np.asarray(boxes, float), image.shape)
        box, landmarks = np.asarray(boxes[pick], float), np.asarray(points[pick], float)
        shape = matrix = None
        rects = list(detector(image, 1))
        if rects:
            rect_boxes = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], float)
            best = max(range(len(rects)), key=lambda i: iou(rect_boxes[i], box))
            if iou(rect_boxes[best], box) >= 0.4:
                shape = shaper(image, rects[best])
                matrix = invert(dlib_chip_to_image(dlib.get_face_chip_details(shape, SIZE, PADDING)))
        faces.append(Face(row["file"], row["person"], image, landmarks, shape, matrix))
    return faces


def measure_template(faces: list[Face]) -> np.ndarray:
    mapped = np.stack([f.mtcnn @ f.chip_from_image[:, :2].T + f.chip_from_image[:, 2] for f in faces])
    chip = np.median(mapped, axis=0)
    spread = np.median(np.abs(mapped - chip), axis=0)
    template = chip / SIZE * (1 + 2 * PADDING) - PADDING
    print(f"template from {len(faces)} faces (chip pixels; median absolute deviation in brackets):")
    for name, (x, y), (dx, dy) in zip(POINTS, chip, spread, strict=True):
        print(f"  {name:20s} x {x:7.2f} ({dx:.2f})  y {y:7.2f} ({dy:.2f})")
    print("TEMPLATE = np.array(\n    [")
    for name, (u, v) in zip(POINTS, template, strict=True):
        print(f"        [{u:.4f}, {v:.4f}],  # {name}")
    print("    ]\n)")
    return template


def percentiles(values: np.ndarray) -> str:
    return ", ".join(f"p{p} {np.percentile(values, p):.3f}" for p in (5, 25, 50, 75, 95))


def compare_with_dlib(faces: list[Face], describer: FaceDescriber) -> None:
    recogniser = dlib.face_recognition_model_v1(str(weights_path()))
    theirs = np.array(
        [recogniser.compute_face_descriptor(dlib.get_face_chip(f.image, f.dlib_shape, SIZE, PADDING)) for f in faces]
    )
    ours = describer.describe(np.stack([align.face_chip(f.image, f.mtcnn, SIZE, PADDING) for f in faces]))
    gap = np.linalg.norm(ours - theirs, axis=1)
    print(f"\nour chip + our descriptor vs dlib's chip + dlib's descriptor, {len(faces)} faces:")
    print(f"  distance median {np.median(gap):.4f}, p95 {np.percentile(gap, 95):.4f}, max {gap.max():.4f}")


def pair_distances(faces: list[Face], describer: FaceDescriber) -> None:
    descriptors = describer.describe(np.stack([align.face_chip(f.image, f.mtcnn, SIZE, PADDING) for f in faces]))
    dist = np.linalg.norm(descriptors[:, None] - descriptors[None], axis=2)
    people = np.array([f.person or f"stranger {i}" for i, f in enumerate(faces)])
    upper = np.triu(np.ones_like(dist, bool), 1)
    same_mask = upper & (people[:, None] == people[None])
    same, other = dist[same_mask], dist[upper & ~same_mask]
    print(f"\npairs over {len(faces)} faces: {same.size} same-person, {other.size} different-person")
    print(f"  same      {percentiles(same)}")
    print(f"  different {percentiles(other)}")
    for t in (0.40, 0.45, 0.50, 0.55, 0.60):
        print(f"  < {t:.2f}: same {np.mean(same < t):6.1%}   different {np.mean(other < t):7.3%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=config.shared_data_dir() / "faces-dev")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N photos of labels.csv")
    args = parser.parse_args()
    torch.manual_seed(0)
    faces = find_faces(args.data, args.limit)
    both = [f for f in faces if f.dlib_shape is not None]
    print(f"{len(faces)} photos with an MTCNN face, {len(both)} of them also found by dlib")
    template = measure_template(both)
    if np.abs(template - align.TEMPLATE).max() > 1e-3:
        print("align.TEMPLATE differs from this measurement: paste the one above and run again for the checks")
    describer = FaceDescriber(torch.device("cpu"))
    compare_with_dlib(both, describer)
    pair_distances(faces, describer)


if __name__ == "__main__":
    main()
