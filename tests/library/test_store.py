"""The library folder: one indexer at a time, and a lock that says who holds it and why."""

from __future__ import annotations

import os

import pytest

from photobird.library.store import Library, LibraryBusy, LockMode


@pytest.mark.parametrize(
    ("mode", "said"), [(LockMode.INDEXING, "already indexing"), (LockMode.WATCHING, "keeping it up to date")]
)
def test_a_second_indexer_is_told_who_holds_the_library_and_why(library: Library, mode: LockMode, said: str) -> None:
    with library.indexer_lock(mode):
        assert (library.root / "indexer.lock").read_text().split() == [str(os.getpid()), mode.value]
        with Library(library.root) as other, pytest.raises(LibraryBusy, match=said) as busy, other.indexer_lock():
            pass
        assert f"process {os.getpid()}" in str(busy.value)
    with library.indexer_lock():  # released
        pass


def test_a_library_whose_path_has_uri_characters_is_where_it_says(tmp_path) -> None:
    """ "%", "#" and "?" are file name characters, not URL syntax: the catalogue is made inside the folder asked
    for (not in a folder named by the path up to the "?"), and read back from it, also read-only."""
    root = tmp_path / "100% sure #1 ?x" / "library"
    lib = Library(root)
    lib.set_setting("example", 1)
    lib.close()
    assert (root / "catalogue.sqlite").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["100% sure #1 ?x"]
    again = Library(root)
    assert again.get_setting("example") == 1
    again.close()
