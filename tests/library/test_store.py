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
