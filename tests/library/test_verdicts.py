"""Counting the photos a candidate bird model would judge differently, on a real indexed library."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from photobird.library import catalogue, scan, verdicts, versions
from photobird.library.index import index
from photobird.library.schema import Embedding, Photo, PhotoState
from photobird.library.store import Library
from photobird.models.runner import Models

from .conftest import copy_real
from .test_versions import copy_of_shipped

pytestmark = pytest.mark.both_engines


def test_changes_count_the_unlabelled_photos_both_ways(tmp_path: Path, library: Library, models: Models) -> None:
    photos = tmp_path / "photos"
    names = copy_real(photos, 4, 12)
    (photos / "broken.jpg").write_bytes(b"not a picture")  # indexed as failed: no embedding, not counted
    scan.add_folder(library, photos)
    index(library, models)
    versions.ensure_shipped(library, models)
    active = versions.active_version(library)
    labelled = catalogue.photo_id_for_path(library, str(photos / sorted(names)[0]))
    catalogue.set_user_label(library, [labelled], "not-bird")

    with library.session() as s:
        stored = dict(
            s.execute(
                select(Embedding.photo_id, Embedding.vector)
                .join(Photo, Photo.id == Embedding.photo_id)
                .where(Photo.state == PhotoState.INDEXED)
            ).all()
        )
    ids = sorted(set(stored) - {labelled})
    head = versions.load_head(library, active)
    vectors = np.stack([np.frombuffer(stored[i], dtype="<f2") for i in ids])
    scores = models.score(vectors, head)
    now = scores >= active.threshold
    assert 2 <= now.sum() <= len(ids) - 2

    # the active head saved with another threshold (so "bird" means something else under it): a lower one that
    # makes two of today's non-birds birds, a higher one that drops one of today's birds
    low, high = float(np.sort(scores[~now])[-2]), float(np.sort(scores[now])[1])
    found = {}
    for threshold in (low, high):
        candidate = copy_of_shipped(library, models, f"t{threshold}", threshold)
        comparison = verdicts.compare(library, models, candidate)
        assert comparison.photos == len(names) == len(stored)  # the broken file has no embedding
        for at in (threshold, 0.5, 0.9):
            new = scores >= at
            changes = comparison.at(at)
            assert (changes.become_bird, changes.stop_being_bird) == (int(np.sum(new & ~now)), int(np.sum(~new & now)))
        found[threshold] = comparison.at(threshold)
        assert comparison.at(active.threshold).changed == 0
    assert (found[low].become_bird, found[low].stop_being_bird) == (2, 0)
    assert (found[high].become_bird, found[high].stop_being_bird) == (0, 1)

    # a labelled photo never changes: it is a bird or not because the user said so
    weakest_bird = ids[int(np.flatnonzero(now)[np.argmin(scores[now])])]
    catalogue.set_user_label(library, [weakest_bird], "bird")
    assert verdicts.compare(library, models, candidate).at(high) == verdicts.VerdictChanges(len(stored), 0, 0)


def test_many_is_a_share_of_the_library_or_a_number() -> None:
    assert not verdicts.VerdictChanges(1000, 30, 20).many  # 50: 5% of 1000
    assert verdicts.VerdictChanges(1000, 30, 21).many
    assert verdicts.VerdictChanges(40, 2, 1).many  # 3 of 40 is 7.5%
    assert not verdicts.VerdictChanges(40, 2, 0).many
    assert verdicts.VerdictChanges(100_000, 51, 0).many  # far below 5%, but more than 50 photos
