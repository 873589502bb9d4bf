"""Moving and renaming photos on real files and a real catalogue: the catalogue follows at once, the user's marks
stay, undo puts everything back, and a move the file system refuses changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from photobird.library import catalogue
from photobird.library.file_actions import FileActionRefused, move_to_folder, rename, undo
from photobird.library.scan import add_folder, scan
from photobird.library.schema import Photo
from photobird.library.store import Library
from tests.library.conftest import copy_real

pytestmark = pytest.mark.both_engines


def two_folders(tmp_path: Path, library: Library) -> dict[str, int]:
    copy_real(tmp_path / "home", 1, 2)
    (tmp_path / "trips" / "2024").mkdir(parents=True)
    add_folder(library, tmp_path / "home")
    add_folder(library, tmp_path / "trips")
    scan(library)
    with library.session() as s:
        return {Path(p).name: pid for pid, p in s.execute(select(Photo.id, Photo.path))}


def where(library: Library, photo_id: int) -> str:
    with library.session() as s:
        return s.scalar(select(Photo.path).where(Photo.id == photo_id))


def test_a_moved_photo_keeps_its_row_and_mark_and_undo_puts_it_back(tmp_path: Path, library: Library) -> None:
    ids = two_folders(tmp_path, library)
    name = sorted(ids)[0]
    catalogue.set_user_label(library, [ids[name]], "bird")
    original = tmp_path / "home" / name
    data = original.read_bytes()

    result = move_to_folder(library, [ids[name]], str(tmp_path / "trips" / "2024"))

    moved = tmp_path / "trips" / "2024" / name
    assert result.failed == [] and [m.destination for m in result.moved] == [str(moved)]
    assert not original.exists() and moved.read_bytes() == data
    assert where(library, ids[name]) == str(moved)  # the same row, at its new place
    assert catalogue.info(library, ids[name])["user_label"] == "bird"
    assert catalogue.info(library, ids[name])["folder"] == str(tmp_path / "trips")
    assert scan(library).new == 0  # the next scan finds the catalogue agreeing with the disk

    back = undo(library, result.moved)

    assert back.failed == [] and original.read_bytes() == data and not moved.exists()
    assert where(library, ids[name]) == str(original)
    assert catalogue.info(library, ids[name])["user_label"] == "bird"


def test_a_move_out_of_the_watched_folders_is_refused(tmp_path: Path, library: Library) -> None:
    ids = two_folders(tmp_path, library)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(FileActionRefused, match="is not in a watched folder: add it first"):
        move_to_folder(library, list(ids.values()), str(elsewhere))
    assert list(elsewhere.iterdir()) == []


def test_a_name_already_taken_leaves_both_files_and_the_catalogue_as_they_were(
    tmp_path: Path, library: Library
) -> None:
    ids = two_folders(tmp_path, library)
    name = sorted(ids)[0]
    taken = tmp_path / "trips" / "2024" / name
    taken.write_bytes(b"another file with that name")
    result = move_to_folder(library, [ids[name]], str(taken.parent))
    assert result.moved == []
    assert result.failed == [
        (str(tmp_path / "home" / name), f"could not be moved: a file named {name} is already there")
    ]
    assert taken.read_bytes() == b"another file with that name" and (tmp_path / "home" / name).is_file()
    assert where(library, ids[name]) == str(tmp_path / "home" / name)


def test_a_move_the_file_system_refuses_changes_nothing(tmp_path: Path, library: Library, make_read_only) -> None:
    ids = two_folders(tmp_path, library)
    name = sorted(ids)[0]
    make_read_only(tmp_path / "trips")
    result = move_to_folder(library, [ids[name]], str(tmp_path / "trips" / "2024"))
    assert result.moved == [] and len(result.failed) == 1
    assert result.failed[0][1].startswith("could not be moved: ")
    assert (tmp_path / "home" / name).is_file()
    assert where(library, ids[name]) == str(tmp_path / "home" / name)  # the row's change was rolled back


def test_rename_keeps_the_extension_refuses_impossible_names_and_undoes(tmp_path: Path, library: Library) -> None:
    ids = two_folders(tmp_path, library)
    name = sorted(ids)[0]
    moved = rename(library, ids[name], "  été à Paris ")
    assert moved.destination == str(tmp_path / "home" / f"été à Paris{Path(name).suffix}")
    assert Path(moved.destination).is_file() and where(library, ids[name]) == moved.destination
    with library.session() as s:  # searched by its new name (once indexed: this photo is only scanned)
        assert s.scalar(select(Photo.name).where(Photo.id == ids[name])) == Path(moved.destination).name.lower()
    for bad in ("", "a/b", "x:y", ".."):
        with pytest.raises(FileActionRefused, match="cannot be a file name"):
            rename(library, ids[name], bad)
    other = sorted(ids)[1]
    with pytest.raises(FileActionRefused, match="is already there"):
        rename(library, ids[name], other)
    undo(library, [moved])
    assert where(library, ids[name]) == str(tmp_path / "home" / name) and (tmp_path / "home" / name).is_file()
