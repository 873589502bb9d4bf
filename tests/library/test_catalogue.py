"""Correcting the catalogue: a user label belongs to a picture PhotoBird could read."""

from __future__ import annotations

from photobird.library import catalogue as catalogue_mod
from photobird.library.schema import PhotoState
from photobird.library.store import Library

from .conftest import Catalogue


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
