"""CIFAR-10 read straight from the shared JPEG archive.

The archive holds ``train/<class>/NNNN.jpg`` and ``test/<class>/NNNN.jpg``. Decoding 60,000 tiny JPEGs takes a
few seconds, so the decoded arrays are cached as one ``.npz`` beside the other recomputable things, keyed by
the archive's size and mtime so a different archive is never served from a stale cache.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from photobird import config

CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
BIRD = CLASSES.index("bird")


@dataclass(frozen=True)
class Split:
    """One split of CIFAR-10: ``images`` is (N, 32, 32, 3) uint8 RGB, ``labels`` (N,) int64 class indices."""

    images: np.ndarray
    labels: np.ndarray
    names: tuple[str, ...]  # archive member names, for writing the images back out as files

    def __len__(self) -> int:
        return len(self.labels)


def _cache_path(archive: Path) -> Path:
    st = archive.stat()
    return config.cache_dir() / "cifar10" / f"cifar10-{st.st_size}-{int(st.st_mtime)}.npz"


def _decode_archive(archive: Path) -> dict[str, Split]:
    buckets: dict[str, list[tuple[str, np.ndarray, int]]] = {"train": [], "test": []}
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith(".jpg"):
                continue
            parts = Path(member.name).parts
            split, cls = parts[-3], parts[-2]
            if split not in buckets or cls not in CLASSES:
                continue
            data = tar.extractfile(member)
            assert data is not None
            with Image.open(io.BytesIO(data.read())) as im:
                arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
            if arr.shape != (32, 32, 3):
                raise ValueError(f"{member.name}: expected a 32x32 RGB image, got {arr.shape}")
            buckets[split].append((member.name, arr, CLASSES.index(cls)))
    out = {}
    for split, items in buckets.items():
        items.sort(key=lambda t: t[0])
        out[split] = Split(
            images=np.stack([a for _, a, _ in items]),
            labels=np.array([c for _, _, c in items], dtype=np.int64),
            names=tuple(n for n, _, _ in items),
        )
    return out


def load(archive: Path | None = None) -> dict[str, Split]:
    """Both splits, ``{"train": Split, "test": Split}``, decoded once and then served from the cache."""
    archive = Path(archive) if archive else config.cifar_archive()
    if not archive.is_file():
        raise FileNotFoundError(
            f"CIFAR-10 archive not found at {archive}; set PHOTOBIRD_CIFAR or PHOTOBIRD_DATA to point at it"
        )
    cache = _cache_path(archive)
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            return {
                s: Split(z[f"{s}_images"], z[f"{s}_labels"], tuple(str(n) for n in z[f"{s}_names"]))
                for s in ("train", "test")
            }
    splits = _decode_archive(archive)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        **{f"{s}_images": sp.images for s, sp in splits.items()},
        **{f"{s}_labels": sp.labels for s, sp in splits.items()},
        **{f"{s}_names": np.array(sp.names) for s, sp in splits.items()},
    )
    tmp.replace(cache)
    return splits


def validation_split(split: Split, fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) of a stratified split carved from ``split``.

    Thresholds and model choices are made on the validation part; the test split only reports.
    """
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for c in range(len(CLASSES)):
        idx = np.flatnonzero(split.labels == c)
        rng.shuffle(idx)
        n_val = round(len(idx) * fraction)
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))
