"""What the bird head learns from: the base data and the user's labelled photos.

- **Base data**: embeddings of the CIFAR-10 images the shipped head was trained on (the validation split
  carved from CIFAR-10's training set, 500 birds and 4,500 others), computed once by training/train_head.py
  and shipped in resources/models/base-embeddings.npz: the networks' features quantized to 8 bits, their
  verdicts and the image size (the embedding's last ``EXACT_DIMS`` entries, which the head reads directly)
  exact. Retraining always includes them, so the small-image expert stays what it was shipped as.
- **User data**: the stored embedding of every photo the user marked bird / not bird, plus the embeddings of
  a few augmented views of it (mirrored, cropped), computed once per labelled picture.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from sqlalchemy import delete, select

from photobird import config
from photobird.library.schema import Embedding, LabelView, Photo, PhotoState, UserLabel
from photobird.library.store import Library
from photobird.library.versions import ensure_embedder
from photobird.media.decode import DecodeError, decode
from photobird.models import files, nets
from photobird.models.runner import DECODE_SIDE, Models, shipped_manifest

BASE_FILE = "base-embeddings.npz"
#: Augmented views embedded for each labelled picture (the original is the stored embedding).
VIEWS = ("mirror", "crop", "mirror-crop")


class DataError(Exception):
    pass


# --------------------------------------------------------------------------------------------------------------
# base data


def quantize(x: np.ndarray) -> dict[str, np.ndarray]:
    lo = x.min(axis=0).astype(np.float32)
    hi = x.max(axis=0).astype(np.float32)
    scale = np.maximum(hi - lo, 1e-6) / 255.0
    q = np.clip(np.round((x - lo) / scale), 0, 255).astype(np.uint8)
    return {"q": q, "lo": lo, "scale": scale.astype(np.float32)}


def dequantize(q: np.ndarray, lo: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return q.astype(np.float32) * scale + lo


#: The embedding's last entries (the networks' verdicts and the image size) are stored unquantized.
EXACT_DIMS = len(nets.VERDICTS) + 1


def save_base(path: Path, x: np.ndarray, is_bird: np.ndarray, spec: list[dict], source: str) -> None:
    x = np.asarray(x, dtype=np.float32)
    np.savez_compressed(
        path,
        **quantize(x[:, :-EXACT_DIMS]),
        exact=x[:, -EXACT_DIMS:],
        is_bird=np.asarray(is_bird, bool),
        spec=np.array(json.dumps(spec, sort_keys=True)),
        source=np.array(source),
    )


@dataclass(frozen=True)
class BaseData:
    x: np.ndarray  # float32 (N, D)
    is_bird: np.ndarray  # bool (N,)
    source: str


def load_base(models: Models, path: Path | None = None) -> BaseData:
    path = path or config.models_dir() / BASE_FILE
    if not path.is_file():
        raise DataError(f"base data not found at {path}")
    if path.parent == config.models_dir():
        expected = shipped_manifest().get(path.name)
        if expected and files.sha256_of(path) != expected:
            raise DataError(f"{path}: sha256 does not match the shipped manifest; refusing it")
    with np.load(path, allow_pickle=False) as z:
        spec = json.loads(str(z["spec"]))
        if spec != json.loads(json.dumps(models.spec, sort_keys=True)):
            raise DataError(f"{path}: base data was embedded by other networks than the ones loaded")
        x = np.concatenate([dequantize(z["q"], z["lo"], z["scale"]), z["exact"]], axis=1)
        return BaseData(x, z["is_bird"].astype(bool), str(z["source"]))


# --------------------------------------------------------------------------------------------------------------
# the user's labelled photos


@dataclass
class Labelled:
    """One row per labelled picture (by content) that has an embedding from the current networks."""

    hashes: list[str]
    photo_ids: list[int]
    paths: list[str]
    is_bird: np.ndarray  # bool (N,)
    x: np.ndarray  # float32 (N, D): the stored embeddings

    def __len__(self) -> int:
        return len(self.hashes)

    @property
    def counts(self) -> tuple[int, int]:
        return int(self.is_bird.sum()), int((~self.is_bird).sum())


def labelled(library: Library, models: Models) -> Labelled:
    embedder_id = ensure_embedder(library, models)
    with library.session() as s:
        rows = s.execute(
            select(UserLabel.content_hash, UserLabel.label, Photo.id, Photo.path, Embedding.vector)
            .join(Photo, Photo.content_hash == UserLabel.content_hash)
            .join(Embedding, (Embedding.photo_id == Photo.id) & (Embedding.embedder_id == embedder_id))
            .where(Photo.state == PhotoState.INDEXED)
            .order_by(UserLabel.content_hash, Photo.id)
        ).all()
    seen: set[str] = set()
    hashes, ids, paths, ys, xs = [], [], [], [], []
    for h, label, pid, path, vec in rows:
        if h in seen:  # duplicates of one picture count once
            continue
        seen.add(h)
        hashes.append(h)
        ids.append(pid)
        paths.append(path)
        ys.append(label == "bird")
        xs.append(np.frombuffer(vec, dtype="<f2"))
    x = np.stack(xs).astype(np.float32) if xs else np.zeros((0, models.embedding_dim), np.float32)
    return Labelled(hashes, ids, paths, np.array(ys, dtype=bool), x)


def view_images(image: Image.Image) -> list[Image.Image]:
    """The augmented views of a photo, in ``VIEWS`` order."""
    mirror = ImageOps.mirror(image)
    w, h = image.size
    box = (round(w * 0.125), round(h * 0.125), round(w * 0.875), round(h * 0.875))
    return [mirror, image.crop(box), mirror.crop(box)]


def missing_views(library: Library, models: Models, hashes: list[str]) -> list[str]:
    embedder_id = ensure_embedder(library, models)
    with library.session() as s:
        have = set(
            s.scalars(
                select(LabelView.content_hash).where(
                    LabelView.embedder_id == embedder_id, LabelView.view == len(VIEWS) - 1
                )
            )
        )
    return [h for h in hashes if h not in have]


def embed_views_steps(
    library: Library, models: Models, hashes: list[str], paths: dict[str, str]
) -> Iterator[tuple[int, int]]:
    """Compute and store the augmented views of the given pictures, yielding (done, total)."""
    embedder_id = ensure_embedder(library, models)
    todo = missing_views(library, models, hashes)
    for i, h in enumerate(todo):
        try:
            image = decode(paths[h], min_side=DECODE_SIDE).image
        except (DecodeError, KeyError):
            yield i + 1, len(todo)
            continue
        emb, _, _ = models.embed([models.prepare(v) for v in view_images(image)])
        with library.session() as s:
            # in place of views another labelling of this picture wrote meanwhile (another window, a mark made
            # twice): the transaction starts by writing, so two of them take turns instead of colliding
            s.execute(delete(LabelView).where(LabelView.content_hash == h, LabelView.embedder_id == embedder_id))
            s.add_all(
                LabelView(content_hash=h, embedder_id=embedder_id, view=view, vector=vec.astype("<f2").tobytes())
                for view, vec in enumerate(emb)
            )
        yield i + 1, len(todo)


def embed_views_for_photos(library: Library, models: Models, photo_ids: list[int]) -> Iterator[tuple[int, int]]:
    """Right after the user labels photos: embed their augmented views now, so retraining needs no decoding."""
    with library.session() as s:
        rows = s.execute(
            select(Photo.content_hash, Photo.path)
            .join(UserLabel, UserLabel.content_hash == Photo.content_hash)
            .where(Photo.id.in_(photo_ids), Photo.state == PhotoState.INDEXED)
        ).all()
    paths = {h: p for h, p in rows}
    yield from embed_views_steps(library, models, list(paths), paths)


def stored_views(library: Library, models: Models, hashes: list[str]) -> dict[str, np.ndarray]:
    """content hash -> (n_views, D) float32, for the pictures whose views exist."""
    embedder_id = ensure_embedder(library, models)
    out: dict[str, list[np.ndarray]] = {}
    with library.session() as s:
        for i in range(0, len(hashes), 900):
            for h, _view, vec in s.execute(
                select(LabelView.content_hash, LabelView.view, LabelView.vector)
                .where(LabelView.embedder_id == embedder_id, LabelView.content_hash.in_(hashes[i : i + 900]))
                .order_by(LabelView.content_hash, LabelView.view)
            ):
                out.setdefault(h, []).append(np.frombuffer(vec, dtype="<f2"))
    return {h: np.stack(v).astype(np.float32) for h, v in out.items()}
