"""Rotations: by content hash, like labels, so they survive moves, renames and re-indexing, are shared by copies
of the picture, are kept in the keepsake and come back with a repair (real photos indexed by the real networks,
real catalogues on SQLite and on PostgreSQL)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from photobird.library import catalogue, edits, keepsake, repair, scan
from photobird.library.index import index
from photobird.library.schema import Photo
from photobird.library.store import CatalogueDamaged, Library, LibraryError, SettingKey
from photobird.models.runner import Models
from tests.library.conftest import copy_real
from tests.library.test_keepsake import Damage, damage

pytestmark = pytest.mark.both_engines


def indexed_library(lib: Library, photos: Path, models: Models) -> tuple[Library, Path, dict[str, int]]:
    """A library of three real photos, indexed (faces off: not what is tested here); file name -> photo id."""
    copy_real(photos, 1, 2)
    lib.set_setting(SettingKey.FACES, False)
    scan.add_folder(lib, photos)
    index(lib, models)
    ids = {Path(p).name: i for i, p in _paths(lib).items()}
    return lib, photos, ids


def _paths(lib: Library) -> dict[int, str]:
    with lib.session() as s:
        return {pid: path for pid, path in s.execute(select(Photo.id, Photo.path))}


def test_rotations_add_up_and_are_kept_by_content_through_a_move_and_a_copy(
    tmp_path: Path, library: Library, models: Models
) -> None:
    lib, photos, ids = indexed_library(library, tmp_path / "photos", models)
    name = sorted(ids)[0]
    pid = ids[name]
    assert edits.rotation(lib, pid) == 0 and catalogue.info(lib, pid)["rotation"] == 0
    assert edits.rotate(lib, pid, 1) == 90
    assert edits.rotate(lib, pid, -1) == 0
    assert edits.rotate(lib, pid, -1) == 270
    assert edits.rotate(lib, pid, 5) == 0  # (four turns are none)
    assert edits.rotate(lib, pid, 3) == 270
    assert edits.rotate(lib, pid, 3) == 180
    content_hash = catalogue.info(lib, pid)["content_hash"]
    assert edits.rotations(lib, [content_hash, "not-a-hash"]) == {content_hash: 180}
    assert catalogue.info(lib, pid)["rotation"] == 180
    assert all(edits.rotation(lib, other) == 0 for n, other in ids.items() if n != name)

    moved = photos / "elsewhere" / f"renamed-{name}"
    moved.parent.mkdir()
    shutil.move(photos / name, moved)
    shutil.copy2(moved, photos / f"copy-{name}")  # the same picture again, in another file
    scan.scan(lib)
    index(lib, models)
    paths = _paths(lib)
    by_path = {p: i for i, p in paths.items()}
    assert str(photos / name) not in by_path
    assert edits.rotation(lib, by_path[str(moved)]) == 180  # the moved file is turned as before...
    assert edits.rotation(lib, by_path[str(photos / f"copy-{name}")]) == 180  # ...and a copy the same way


@pytest.mark.sqlite_only("a repair rebuilds the library folder's damaged SQLite file")
def test_rotations_are_kept_in_the_keepsake_and_come_back_with_a_repair(tmp_path: Path, models: Models) -> None:
    lib, _, ids = indexed_library(Library(tmp_path / "library"), tmp_path / "photos", models)
    first, second = sorted(ids)[:2]
    edits.rotate(lib, ids[first], 1)
    edits.rotate(lib, ids[second], 2)
    edits.rotate(lib, ids[second], 2)  # turned back: nothing to keep
    content_hash = catalogue.info(lib, ids[first])["content_hash"]
    found = keepsake.load(lib.root)
    assert found is not None and found.rotations == {content_hash: 90}
    lib.close()

    damage(lib.root, Damage.TRUNCATED)
    with pytest.raises(CatalogueDamaged):
        Library(lib.root)
    repaired = repair.repair(lib.root)
    assert repaired is not None and repaired.source is repair.Source.KEEPSAKE
    assert repaired.restored.rotations == 1
    assert any(line.startswith("Restored ") and ", 1 rotated photo" in line for line in repaired.report())
    lib = Library(lib.root)
    assert edits.rotations(lib, [content_hash]) == {content_hash: 90}
    index(lib, models)  # the photos come back with new rows, and find their rotation by content
    again = {Path(p).name: i for i, p in _paths(lib).items()}
    assert edits.rotation(lib, again[first]) == 90 and edits.rotation(lib, again[second]) == 0
    lib.close()


def test_a_photo_not_read_yet_is_refused_in_one_sentence(tmp_path: Path, library: Library) -> None:
    photos = tmp_path / "photos"
    copy_real(photos, 1, 0)
    lib = library
    scan.add_folder(lib, photos)
    scan.scan(lib)  # found, not indexed: no content hash yet
    (pid,) = _paths(lib)
    with pytest.raises(edits.EditRefused) as refused:
        edits.rotate(lib, pid, 1)
    assert str(refused.value).endswith("it can be rotated once PhotoBird has indexed it.")
    with pytest.raises(edits.EditRefused, match="There is no photo with id 999"):
        edits.rotate(lib, 999, 1)
    assert edits.rotation(lib, pid) == 0


@pytest.mark.sqlite_only("only the folder's own catalogue is read-only with its folder")
def test_a_read_only_library_is_refused_in_one_sentence(tmp_path: Path, make_read_only) -> None:
    photos = tmp_path / "photos"
    copy_real(photos, 1, 0)
    lib = Library(tmp_path / "library")
    scan.add_folder(lib, photos)
    scan.scan(lib)
    (pid,) = _paths(lib)
    lib.close()
    make_read_only(lib.root)
    lib = Library(lib.root)
    with pytest.raises(LibraryError) as refused:
        edits.rotate(lib, pid, 1)
    assert str(refused.value) == (
        f"This library is read-only ({lib.root}): rotating photos needs to write to it "
        "(searching and reading it still work)."
    )
    lib.close()
