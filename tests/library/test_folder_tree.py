"""The sidebar's folder tree, counted from a real catalogue of files found on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select, update

from photobird.library import folder_tree, scan
from photobird.library.folder_tree import FolderNode
from photobird.library.schema import Photo, PhotoState
from photobird.library.search import Searcher
from photobird.library.store import Library

pytestmark = pytest.mark.both_engines


def make_files(root: Path, names: list[str]) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not decoded: the tree counts files found")


def shape(nodes: list[FolderNode]) -> list[tuple[str, int, list]]:
    return [(n.name, n.photos, shape(n.children)) for n in nodes]


def test_every_folder_below_a_watched_one_with_its_photos_and_those_below(library: Library, tmp_path: Path) -> None:
    photos = tmp_path / "Photos"
    make_files(
        photos,
        [
            "top.jpg",
            "2019/Summer/a.jpg",
            "2019/Summer/b.jpg",
            "2019/winter/c.jpg",  # sorted by name whatever its case: Summer, winter
            "2019/Summer/Beach/d.jpg",
            "2020/e.jpg",
            "empty/notes.txt",  # no photos: no folder in the tree
            "Trip/nested/deeper/f.jpg",  # folders holding no photo themselves, above one that does
        ],
    )
    scan.add_folder(library, photos)
    scan.scan(library)
    trees = folder_tree.subfolders(library)
    assert list(trees) == [str(photos)]
    assert shape(trees[str(photos)]) == [
        ("2019", 4, [("Summer", 3, [("Beach", 1, [])]), ("winter", 1, [])]),
        ("2020", 1, []),
        ("Trip", 1, [("nested", 1, [("deeper", 1, [])])]),
    ]
    summer = trees[str(photos)][0].children[0]
    assert summer.path == str(photos / "2019" / "Summer")
    # the path a node names is the one the folder filter takes: its photos, and those below it (once indexed)
    with library.session() as s:
        s.execute(update(Photo).values(state=PhotoState.INDEXED))
    found = [h.photo_id for h in Searcher(library).search("", folder=summer.path)]
    with library.session() as s:
        names = set(s.scalars(select(Photo.name).where(Photo.id.in_(found))))
    assert names == {"a.jpg", "b.jpg", "d.jpg"}


def test_folders_whose_names_differ_only_in_case_stay_apart(library: Library, tmp_path: Path) -> None:
    photos = tmp_path / "p"
    make_files(photos, ["Day/a.jpg", "Day/b.jpg", "day/c.jpg", "DAY/x/d.jpg"])
    scan.add_folder(library, photos)
    scan.scan(library)
    assert shape(folder_tree.subfolders(library)[str(photos)]) == [
        ("DAY", 1, [("x", 1, [])]),
        ("Day", 2, []),
        ("day", 1, []),
    ]


def test_a_folder_name_that_is_not_utf8_is_kept_exactly(library: Library, tmp_path: Path) -> None:
    photos = tmp_path / "p"
    odd = os.fsdecode(b"caf\xe9")  # Latin-1 bytes, as an old camera card or archive leaves them
    make_files(photos, [f"{odd}/a.jpg"])
    scan.add_folder(library, photos)
    scan.scan(library)
    (node,) = folder_tree.subfolders(library)[str(photos)]
    assert os.fsencode(node.path) == os.fsencode(str(photos)) + b"/caf\xe9" and node.photos == 1


def test_missing_photos_are_not_counted_and_every_watched_folder_has_its_own_tree(
    library: Library, tmp_path: Path
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    make_files(one, ["a/1.jpg", "a/2.jpg"])
    make_files(two, ["b/3.jpg"])
    for folder in (one, two):
        scan.add_folder(library, folder)
    scan.scan(library)
    (one / "a" / "2.jpg").unlink()
    (two / "b" / "3.jpg").unlink()
    scan.scan(library)  # gone from disk: missing (kept, with their labels, in case they come back)
    trees = folder_tree.subfolders(library)
    assert shape(trees[str(one)]) == [("a", 1, [])]
    assert trees[str(two)] == []
