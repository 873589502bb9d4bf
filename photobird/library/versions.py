"""Bird-model versions in a library: the shipped head, the user's retrained heads, which one is active.

A version's weights live in the library's ``models/`` folder (the shipped one stays in the app's resources and
is recorded as ``shipped:<file>``); its sha256 is recorded when it is added and checked whenever it is loaded.
Activating a version re-scores every photo from its stored embedding, in one transaction, so search always
agrees with the active model and a failed re-score leaves the previous one active.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import delete, func, insert, select, update

from photobird.library.schema import BirdScore, Embedder, Embedding, ModelVersion, Photo, PhotoState
from photobird.library.store import Library
from photobird.models import files
from photobird.models.runner import HEAD_FILE, Models, load_shipped

SHIPPED_PREFIX = "shipped:"


class VersionError(Exception):
    pass


def embedder_key(spec: list[dict]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def ensure_embedder(library: Library, models: Models) -> int:
    key = embedder_key(models.spec)
    with library.session() as s:
        row = s.scalar(select(Embedder).where(Embedder.key == key))
        if row is None:
            row = Embedder(key=key, spec=models.spec, dim=models.embedding_dim)
            s.add(row)
            s.flush()
        return row.id


def ensure_shipped(library: Library, models: Models) -> ModelVersion:
    """Register the shipped head (once per shipped file) and make it active if nothing else is."""
    head = load_shipped(HEAD_FILE, expect_arch="bird-head")
    key = embedder_key(models.spec)
    name = f"shipped-{head.meta.version}-{head.sha256[:8]}"
    with library.session() as s:
        row = s.scalar(select(ModelVersion).where(ModelVersion.name == name))
        if row is None:
            row = ModelVersion(
                name=name,
                file=SHIPPED_PREFIX + HEAD_FILE,
                sha256=head.sha256,
                embedder_key=key,
                threshold=float(head.meta.threshold if head.meta.threshold is not None else 0.5),
                info={"metrics": head.meta.metrics, "training": head.meta.training, "shipped": True},
            )
            s.add(row)
            s.flush()
        has_active = s.scalar(
            select(func.count())
            .select_from(ModelVersion)
            .where(ModelVersion.active.is_(True), ModelVersion.embedder_key == key)
        )
        if not has_active:
            s.execute(update(ModelVersion).values(active=False))
            row.active = True
        return row


def active_version(library: Library) -> ModelVersion | None:
    with library.session() as s:
        return s.scalar(select(ModelVersion).where(ModelVersion.active.is_(True)))


def list_versions(library: Library) -> list[ModelVersion]:
    with library.session() as s:
        return list(s.scalars(select(ModelVersion).order_by(ModelVersion.id)))


def get_version(library: Library, name_or_id: str | int) -> ModelVersion:
    with library.session() as s:
        if isinstance(name_or_id, int) or str(name_or_id).isdigit():
            row = s.get(ModelVersion, int(name_or_id))
        else:
            row = s.scalar(select(ModelVersion).where(ModelVersion.name == str(name_or_id)))
        if row is None:
            raise VersionError(f"no model version {name_or_id!r} (see 'photobird models list')")
        return row


def load_head(library: Library, version: ModelVersion) -> files.LoadedModel:
    if version.file.startswith(SHIPPED_PREFIX):
        head = load_shipped(version.file[len(SHIPPED_PREFIX) :], expect_arch="bird-head")
        if head.sha256 != version.sha256:
            raise files.ModelFileError(f"shipped head changed since {version.name} was recorded")
        return head
    return files.load(library.models_dir / version.file, expect_sha256=version.sha256, expect_arch="bird-head")


def add_version(library: Library, head_path: Path, name: str, info: dict, embedder: str) -> ModelVersion:
    """Record a trained head file (already inside the library's models/ folder) as an inactive version."""
    loaded = files.load(head_path, expect_arch="bird-head")
    with library.session() as s:
        row = ModelVersion(
            name=name,
            file=str(Path(head_path).relative_to(library.models_dir)),
            sha256=loaded.sha256,
            embedder_key=embedder,
            threshold=float(loaded.meta.threshold or 0.5),
            active=False,
            info=info,
        )
        s.add(row)
        s.flush()
        return row


def next_version_name(library: Library) -> str:
    with library.session() as s:
        names = set(s.scalars(select(ModelVersion.name)))
    n = 1
    while f"v{n}" in names:
        n += 1
    return f"v{n}"


# --------------------------------------------------------------------------------------------------------------
# scoring from stored embeddings


@dataclass(frozen=True)
class RescoreProgress:
    done: int
    total: int
    rate: float


def iter_embeddings(
    library: Library, embedder_id: int, chunk: int = 20000, photo_ids: list[int] | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(photo ids, float16 embeddings (n, dim)) in chunks, straight from the catalogue."""
    with library.session() as s:
        dim = s.get(Embedder, embedder_id).dim
        q = (
            select(Embedding.photo_id, Embedding.vector)
            .join(Photo, Photo.id == Embedding.photo_id)
            .where(Embedding.embedder_id == embedder_id, Photo.state == PhotoState.INDEXED)
            .order_by(Embedding.photo_id)
        )
        if photo_ids is not None:
            q = q.where(Embedding.photo_id.in_(photo_ids))
        result = s.execute(q).yield_per(chunk)
        for part in result.partitions(chunk):
            ids = np.fromiter((r[0] for r in part), dtype=np.int64, count=len(part))
            vecs = np.frombuffer(b"".join(r[1] for r in part), dtype="<f2").reshape(len(part), dim)
            yield ids, vecs


def activate_steps(
    library: Library, models: Models, version: ModelVersion, head: files.LoadedModel | None = None
) -> Iterator[RescoreProgress]:
    """Make ``version`` the active bird model: score every indexed photo from its stored embedding (no image
    is decoded), then swap scores and the active flag in one transaction, so a crash or a cancel before the
    end leaves the previous model active with all its scores.
    """
    head = head or load_head(library, version)
    models.check_head(head)
    embedder_id = ensure_embedder(library, models)
    with library.session() as s:
        total = (
            s.scalar(
                select(func.count())
                .select_from(Embedding)
                .join(Photo, Photo.id == Embedding.photo_id)
                .where(Embedding.embedder_id == embedder_id, Photo.state == PhotoState.INDEXED)
            )
            or 0
        )
    t0 = time.perf_counter()
    done = 0
    rows: list[dict] = []
    for ids, vecs in iter_embeddings(library, embedder_id):
        scores = models.score(vecs, head)
        rows.extend(
            {"photo_id": i, "model_id": version.id, "score": sc}
            for i, sc in zip(ids.tolist(), scores.tolist(), strict=True)
        )
        done += len(ids)
        yield RescoreProgress(done, total, done / max(time.perf_counter() - t0, 1e-9))
    with library.session() as s:
        s.execute(delete(BirdScore))
        for i in range(0, len(rows), 50000):
            s.execute(insert(BirdScore), rows[i : i + 50000])
        s.execute(update(ModelVersion).values(active=False))
        s.execute(update(ModelVersion).where(ModelVersion.id == version.id).values(active=True))
    models.set_head(head)


def activate(library: Library, models: Models, version: ModelVersion) -> int:
    """Make ``version`` the active bird model; returns how many photos were re-scored."""
    n = 0
    for p in activate_steps(library, models, version):
        n = p.done
    return n


def active_head(library: Library, models: Models) -> tuple[ModelVersion, files.LoadedModel]:
    """The library's active version and its weights, registering the shipped head on first use."""
    ensure_shipped(library, models)
    version = active_version(library)
    if version is None:
        raise VersionError("no active bird model")
    return version, load_head(library, version)


def delete_version(library: Library, version: ModelVersion) -> None:
    """Discard an inactive version: its row and its weights file (the shipped head is never deleted)."""
    if version.active:
        raise VersionError(f"{version.name} is the active model; make another one active first")
    if version.file.startswith(SHIPPED_PREFIX):
        raise VersionError("the shipped model cannot be deleted")
    with library.session() as s:
        s.execute(delete(ModelVersion).where(ModelVersion.id == version.id))
    (library.models_dir / version.file).unlink(missing_ok=True)
