"""Indexing real photos into a real SQLite catalogue: results, re-runs, moves, duplicates, one writer."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select, text

from photobird.library import catalogue, scan
from photobird.library.db.engines import EngineKind
from photobird.library.index import Indexer, Phase, index
from photobird.library.schema import Embedding, Photo, PhotoLabel, PhotoState
from photobird.library.store import Library, LibraryBusy

from .conftest import copy_real, reopened

pytestmark = pytest.mark.both_engines


def count(lib: Library, model, *where) -> int:
    with lib.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_index_real_photos_stores_everything(tmp_path: Path, library: Library, models) -> None:
    photos = tmp_path / "photos"
    names = copy_real(photos, 3, 5)
    scan.add_folder(library, photos)
    summary = index(library, models)
    assert summary.indexed == 8 and summary.failed == 0
    assert count(library, Photo, Photo.state == PhotoState.INDEXED) == 8
    assert count(library, Embedding) == 8
    for name in names:
        pid = catalogue.photo_id_for_path(library, photos / name)
        info = catalogue.info(library, pid)
        assert info["state"] == "indexed"
        assert info["width"] and info["height"]
        assert len(info["content_hash"]) == 64
        assert Path(info["thumbnail"]).is_file()
        with Image.open(info["thumbnail"]) as thumb:
            assert max(thumb.size) == 256
        assert info["labels"], name
        assert 0.0 <= info["bird"] <= 1.0
        assert info["user_label"] is None
    with library.session() as s:
        vec = s.scalar(select(Embedding.vector).limit(1))
    assert len(vec) == models.embedding_dim * 2  # float16

    again = index(library, models)
    assert again.indexed == 0 and again.unchanged == 8


def test_changed_file_is_reindexed_and_deleted_one_removed(tmp_path: Path, library: Library, models) -> None:
    photos = tmp_path / "photos"
    names = sorted(copy_real(photos, 1, 3))
    scan.add_folder(library, photos)
    index(library, models)
    # replace one photo's content with another picture, delete another
    shutil.copy2(photos / names[1], photos / names[0])
    os.utime(photos / names[0], ns=(time.time_ns(), time.time_ns() + 10**9))
    (photos / names[2]).unlink()
    summary = index(library, models)
    assert summary.removed == 1
    assert summary.indexed + summary.relinked == 1
    assert catalogue.photo_id_for_path(library, photos / names[2]) is None
    a = catalogue.info(library, catalogue.photo_id_for_path(library, photos / names[0]))
    b = catalogue.info(library, catalogue.photo_id_for_path(library, photos / names[1]))
    assert a["content_hash"] == b["content_hash"]
    assert a["labels"] == b["labels"]


def test_label_survives_move_and_rename_to_another_folder(tmp_path: Path, library: Library, models) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    names = sorted(copy_real(a, 2, 2))
    b.mkdir()
    scan.add_folder(library, a)
    scan.add_folder(library, b)
    index(library, models)
    old = photo = a / names[0]
    pid = catalogue.photo_id_for_path(library, photo)
    catalogue.set_user_label(library, [pid], "not-bird")
    before = catalogue.info(library, pid)

    new = b / "renamed in another folder.jpeg"
    shutil.move(old, new)
    summary = index(library, models)
    assert summary.relinked == 1 and summary.indexed == 0  # re-linked by content hash, not decoded again

    assert catalogue.photo_id_for_path(library, old) is None
    new_id = catalogue.photo_id_for_path(library, new)
    assert new_id == pid  # the same row, so the same results
    after = catalogue.info(library, new_id)
    assert after["user_label"] == "not-bird"
    assert after["bird"] == pytest.approx(before["bird"])
    assert after["labels"] == before["labels"]
    assert after["folder"] == str(b)
    assert count(library, Photo) == 4  # no duplicate row
    with library.session() as s:
        assert (
            s.scalar(select(func.count()).select_from(Photo).where(Photo.content_hash == before["content_hash"])) == 1
        )


def test_duplicate_copy_shares_results_without_decoding(tmp_path: Path, library: Library, models) -> None:
    photos = tmp_path / "photos"
    names = sorted(copy_real(photos, 1, 1))
    scan.add_folder(library, photos)
    index(library, models)
    pid = catalogue.photo_id_for_path(library, photos / names[0])
    catalogue.set_user_label(library, [pid], "bird")
    (photos / "copies").mkdir()
    shutil.copy2(photos / names[0], photos / "copies" / "copy.jpg")
    summary = index(library, models)
    assert summary.relinked == 1 and summary.indexed == 0
    copy = catalogue.info(library, catalogue.photo_id_for_path(library, photos / "copies" / "copy.jpg"))
    orig = catalogue.info(library, pid)
    assert copy["user_label"] == "bird"  # the label belongs to the picture
    assert copy["labels"] == orig["labels"] and copy["bird"] == pytest.approx(orig["bird"])
    all_words = catalogue.labels_of(library, pid, min_p=0.0, shown_only=False)
    assert count(library, PhotoLabel, PhotoLabel.photo_id == copy["id"]) == len(all_words) >= len(orig["labels"])


def test_skips_hidden_library_and_non_images(tmp_path: Path, models) -> None:
    root = tmp_path / "photos"
    copy_real(root, 0, 1)
    (root / ".hidden").mkdir()
    copy_real(root / ".hidden", 0, 1)
    (root / "notes.txt").write_text("not a photo")
    lib = Library(root / "inner-library")  # a library kept inside a watched folder is never indexed
    copy_real(lib.root / "stray", 0, 1)
    (root / "loop").symlink_to(root, target_is_directory=True)  # a symlink loop must not hang the scan
    scan.add_folder(lib, root)
    summary = index(lib, models)
    assert summary.indexed == 1
    assert count(lib, Photo) == 1


@pytest.mark.sqlite_only("the single-indexer lock: on PostgreSQL indexers share the work (test_indexers_postgres)")
def test_second_indexer_is_refused(library: Library) -> None:
    with library.indexer_lock():
        other = Library(library.root)
        with pytest.raises(LibraryBusy, match="already indexing"), other.indexer_lock():
            pass
    with library.indexer_lock():  # released: can be taken again
        pass


def test_reader_is_not_blocked_by_open_write_transaction(tmp_path: Path, library: Library, models) -> None:
    photos = tmp_path / "photos"
    copy_real(photos, 1, 1)
    scan.add_folder(library, photos)
    index(library, models)
    writer = library.engine.connect()
    writer.begin()
    writer.execute(text("UPDATE photos SET size = size + 1"))  # (SQLite: the write lock, from here to the end)
    try:
        reader = reopened(library)
        t0 = time.perf_counter()
        assert len(catalogue.errors(reader)) == 0
        assert catalogue.stats(reader).indexed == 2
        assert time.perf_counter() - t0 < 2.0
    finally:
        writer.rollback()
        writer.close()


def test_cancel_keeps_committed_work_and_resumes(tmp_path: Path, library: Library, models) -> None:
    photos = tmp_path / "photos"
    copy_real(photos, 2, 22)
    scan.add_folder(library, photos)
    # two model threads of four photos each: a cancel finishes at most eight more than were reported done
    gen = Indexer(library, models, batch_size=4, commit_every=4, model_threads=2).run()
    for p in gen:
        if p.phase == Phase.INDEXING:
            # what progress reports done is already committed, however slow the machine
            assert count(library, Photo, Photo.state == PhotoState.INDEXED) >= p.done
            if p.done >= 4:
                break
    gen.close()  # cancel: what finished is written
    done_before = count(library, Photo, Photo.state == PhotoState.INDEXED)
    assert p.done <= done_before < 24
    summary = index(library, models)
    assert summary.indexed == 24 - done_before
    assert count(library, Photo) == 24
    if library.kind is EngineKind.SQLITE:
        with library.engine.connect() as c:
            assert c.execute(text("PRAGMA integrity_check")).scalar() == "ok"


def test_generated_images_and_embeddings_are_finite(tmp_path: Path, library: Library, models) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray((rng.random((120 + i, 90, 3)) * 255).astype(np.uint8)).save(photos / f"{i}.png")
    scan.add_folder(library, photos)
    assert index(library, models).indexed == 5
    with library.session() as s:
        for vec in s.scalars(select(Embedding.vector)):
            assert np.isfinite(np.frombuffer(vec, dtype="<f2")).all()
