"""Switching the active bird model while photos are being indexed: every photo ends with the active model's score.

Activation and indexing run in different threads or processes (the app's "Keep" beside its watcher, ``photobird
models use`` beside the app), so each test interleaves the two generators step by step on a real catalogue.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from photobird.library import scan, versions
from photobird.library.index import Indexer, Phase, index
from photobird.library.schema import BirdScore, Embedding, ModelVersion, Photo, PhotoState
from photobird.library.search import search
from photobird.library.store import Library
from photobird.models import files
from photobird.models.runner import HEAD_FILE, Models, load_shipped

from .conftest import copy_real

pytestmark = pytest.mark.both_engines


def copy_of_shipped(library: Library, models: Models, name: str, threshold: float) -> ModelVersion:
    """Another version to switch to: the shipped head saved in the library with another threshold, so it is
    another file (another sha256) and "bird" means something else under it."""
    head = load_shipped(HEAD_FILE, expect_arch="bird-head")
    path = library.models_dir / f"{name}.pt"
    files.save(path, dataclasses.replace(head.meta, version=name, threshold=threshold), head.module)
    return versions.add_version(library, path, name, {}, versions.embedder_key(models.spec))


def assert_scored_by_active_model(library: Library, models: Models) -> None:
    """Every indexed photo has exactly the active head's score of its stored embedding, and "bird" finds
    exactly the photos at or above the active threshold (no user labels in these libraries)."""
    active = versions.active_version(library)
    head = versions.load_head(library, active)
    with library.session() as s:
        indexed = set(s.scalars(select(Photo.id).where(Photo.state == PhotoState.INDEXED)))
        stored = dict(s.execute(select(Embedding.photo_id, Embedding.vector)).all())
        scores = dict(
            s.execute(select(BirdScore.photo_id, BirdScore.score).where(BirdScore.model_id == active.id)).all()
        )
    assert indexed and set(scores) == indexed
    ids = sorted(indexed)
    vectors = np.stack([np.frombuffer(stored[i], dtype="<f2") for i in ids])
    np.testing.assert_allclose([scores[i] for i in ids], models.score(vectors, head), atol=1e-5)
    birds = {i for i in ids if scores[i] >= active.threshold}
    assert 0 < len(birds) < len(ids)
    assert {h.photo_id for h in search(library, "bird")} == birds


def test_activating_in_the_middle_of_an_index_pass(tmp_path: Path, library: Library, models: Models) -> None:
    photos = tmp_path / "photos"
    copy_real(photos, 4, 12)
    scan.add_folder(library, photos)
    versions.ensure_shipped(library, models)
    other = copy_of_shipped(library, models, "other", threshold=0.05)
    # one model thread and small commits: the pass commits in several steps, so there is a middle to act in
    gen = Indexer(library, models, batch_size=4, commit_every=4, model_threads=1).run()
    activated_at = None
    for p in gen:
        if p.phase == Phase.INDEXING and 0 < p.done < p.total and activated_at is None:
            versions.activate(library, models, other)
            activated_at = p.done
    assert activated_at is not None, "the pass never stopped in the middle"
    assert versions.active_version(library).id == other.id
    assert_scored_by_active_model(library, models)


def test_photos_indexed_while_a_version_is_being_activated(tmp_path: Path, library: Library, models: Models) -> None:
    photos = tmp_path / "photos"
    first = sorted(copy_real(photos / "first", 2, 6))
    scan.add_folder(library, photos)
    index(library, models)
    other = copy_of_shipped(library, models, "other", threshold=0.05)
    steps = versions.activate_steps(library, models, other)
    next(steps)  # the photos indexed so far are scored by the new head; it is not active yet
    # meanwhile the indexer commits: new photos, copies of known ones, and a photo whose content changed
    copy_real(photos / "more", 4, 8)
    shutil.copy2(photos / "first" / first[1], photos / "first" / first[0])
    os.utime(photos / "first" / first[0], ns=(time.time_ns(), time.time_ns() + 10**9))
    summary = index(library, models)
    assert summary.indexed + summary.relinked == 4 + 8 + 1  # new, copies, changed
    for _ in steps:
        pass
    assert versions.active_version(library).id == other.id
    assert_scored_by_active_model(library, models)
