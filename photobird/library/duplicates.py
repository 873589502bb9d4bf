"""Duplicates and similar photos, from what the catalogue already holds: content hashes, perceptual hashes
(``media.looks``) and the networks' embeddings. No photo is decoded.

- **Exact** copies share a content hash.
- **Similar** photos (the same picture resized, re-encoded, brightened, lightly cropped) are found by looks and
  confirmed by content. A cropped copy's whole-picture hash is close to one of its original's crop-window hashes;
  a resized or re-encoded one's is close to the whole-picture hash itself. Candidates come from multi-index
  hashing (two hashes within 7 bits share a 16-bit quarter give or take one bit; a crop's window agrees on a
  whole quarter), so finding them is sorting, not comparing every pair. A candidate is kept when its hashes are
  near *and* the networks saw the same things (cosine of their pooled features): windows make chance matches
  between unrelated photos likely in a large library, and two photos of the same kind of scene look alike to
  the networks but not to the hashes.

Groups are the connected photos; the photo suggested to keep comes first (``keeper_order``: the original).

"More like this" (``SimilarIndex``) ranks every photo by the cosine of its centred pooled features to one photo's:
a random projection to ``PROJECTED_DIM`` numbers keeps the whole library in memory and a query a
matrix-vector product; the best few hundred are re-ranked with the stored full features.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select

from photobird.library.schema import AnalyzerKind, Embedder, Embedding, Photo, PhotoAnalysis, PhotoLooks, PhotoState
from photobird.library.store import Library
from photobird.media import looks

#: Hashes at most this far apart (of 64 bits) and features this alike: the same picture. Measured on 60 photos with
#: 2-3 variants among 150 others (real-photos and everyday-dev): variants were at most 6 bits apart and a half-size
#: copy's features as low as 0.80 alike (the networks see a smaller picture); no unrelated pair was within 6 bits,
#: and COCO scenes of the same kind were up to 0.77 alike.
NEAR_BITS = 6
NEAR_COSINE = 0.70
#: Further apart by looks (burst shots, heavier edits), the networks must agree more.
FAR_BITS = 12
FAR_COSINE = 0.90
#: "More like this" keeps this many numbers per photo in memory, and re-ranks this many with the full features.
PROJECTED_DIM = 128
RERANK = 300

_QUARTER = np.uint64(0xFFFF)


class GroupKind(enum.StrEnum):
    EXACT = "exact"  # byte-identical files
    SIMILAR = "similar"  # the same picture, changed


@dataclass(frozen=True)
class GroupPhoto:
    id: int
    path: str
    width: int | None
    height: int | None
    size: int
    taken_at: dt.datetime | None
    mtime_ns: int
    content_hash: str | None

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)


@dataclass(frozen=True)
class Group:
    kind: GroupKind
    #: The suggested keeper first.
    photos: list[GroupPhoto]


def keeper_order(photos: Iterable[GroupPhoto]) -> list[GroupPhoto]:
    """The original first: the most pixels (not a reduced copy), then one with the camera's date (an editor that
    re-saves a photo often drops it), then the oldest file (an edit or a copy is newer), then the largest (the
    least compressed), then the shortest name (``IMG_1.jpg``, not ``IMG_1 (1).jpg``)."""
    return sorted(
        photos,
        key=lambda p: (-p.pixels, p.taken_at is None, p.mtime_ns, -p.size, len(os.path.basename(p.path)), p.path),
    )


def _feature_dim(library: Library, embedder_id: int) -> int:
    """The pooled features are the embedding's first part (``runner.embedding_spec``): what the photo shows,
    without the image size or the models' verdicts, which a resized copy changes."""
    with library.session() as s:
        spec = s.get(Embedder, embedder_id).spec
    return int(spec[0]["dim"])


def _features(library: Library, photo_ids: list[int]) -> dict[int, np.ndarray]:
    """Unit-length pooled features of these photos (float32), read in chunks: only the embedding's first part
    leaves the database (``substr`` on the blob, in SQLite and PostgreSQL alike)."""
    out: dict[int, np.ndarray] = {}
    dims: dict[int, int] = {}
    with library.connect() as conn:
        for eid in conn.execute(select(Embedder.id)).scalars():
            dims[eid] = _feature_dim(library, eid)
        for eid, dim in dims.items():
            for start in range(0, len(photo_ids), 500):
                rows = conn.execute(
                    select(Embedding.photo_id, func.substr(Embedding.vector, 1, 2 * dim))
                    .join(Photo, (Photo.id == Embedding.photo_id) & (Photo.embedder_id == Embedding.embedder_id))
                    .where(Embedding.embedder_id == eid, Embedding.photo_id.in_(photo_ids[start : start + 500]))
                ).all()
                if not rows:
                    continue
                vecs = np.frombuffer(b"".join(blob for _, blob in rows), dtype="<f2").reshape(len(rows), dim)
                vecs = vecs.astype(np.float32)
                vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)
                out.update(zip((pid for pid, _ in rows), vecs, strict=True))
    return out


def _buckets(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """16-bit keys in order (a stable sort of 16-bit integers is a radix sort), with where each value's run
    starts and how long it is: a lookup is two array reads, not a binary search."""
    order = np.argsort(keys, kind="stable")
    counts = np.bincount(keys, minlength=1 << 16)
    return order, np.cumsum(counts) - counts, counts


def _join(queries: np.ndarray, buckets: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Every (query index, key index) whose values are equal; ``buckets`` is the keys' ``_buckets``."""
    order, starts, counts = buckets
    lo, n = starts[queries], counts[queries]
    total = int(n.sum())
    if total == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    q = np.repeat(np.arange(len(queries)), n)
    offset = np.repeat(lo - (np.cumsum(n) - n), n)
    return q, order[np.arange(total) + offset]


def near_pairs(hashes: np.ndarray, max_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i < j) of rows of ``hashes`` (n, windows) where one's whole-picture hash is within ``max_bits`` of a
    hash of the other, and those bits (the fewest found), as ``(pairs (m, 2), bits (m,))``.

    Multi-index hashing: a candidate shares a 16-bit quarter with the other's hash exactly (for any window), or
    within one bit (whole-picture hashes: two of them up to 7 bits apart always do). Each candidate is measured
    on the one hash it matched, and only the near ones are kept, so no step holds every candidate at once."""
    n, windows = hashes.shape
    whole = hashes[:, 0]
    flat = hashes.ravel()  # entry e: photo e // windows, window e % windows
    rows, cols, dists = [], [], []

    def keep(i: np.ndarray, j: np.ndarray, against: np.ndarray) -> None:
        bits = np.bitwise_count(whole[i] ^ against).astype(np.int64)
        near = (bits <= max_bits) & (i != j)
        rows.append(i[near])
        cols.append(j[near])
        dists.append(bits[near])

    for quarter in range(4):
        shift = np.uint64(16 * quarter)
        key = ((whole >> shift) & _QUARTER).astype(np.uint16)
        i, e = _join(key, _buckets(((flat >> shift) & _QUARTER).astype(np.uint16)))
        keep(i, e // windows, flat[e])
        by_key = _buckets(key)
        for b in range(16):
            i, j = _join(key ^ np.uint16(1 << b), by_key)
            keep(i, j, whole[j])
    i, j, bits = np.concatenate(rows), np.concatenate(cols), np.concatenate(dists)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    order = np.lexsort((bits, lo * n + hi))
    codes = (lo * n + hi)[order]
    first = np.unique(codes, return_index=True)[1]
    return np.stack([lo[order][first], hi[order][first]], 1), bits[order][first]


def same_picture(bits: np.ndarray, cosine: np.ndarray) -> np.ndarray:
    """The rule both signals must pass (``NEAR_*``, ``FAR_*``)."""
    return ((bits <= NEAR_BITS) & (cosine >= NEAR_COSINE)) | ((bits <= FAR_BITS) & (cosine >= FAR_COSINE))


class _Sets:
    """Union-find over row numbers."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


_PHOTO_COLUMNS = (
    Photo.id,
    Photo.path,
    Photo.width,
    Photo.height,
    Photo.size,
    Photo.taken_at,
    Photo.mtime_ns,
    Photo.content_hash,
)


def find_groups(library: Library) -> list[Group]:
    """Every group of exact copies and similar photos in the library, largest first."""
    indexed = Photo.state == PhotoState.INDEXED
    with library.connect() as conn:
        photos = conn.execute(select(Photo.id, Photo.content_hash).where(indexed).order_by(Photo.id)).all()
        stored = dict(conn.execute(select(PhotoLooks.photo_id, PhotoLooks.hashes).join(Photo).where(indexed)).all())
    # one row per picture (content hash): its copies join whatever it joins
    pictures: dict[str, list[int]] = {}
    for pid, content in photos:
        pictures.setdefault(content or f"photo:{pid}", []).append(pid)
    keys = list(pictures)
    sets = _Sets(len(keys))
    width = 8 * len(looks.WINDOWS)
    # each picture by its first copy with hashes of this version (another version's are made again meanwhile)
    hashed, first = [], []
    for k, key in enumerate(keys):
        pid = next((pid for pid in pictures[key] if len(stored.get(pid, b"")) == width), None)
        if pid is not None:
            hashed.append(k)
            first.append(pid)
    if len(hashed) > 1:
        matrix = looks.from_bytes(b"".join(stored[pid] for pid in first)).reshape(len(first), len(looks.WINDOWS))
        near, bits = near_pairs(matrix, FAR_BITS)
        rows, compact = np.unique(near, return_inverse=True)
        compact = compact.reshape(near.shape)
        feats = _features(library, [first[k] for k in rows.tolist()])
        dim = len(next(iter(feats.values()))) if feats else 0
        matrix_f = np.zeros((len(rows), dim), np.float32)  # a photo without features matches nothing
        for c, k in enumerate(rows.tolist()):
            v = feats.get(first[k])
            if v is not None and len(v) == dim:  # another embedder's (a library half re-indexed): no match
                matrix_f[c] = v
        cosine = np.einsum("ij,ij->i", matrix_f[compact[:, 0]], matrix_f[compact[:, 1]])
        for a, b in near[same_picture(bits, cosine)].tolist():
            sets.union(hashed[a], hashed[b])
    members: dict[int, list[int]] = {}
    for k in range(len(keys)):
        members.setdefault(sets.find(k), []).append(k)
    found = [ks for ks in members.values() if len(ks) > 1 or len(pictures[keys[ks[0]]]) > 1]
    details = _details(library, [pid for ks in found for k in ks for pid in pictures[keys[k]]])
    groups = [
        Group(
            GroupKind.EXACT if len(ks) == 1 else GroupKind.SIMILAR,
            keeper_order(details[pid] for k in ks for pid in pictures[keys[k]] if pid in details),
        )
        for ks in found
    ]
    groups = [g for g in groups if len(g.photos) > 1]
    groups.sort(key=lambda g: (-len(g.photos), g.photos[0].path))
    return groups


def unhashed(library: Library) -> int:
    """Indexed photos without perceptual hashes of this version (a library indexed before they were kept, until
    its next index): only their exact copies can be found."""
    with library.connect() as conn:
        hashed = (
            select(PhotoAnalysis.photo_id)
            .where(
                PhotoAnalysis.photo_id == Photo.id,
                PhotoAnalysis.analyzer == AnalyzerKind.LOOKS.value,
                PhotoAnalysis.version == looks.VERSION,
            )
            .exists()
        )
        return int(conn.execute(select(func.count()).where(Photo.state == PhotoState.INDEXED, ~hashed)).scalar() or 0)


def _details(library: Library, photo_ids: list[int]) -> dict[int, GroupPhoto]:
    out: dict[int, GroupPhoto] = {}
    with library.connect() as conn:
        for start in range(0, len(photo_ids), 500):
            rows = conn.execute(select(*_PHOTO_COLUMNS).where(Photo.id.in_(photo_ids[start : start + 500]))).all()
            out.update((r[0], GroupPhoto(*r)) for r in rows)
    return out


def _main_embedder(library: Library) -> int | None:
    """The embedder most indexed photos have (all of them, except while a new one re-indexes the library)."""
    with library.connect() as conn:
        row = conn.execute(
            select(Photo.embedder_id, func.count())
            .where(Photo.state == PhotoState.INDEXED, Photo.embedder_id.is_not(None))
            .group_by(Photo.embedder_id)
            .order_by(func.count().desc())
            .limit(1)
        ).first()
    return None if row is None else int(row[0])


class SimilarIndex:
    """Every indexed photo's pooled features, centred on the library's mean, unit length, projected to
    ``PROJECTED_DIM`` numbers: built once (a few seconds at 100,000 photos), then each query is one
    matrix-vector product and a re-rank of the best ``RERANK`` with their stored full features."""

    def __init__(self, ids: np.ndarray, projected: np.ndarray, mean: np.ndarray, projection: np.ndarray) -> None:
        self.ids = ids
        self.projected = projected
        self.mean = mean
        self.projection = projection
        self._row = {int(pid): k for k, pid in enumerate(ids.tolist())}

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, photo_id: int) -> bool:
        return photo_id in self._row

    @classmethod
    def build(cls, library: Library, chunk: int = 20000) -> SimilarIndex:
        embedder_id = _main_embedder(library)
        if embedder_id is None:
            return cls(np.empty(0, np.int64), np.empty((0, PROJECTED_DIM), np.float32), np.zeros(0), np.zeros(0))
        dim = _feature_dim(library, embedder_id)
        # Gaussian, so cosines are kept up to a small error (Johnson-Lindenstrauss); seeded, so the same
        # photo projects to the same numbers in every session
        rng = np.random.default_rng(0)
        projection = (rng.standard_normal((dim, PROJECTED_DIM)) / np.sqrt(PROJECTED_DIM)).astype(np.float32)
        id_parts, unit_parts = [], []
        query = (
            select(Embedding.photo_id, func.substr(Embedding.vector, 1, 2 * dim))  # the pooled features only
            .join(Photo, (Photo.id == Embedding.photo_id) & (Photo.embedder_id == Embedding.embedder_id))
            .where(Photo.state == PhotoState.INDEXED, Embedding.embedder_id == embedder_id)
            .order_by(Embedding.photo_id)
        )
        with library.connect() as conn:
            for part in conn.execute(query).yield_per(chunk).partitions(chunk):
                feats = np.frombuffer(b"".join(r[1] for r in part), dtype="<f2").reshape(len(part), dim)
                feats = feats.astype(np.float32)
                feats /= np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-9)
                id_parts.append(np.fromiter((r[0] for r in part), dtype=np.int64, count=len(part)))
                unit_parts.append(feats.astype(np.float16))  # half the memory while the mean is not yet known
        if not id_parts:
            return cls(np.empty(0, np.int64), np.empty((0, PROJECTED_DIM), np.float32), np.zeros(dim), projection)
        mean = sum(u.astype(np.float32).sum(0) for u in unit_parts) / sum(len(u) for u in unit_parts)
        projected = []
        for unit in unit_parts:
            centred = unit.astype(np.float32) - mean
            centred /= np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-9)
            projected.append(centred @ projection)
        return cls(np.concatenate(id_parts), np.concatenate(projected), mean.astype(np.float32), projection)

    def _centred(self, feats: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        out = {}
        for pid, v in feats.items():
            if len(v) == len(self.mean):
                c = v - self.mean
                out[pid] = c / max(float(np.linalg.norm(c)), 1e-9)
        return out

    def query(self, library: Library, photo_id: int, limit: int = 50) -> list[tuple[int, float]]:
        """The photos most like ``photo_id`` (not itself), best first, with their cosine to it; empty when the
        photo is not in the index (not indexed, or indexed after the index was built)."""
        row = self._row.get(photo_id)
        if row is None:
            return []
        scores = self.projected @ self.projected[row]
        scores[row] = -np.inf
        keep = min(len(scores) - 1, max(RERANK, limit))
        if keep <= 0:
            return []
        best = np.argpartition(-scores, keep - 1)[:keep]
        ids = [int(i) for i in self.ids[best].tolist()]
        full = self._centred(_features(library, [photo_id, *ids]))
        target = full.get(photo_id)
        if target is None:
            return []
        ranked = sorted(((float(full[i] @ target), i) for i in ids if i in full), reverse=True)
        return [(i, c) for c, i in ranked[:limit]]
