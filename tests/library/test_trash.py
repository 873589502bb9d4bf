"""Moving photos to the trash: the file goes to the desktop's trash, never away for good, and the catalogue
follows at once; a move the trash refuses changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from photobird.library import catalogue
from photobird.library.scan import add_folder, scan
from photobird.library.schema import Photo, UserLabel
from photobird.library.store import Library
from photobird.library.trash import move_to_trash
from tests.library.conftest import copy_real

pytestmark = pytest.mark.both_engines


def _library_of(tmp_path: Path, library: Library) -> dict[str, int]:
    copy_real(tmp_path / "photos", 2, 2)
    add_folder(library, tmp_path / "photos")
    scan(library)
    with library.session() as s:
        return {Path(p).name: pid for pid, p in s.execute(select(Photo.id, Photo.path))}


def test_trashed_photos_are_in_the_trash_and_gone_from_the_catalogue(tmp_path: Path, library: Library, trash) -> None:
    ids = _library_of(tmp_path, library)
    name, other = sorted(ids)[:2]
    catalogue.set_user_label(library, [ids[name]], "bird")
    with library.session() as s:
        content = s.scalar(select(Photo.content_hash).where(Photo.id == ids[name]))

    result = move_to_trash(library, [ids[name]])

    assert result.trashed == [ids[name]] and result.failed == []
    assert not (tmp_path / "photos" / name).exists()
    assert (trash / "files" / name).is_file()  # restorable: the file and where it came from
    info = (trash / "info" / f"{name}.trashinfo").read_text()
    assert f"Path={tmp_path / 'photos' / name}" in info
    with library.session() as s:
        assert s.get(Photo, ids[name]) is None
        assert s.get(Photo, ids[other]) is not None
        # what the user said about the picture stays: restored from the trash, it comes back with its mark
        assert s.get(UserLabel, content).label == "bird"


def test_a_failed_move_to_the_trash_leaves_the_file_and_the_catalogue_as_they_were(
    tmp_path: Path, library: Library, broken_trash
) -> None:
    ids = _library_of(tmp_path, library)
    before = sorted((tmp_path / "photos").iterdir())
    saved = {p.name: p.read_bytes() for p in before}
    with library.session() as s:
        rows = s.scalar(select(func.count()).select_from(Photo))

    result = move_to_trash(library, list(ids.values()))

    assert result.trashed == []
    assert len(result.failed) == len(ids)
    assert all(why.startswith("could not be moved to the trash: ") for _, why in result.failed)
    assert sorted((tmp_path / "photos").iterdir()) == before
    assert {p.name: p.read_bytes() for p in before} == saved
    with library.session() as s:
        assert s.scalar(select(func.count()).select_from(Photo)) == rows
