"""Bird-model versions in a library: the shipped head, the user's retrained heads, which one is active.

A version's weights live in the library's ``models/`` folder (the shipped one stays in the app's resources and
is recorded as ``shipped:<file>``); its sha256 is recorded when it is added and checked whenever it is loaded.
Activating a version re-scores every photo from its stored embedding, in one transaction, so search always
agrees with the active model and a failed re-score leaves the previous one active. An indexer may be writing
meanwhile (another thread, or another process): both sides settle which model is active under the catalogue's
write lock (``activate_steps`` here, ``index._Writer`` there), so every indexed photo has the active model's score.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.orm import Session

from photobird.library import keepsake
from photobird.library.schema import BirdScore, Embedder, Embedding, ModelVersion, Photo, PhotoState
from photobird.library.store import Library

if TYPE_CHECKING:  # the model files need torch: only what loads a head imports them, not ``models list``
    from photobird.models import files
    from photobird.models.runner import Models

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
    from photobird.models.runner import HEAD_FILE, load_shipped

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
    from photobird.models import files
    from photobird.models.runner import load_shipped

    if version.file.startswith(SHIPPED_PREFIX):
        head = load_shipped(version.file[len(SHIPPED_PREFIX) :], expect_arch="bird-head")
        if head.sha256 != version.sha256:
            raise files.ModelFileError(f"shipped head changed since {version.name} was recorded")
        return head
    return files.load(library.models_dir / version.file, expect_sha256=version.sha256, expect_arch="bird-head")


@keepsake.kept
def add_version(library: Library, head_path: Path, name: str, info: dict, embedder: str) -> ModelVersion:
    """Record a trained head file (already inside the library's models/ folder) as an inactive version."""
    from photobird.models import files

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


def _scorable(embedder_id: int, *columns: Any) -> Select:
    """The photos a bird model scores: indexed ones with an embedding from this embedder."""
    return (
        select(*columns)
        .join(Embedding, (Embedding.photo_id == Photo.id) & (Embedding.embedder_id == embedder_id))
        .where(Photo.state == PhotoState.INDEXED)
    )


def iter_embeddings(
    library: Library, embedder_id: int, chunk: int = 20000, photo_ids: list[int] | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(photo ids, float16 embeddings (n, dim)) in chunks, straight from the catalogue."""
    with library.session() as s:
        dim = s.get(Embedder, embedder_id).dim
        q = _scorable(embedder_id, Photo.id, Embedding.vector).order_by(Photo.id)
        if photo_ids is not None:
            q = q.where(Embedding.photo_id.in_(photo_ids))
        result = s.execute(q).yield_per(chunk)
        for part in result.partitions(chunk):
            ids = np.fromiter((r[0] for r in part), dtype=np.int64, count=len(part))
            vecs = np.frombuffer(b"".join(r[1] for r in part), dtype="<f2").reshape(len(part), dim)
            yield ids, vecs


@keepsake.kept
def activate_steps(
    library: Library, models: Models, version: ModelVersion, head: files.LoadedModel | None = None
) -> Iterator[RescoreProgress]:
    """Make ``version`` the active bird model: score every indexed photo from its stored embedding (no image
    is decoded), then swap scores and the active flag in one transaction, so a crash or a cancel before the
    end leaves the previous model active with all its scores.

    An indexer may commit photos meanwhile under the model that is still active (the app's watcher, or the app
    while ``photobird models use`` runs in another process). So the swap re-reads the catalogue under its write
    lock and scores there, from their stored embeddings, the photos indexed or re-indexed since they were read
    (their ``indexed_at`` is not the one read first); the indexer scores every batch with the model active
    inside its own write transaction (``index._Writer``), so a batch committed after the swap is its business.
    """
    head = head or load_head(library, version)
    models.check_head(head)
    embedder_id = ensure_embedder(library, models)
    # read before the embeddings: a photo re-indexed after this read has another stamp at the swap
    with library.session() as s:
        stamps = dict(s.execute(_scorable(embedder_id, Photo.id, Photo.indexed_at)).all())
    total = len(stamps)
    t0 = time.perf_counter()
    done = 0
    scores: dict[int, float] = {}
    for ids, vecs in iter_embeddings(library, embedder_id):
        scores.update(zip(ids.tolist(), models.score(vecs, head).tolist(), strict=True))
        done += len(ids)
        yield RescoreProgress(done, total, done / max(time.perf_counter() - t0, 1e-9))
    with library.session() as s:
        # the first statement writes: SQLite holds the write lock from here to the commit, so no indexer batch
        # commits in between and what is read below is the catalogue the new model takes over
        s.execute(update(ModelVersion).values(active=False))
        s.execute(update(ModelVersion).where(ModelVersion.id == version.id).values(active=True))
        s.execute(delete(BirdScore))
        current = s.execute(_scorable(embedder_id, Photo.id, Photo.indexed_at)).all()
        unchanged = {pid for pid, at in current if pid in scores and stamps.get(pid) == at}
        rows = [{"photo_id": pid, "model_id": version.id, "score": scores[pid]} for pid in sorted(unchanged)]
        rows += score_stored(s, models, head, version.id, embedder_id, [p for p, _ in current if p not in unchanged])
        for i in range(0, len(rows), 50000):
            s.execute(insert(BirdScore), rows[i : i + 50000])
    models.set_head(head)


def score_stored(
    s: Session, models: Models, head: files.LoadedModel, version_id: int, embedder_id: int, photo_ids: list[int]
) -> list[dict]:
    """``bird_scores`` rows by ``head`` for these photos, from their embeddings as ``s`` sees them: read inside a
    write transaction, they are the ones it is committing (an indexer's batch) or the newest (an activation).
    """
    rows: list[dict] = []
    for i in range(0, len(photo_ids), 10000):
        part = s.execute(
            select(Embedding.photo_id, Embedding.vector).where(
                Embedding.embedder_id == embedder_id, Embedding.photo_id.in_(photo_ids[i : i + 10000])
            )
        ).all()
        if not part:
            continue
        vectors = np.frombuffer(b"".join(v for _, v in part), dtype="<f2").reshape(len(part), -1)
        rows.extend(
            {"photo_id": pid, "model_id": version_id, "score": sc}
            for (pid, _), sc in zip(part, models.score(vectors, head).tolist(), strict=True)
        )
    return rows


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


@keepsake.kept
def delete_version(library: Library, version: ModelVersion) -> None:
    """Discard an inactive version: its row and its weights file (the shipped head is never deleted)."""
    if version.active:
        raise VersionError(f"{version.name} is the active model; make another one active first")
    if version.file.startswith(SHIPPED_PREFIX):
        raise VersionError("the shipped model cannot be deleted")
    with library.session() as s:
        s.execute(delete(ModelVersion).where(ModelVersion.id == version.id))
    (library.models_dir / version.file).unlink(missing_ok=True)
