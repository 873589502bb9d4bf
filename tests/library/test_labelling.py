"""A photo's words in a real catalogue: every word shown finds the photo, places come from GPS, and new word
heads reach an indexed library from stored data, without decoding a photo."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update

from photobird import config
from photobird.library import catalogue, scan
from photobird.library.index import Indexer, Phase, index
from photobird.library.schema import Embedder, Embedding, Photo, PhotoLabel, Word
from photobird.library.search import Searcher
from photobird.library.store import Library
from photobird.models.runner import Models
from photobird.models.words import WordKind

from .conftest import copy_real

pytestmark = pytest.mark.both_engines

#: A Nikon COOLPIX P6000 photo taken in Arezzo, Tuscany (its GPS tags say so).
GPS_PHOTO = "jpg/gps/DSCN0010.jpg"


def test_every_shown_word_finds_its_photo(tmp_path: Path, library: Library, models: Models) -> None:
    photos = tmp_path / "photos"
    copy_real(photos, 3, 9)
    for f in sorted(config.sample_photos_dir().iterdir())[:8]:
        if f.suffix.lower() in (".jpg", ".jpeg", ".webp"):
            shutil.copy2(f, photos / f.name)
    scan.add_folder(library, photos)
    index(library, models)
    searcher = Searcher(library)
    with library.session() as s:
        ids = list(s.scalars(select(Photo.id)))
    shown_words = 0
    for pid in ids:
        for word in catalogue.labels_of(library, pid):
            shown_words += 1
            assert pid in {h.photo_id for h in searcher.search(word)}, (catalogue.info(library, pid)["path"], word)
    assert shown_words > 3 * len(ids)
    # and the sidebar's words find as many photos as it says
    for c in catalogue.word_counts(library):
        assert searcher.count(c.word) == c.count, c


def test_a_gps_photo_is_found_by_its_city_and_country(tmp_path: Path, library: Library, models: Models) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy2(config.shared_data_dir() / "exif-samples" / GPS_PHOTO, photos / "holiday.jpg")
    copy_real(photos, 1, 2)  # no GPS
    scan.add_folder(library, photos)
    index(library, models)
    pid = catalogue.photo_id_for_path(library, photos / "holiday.jpg")
    assert catalogue.info(library, pid)["place"] == "Arezzo, Tuscany, Italy"
    searcher = Searcher(library)
    for query in ("arezzo", "tuscany", "italy", "Italy", "italy -bird"):
        assert [h.photo_id for h in searcher.search(query)] == [pid], query
    assert searcher.search("france") == []  # a place the library does not have is a file-name search: nothing
    words = {c.word: c for c in catalogue.word_counts(library)}
    assert words["italy"].kind == WordKind.PLACE and words["italy"].count == 1
    assert words["arezzo"].cover_photo_id == pid
    with library.session() as s:  # folded and alias forms are searchable, not shown
        hidden = set(s.scalars(select(Word.word).where(Word.kind == WordKind.PLACE.value, Word.hidden.is_(True))))
    assert not hidden & {"arezzo", "tuscany", "italy"}


def test_new_word_heads_relabel_the_library_without_decoding(tmp_path: Path, library: Library, models: Models) -> None:
    photos = tmp_path / "photos"
    copy_real(photos, 2, 4)
    shutil.copy2(config.shared_data_dir() / "exif-samples" / GPS_PHOTO, photos / "gps.jpg")
    scan.add_folder(library, photos)
    index(library, models)

    def words() -> dict[int, dict[str, float]]:
        with library.session() as s:
            ids = list(s.scalars(select(Photo.id)))
        return {pid: catalogue.labels_of(library, pid, min_p=0.0, shown_only=False) for pid in ids}

    before = words()
    # a library labelled by an older labeller: other words, an old key, no place
    with library.session() as s:
        s.execute(delete(PhotoLabel))
        s.execute(update(Photo).values(labels_key="an older labeller", place=None))
    catalogue.set_user_label(library, [next(iter(before))], "bird")
    summary = index(library, models)
    assert summary.relabelled == len(before) and summary.indexed == 0  # from stored data only
    assert words() == before
    assert catalogue.info(library, catalogue.photo_id_for_path(library, photos / "gps.jpg"))["place"]
    assert catalogue.user_labels(library)  # the user's own mark is untouched
    again = index(library, models)
    assert again.relabelled == 0 and again.indexed == 0
    with library.session() as s:
        assert s.scalar(select(func.count()).select_from(Photo).where(Photo.labels_key == "an older labeller")) == 0


def test_new_networks_reindex_an_existing_library_and_keep_its_labels(
    tmp_path: Path, library: Library, models: Models
) -> None:
    """A library indexed by other networks (an older PhotoBird) is brought up to date by the indexer, with
    progress, and the user's own marks survive."""
    photos = tmp_path / "photos"
    copy_real(photos, 2, 3)
    scan.add_folder(library, photos)
    index(library, models)
    with library.session() as s:
        ids = list(s.scalars(select(Photo.id)))
        old = Embedder(key="an older pair of networks", spec=[{"model": "efficientnet-lite0", "view": 224}], dim=1668)
        s.add(old)
        s.flush()
        s.execute(update(Photo).values(embedder_id=old.id, labels_key=None))
        s.execute(delete(Embedding))
    catalogue.set_user_label(library, ids[:1], "not-bird")
    phases = [p.phase for p in Indexer(library, models).run()]
    assert Phase.INDEXING in phases and phases[-1] == Phase.DONE
    with library.session() as s:
        assert s.scalar(select(func.count()).select_from(Embedding)) == len(ids)
        assert set(s.scalars(select(Photo.embedder_id))) != {old.id}
    assert catalogue.user_labels(library) and all(catalogue.labels_of(library, pid) for pid in ids)


def test_a_photos_labels_carry_its_date_however_they_are_written(
    tmp_path: Path, library: Library, models: Models
) -> None:
    """Search reads a word's photos tied at one probability newest first from the word's index, which holds a
    copy of each photo's date taken: indexing, a duplicate copy and relabelling each write it."""

    def out_of_step_and_dated() -> tuple[int, int]:
        with library.session() as s:
            labels = select(func.count()).select_from(PhotoLabel).join(Photo, Photo.id == PhotoLabel.photo_id)
            return (
                int(s.scalar(labels.where(PhotoLabel.taken_at.is_distinct_from(Photo.taken_at))) or 0),
                int(s.scalar(labels.where(PhotoLabel.taken_at.is_not(None))) or 0),
            )

    photos = tmp_path / "photos"
    copy_real(photos, 1, 2)
    shutil.copy2(config.shared_data_dir() / "exif-samples" / GPS_PHOTO, photos / "dated.jpg")
    scan.add_folder(library, photos)
    index(library, models)
    out_of_step, dated = out_of_step_and_dated()
    assert out_of_step == 0 and dated > 0  # (the GPS photo's words and places, with its EXIF date)

    (photos / "copies").mkdir()
    shutil.copy2(photos / "dated.jpg", photos / "copies" / "dated.jpg")
    assert index(library, models).relinked == 1
    assert out_of_step_and_dated() == (0, 2 * dated)

    with library.session() as s:
        n = s.execute(update(Photo).values(labels_key="an older labeller")).rowcount
    assert index(library, models).relabelled == n == 5
    assert out_of_step_and_dated() == (0, 2 * dated)
