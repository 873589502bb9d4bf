"""The library folder: one indexer at a time, and a lock that says who holds it and why."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from photobird.library.store import Library, LibraryBusy, LockMode

from .conftest import reopened

pytestmark = pytest.mark.both_engines


@pytest.mark.sqlite_only  # (on PostgreSQL indexers share the work: tests/library/test_indexers_postgres.py)
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


def test_reads_inside_a_snapshot_see_one_committed_state(library: Library, tmp_path) -> None:
    """What the window shows side by side is read in one snapshot: a commit by another process between two of
    its reads (the indexer's next batch) shows in neither, and in the next snapshot in both."""
    from photobird.library import scan
    from photobird.library.search import Searcher

    photos = tmp_path / "photos"
    photos.mkdir()
    scan.add_folder(library, photos)
    other = reopened(library)  # another process's view of the same catalogue
    searcher = Searcher(library)
    try:
        with library.snapshot():
            before = [f.pending for f in scan.list_folders(library)]
            (photos / "new.jpg").write_bytes(b"not yet read")
            scan.scan(other)  # commits a pending photo
            assert [f.pending for f in scan.list_folders(library)] == before == [0]
            with library.connect() as c:
                assert c.execute(text("SELECT count(*) FROM photos")).scalar() == 0
            assert searcher.ids_and_scores("new") == ([], [])
        assert [f.pending for f in scan.list_folders(library)] == [1]
        with library.connect() as c:
            assert c.execute(text("SELECT count(*) FROM photos")).scalar() == 1
    finally:
        other.close()


def test_opening_a_second_library_here_keeps_the_first_one_seeing_other_processes(tmp_path) -> None:
    """Opening the catalogue again in this process must not touch the file outside SQLite: closing any
    descriptor of it drops this process's SQLite locks, the next process to close its connection then thinks it
    is the last one and removes the write-ahead log under the first library, which stops seeing commits."""
    import subprocess
    import sys

    first = Library(tmp_path / "library")
    first.set_setting("seen", 1)
    Library(first.root).close()  # a second Library here, as a test or a repair opens one

    def other_process(code: str) -> str:
        prelude = f"from photobird.library.store import Library\nlib = Library({str(first.root)!r})\n"
        return subprocess.run(
            [sys.executable, "-c", prelude + code + "\nlib.close()"], capture_output=True, text=True, check=True
        ).stdout

    other_process("print(lib.get_setting('seen'))")  # opens and closes the catalogue
    other_process("lib.set_setting('seen', 2)")
    assert first.get_setting("seen") == 2
    first.close()
