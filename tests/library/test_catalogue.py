"""Correcting the catalogue: a user label belongs to a picture PhotoBird could read."""

from __future__ import annotations

import pytest

from photobird.library import catalogue as catalogue_mod
from photobird.library.schema import PhotoState
from photobird.library.store import Library

from .conftest import Catalogue, make_catalogue

pytestmark = pytest.mark.both_engines


def test_a_photo_that_failed_to_index_is_refused_a_label_and_the_rest_are_labelled(
    library: Library, catalogue: Catalogue
) -> None:
    failed = next(p for p in catalogue.photos if p["state"] == PhotoState.FAILED)
    indexed = [p for p in catalogue.photos if p["state"] == PhotoState.INDEXED][:2]

    result = catalogue_mod.set_user_label(library, [failed["id"], *(p["id"] for p in indexed)], "not-bird")

    assert result.labelled == 2
    assert [r.path for r in result.refused] == [failed["path"]]
    assert "could not be indexed" in result.refused[0].reason
    labels = catalogue_mod.user_labels(library)
    assert all(labels.get(p["content_hash"]) == "not-bird" for p in indexed)
    assert labels.get(failed["content_hash"]) == catalogue.user.get(failed["content_hash"])  # unchanged


def test_errors_lists_the_files_that_failed_then_the_photos_an_analyzer_failed_on(
    library: Library, catalogue: Catalogue
) -> None:
    """A photo the faces phase could not analyse stays searchable, and ``photobird errors`` says why."""
    from photobird.library.schema import PhotoAnalysis

    failed = sorted(p["path"] for p in catalogue.photos if p["state"] == PhotoState.FAILED)
    photo = next(p for p in catalogue.photos if p["state"] == PhotoState.INDEXED)
    with library.session() as s:
        s.add(PhotoAnalysis(photo_id=photo["id"], analyzer="faces", version="v1", error="cannot be read: Stale handle"))
    rows = catalogue_mod.errors(library)
    assert [path for path, _ in rows[: len(failed)]] == failed
    assert rows[len(failed) :] == [(photo["path"], "faces: cannot be read: Stale handle")]


def test_stats_count_the_photos_and_measure_the_catalogue_on_either_engine(library: Library) -> None:
    empty = catalogue_mod.stats(library)
    assert (empty.photos, empty.folders) == (0, 0) and empty.catalogue_bytes > 0
    cat = make_catalogue(library, 3000)
    stats = catalogue_mod.stats(library)
    assert stats.photos == sum(p["state"] != PhotoState.MISSING for p in cat.photos) and stats.folders == 1
    assert stats.catalogue_bytes > empty.catalogue_bytes  # (the folder's file, or the server's database)
