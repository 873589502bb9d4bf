"""Faults indexing must survive: the disk holding the library fills up partway through a run.

The disk is a real small filesystem, a tmpfs mounted for the test (the tests run as root, as CI does), and the
run is the real ``photobird index`` in its own process, on real photos with the real networks. What must hold:
the run stops with one sentence (no traceback) saying how many photos it kept, the catalogue is sound, every
photo committed before the disk filled is still indexed (the user's labels too), no photo is recorded as
"failed" for want of space, and once there is room again the next run indexes only the rest.

The library's two writers fill a disk differently (the thumbnail writer gets ``ENOSPC`` from a file write,
SQLite answers ``SQLITE_FULL`` from the catalogue), so the small disk holds the whole library, or only its
catalogue, or only its thumbnails (the other part a symlink to a roomy folder). Where mounting is not
permitted, the same runs hit the same errors another real way: the thumbnails are written to ``/dev/full`` and
the catalogue is capped with SQLite's ``max_page_count``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from photobird import config
from photobird.library import catalogue, scan, versions
from photobird.library.db import claims
from photobird.library.index import Job, _Claimed, _Writer, index, read_one
from photobird.library.labelling import Labelling
from photobird.library.progress import IndexSummary
from photobird.library.schema import Photo
from photobird.library.store import Library, is_disk_full

from .conftest import real_rows

pytestmark = pytest.mark.both_engines
#: Why these run on SQLite alone: what fills up is the disk under the library folder's own catalogue file.
FOLDERS_FILE = "the disk that fills holds the library folder's SQLite catalogue (a server's disk is the server's)"
ROOMY_KB = 64 * 1024
FULL = "The disk holding the library is full"
KEPT = re.compile(r"(\d+) photos? (?:was|were) indexed and kept")
#: Which part of the library the small disk holds.
LAYOUTS = ("library", "catalogue", "thumbnails")

#: For the fallback (no mount): a ``photobird`` whose disk fills after ``THUMBS`` more thumbnails, or whose
#: catalogue may grow by ``PAGES`` more pages; the real writers and SQLite then fail as on a full disk.
FALLBACK = """
import os, sys
from photobird.library import index
from photobird.library.db import sqlite as sqlite_db
from photobird.media import thumbs
thumbs_left = int(os.environ.get("THUMBS", "-1"))
pages_left = int(os.environ.get("PAGES", "-1"))
if thumbs_left >= 0:
    real_open = open
    def full_open(path, mode="r", *args, **kw):
        global thumbs_left
        if "w" in mode and str(path).endswith(".tmp"):
            thumbs_left -= 1
            if thumbs_left < 0:
                path = "/dev/full"
        return real_open(path, mode, *args, **kw)
    thumbs.open = full_open
if pages_left >= 0:
    real_connect = sqlite_db.on_connect
    def capped(conn, record):
        real_connect(conn, record)
        cur = conn.cursor()
        pages = cur.execute("PRAGMA page_count").fetchone()[0]
        cur.execute(f"PRAGMA max_page_count={pages + pages_left}")
        cur.close()
    sqlite_db.on_connect = capped
from photobird.cli import main
sys.exit(main(sys.argv[1:]))
"""


@dataclass
class SmallDisk:
    """Where the part of the library that runs out of room lives, and how to give it less or more room."""

    path: Path
    mounted: bool
    #: The fallback's limits (environment of the ``photobird`` it runs), while the disk is "full".
    limits: dict[str, str]

    def used_kb(self) -> int:
        st = os.statvfs(self.path)
        return (st.f_blocks - st.f_bfree) * st.f_frsize // 1024

    def fill(self, room_kb: int, thumbs: int, pages: int) -> None:
        """Leave ``room_kb`` free (mounted), or let ``thumbs`` more thumbnails and ``pages`` more catalogue
        pages be written (the fallback)."""
        if self.mounted:
            subprocess.run(["mount", "-o", f"remount,size={self.used_kb() + room_kb}k", str(self.path)], check=True)
        else:
            self.limits = {"THUMBS": str(thumbs), "PAGES": str(pages)}

    def enlarge(self) -> None:
        if self.mounted:
            subprocess.run(["mount", "-o", f"remount,size={ROOMY_KB}k", str(self.path)], check=True)
        else:
            self.limits = {}

    def photobird(self, library: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """The real command in its own process (the fallback's with its limits)."""
        argv = ["--library", str(library), *args]
        program = ["-m", "photobird"] if self.mounted else ["-c", FALLBACK]
        command = [sys.executable, *program, *argv]
        return subprocess.run(command, env={**os.environ, **self.limits}, capture_output=True, text=True, timeout=600)


@contextlib.contextmanager
def small_disk(where: Path) -> Iterator[SmallDisk]:
    """A tmpfs at ``where``, unmounted afterwards whatever happens; a plain folder (and the fallback) where
    mounting is not permitted."""
    where.mkdir(parents=True)
    try:
        out = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={ROOMY_KB}k", "photobird-test", str(where)],
            capture_output=True,
            text=True,
        )
        mounted = out.returncode == 0
    except OSError:
        mounted = False
    if not mounted:
        print(f"mounting a tmpfs is not permitted here: the fallback runs ({where})")
    try:
        yield SmallDisk(where, mounted, {})
    finally:
        if mounted and subprocess.run(["umount", str(where)], capture_output=True).returncode:
            subprocess.run(["umount", "--lazy", str(where)], check=True)


def place_library(tmp_path: Path, disk: Path, layout: str) -> Path:
    """A library root whose ``layout`` part is on the small disk and the rest on a roomy one."""
    if layout == "library":
        return disk / "library"
    if layout == "catalogue":
        root, thumbs = disk / "library", tmp_path / "roomy-thumbs"
    else:
        root, thumbs = tmp_path / "library", disk / "thumbs"
    root.mkdir(parents=True)
    thumbs.mkdir(parents=True)
    (root / "thumbs").symlink_to(thumbs)
    return root


def copy_rows(rows: list[dict[str, str]], dst: Path) -> list[Path]:
    dst.mkdir(parents=True, exist_ok=True)
    for r in rows:
        shutil.copy2(config.real_photos_dir() / r["file"], dst / r["file"])
    return [dst / r["file"] for r in rows]


def indexed_at(db: Path) -> dict[str, str]:
    """path -> when it was indexed, for every indexed photo."""
    with contextlib.closing(sqlite3.connect(db)) as con:
        rows = con.execute("SELECT path, indexed_at FROM photos WHERE state = 'indexed'").fetchall()
    return {os.fsdecode(path): at for path, at in rows}


def integrity(db: Path) -> str:
    with contextlib.closing(sqlite3.connect(db)) as con:
        return con.execute("PRAGMA integrity_check").fetchone()[0]


#: Room left for the rest of the run, per layout: a part of what it needs (thumbnails of about 12 kB each; the
#: catalogue's write-ahead log grows by a few hundred kB per commit), so the disk fills partway through it.
ROOM_KB = {"library": 700, "catalogue": 600, "thumbnails": 400}
#: The fallback's room: thumbnails, and catalogue pages (4 kB).
ROOM_THUMBS = {"library": 30, "catalogue": -1, "thumbnails": 30}
ROOM_PAGES = {"library": 60, "catalogue": 60, "thumbnails": -1}


@pytest.mark.sqlite_only(FOLDERS_FILE)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_full_disk_stops_indexing_in_one_sentence_keeps_what_is_committed_and_the_next_run_resumes(
    tmp_path: Path, models, layout: str
) -> None:
    rows = real_rows()
    first_rows, more_rows = rows[:8], rows[8:72]
    photos = tmp_path / "photos"
    with small_disk(tmp_path / "disk") as disk:
        root = place_library(tmp_path, disk.path, layout)
        first = copy_rows(first_rows, photos / "first")
        with Library(root) as lib:
            scan.add_folder(lib, photos)
            assert index(lib, models).indexed == len(first)
            marks = {first[0]: "bird", first[1]: "not-bird"}
            for path, mark in marks.items():
                catalogue.set_user_label(lib, [catalogue.photo_id_for_path(lib, path)], mark)
            more = copy_rows(more_rows, photos / "more")
            scan.scan(lib)  # the new photos are pending: what fills the disk is indexing them
        before = indexed_at(root / "catalogue.sqlite")
        assert len(before) == len(first)

        disk.fill(ROOM_KB[layout], ROOM_THUMBS[layout], ROOM_PAGES[layout])
        out = disk.photobird(root, "index")
        assert out.returncode != 0, (out.stdout, out.stderr)
        assert "Traceback" not in out.stderr, out.stderr
        said = out.stderr.strip()
        assert len(said.splitlines()) == 1 and said.startswith(f"photobird: {FULL}"), said
        assert "Errno" not in said, said
        kept = KEPT.search(said)
        assert kept is not None, said
        print(said)

        # the catalogue is sound, what was committed before is there, and the run kept what it says it kept
        assert integrity(root / "catalogue.sqlite") == "ok"
        after = indexed_at(root / "catalogue.sqlite")
        assert {p: after.get(p) for p in before} == before
        assert len(after) == len(first) + int(kept.group(1)) < len(first) + len(more), said
        with Library(root) as lib:
            assert catalogue.errors(lib) == []  # no photo failed for want of room: they are still to do
            for path, mark in marks.items():
                assert catalogue.info(lib, catalogue.photo_id_for_path(lib, path))["user_label"] == mark
            for path in after:  # an indexed photo has its whole thumbnail
                with Image.open(catalogue.info(lib, catalogue.photo_id_for_path(lib, path))["thumbnail"]) as im:
                    im.load()
        assert not [p.name for p in (root / "thumbs").rglob("*.tmp")], "half-written thumbnails were left"

        # run again at once, the disk still full: the same sentence, and what was kept stays
        again = disk.photobird(root, "index")
        assert again.returncode != 0 and "Traceback" not in again.stderr, again.stderr
        said = again.stderr.strip()
        assert len(said.splitlines()) == 1 and said.startswith(f"photobird: {FULL}"), said
        print(said)
        after = indexed_at(root / "catalogue.sqlite")  # (a few more may have fitted)
        assert {p: after.get(p) for p in before} == before and integrity(root / "catalogue.sqlite") == "ok"

        # room again: the next run indexes the rest, and only the rest
        disk.enlarge()
        out = disk.photobird(root, "index", "--json")
        assert out.returncode == 0, out.stderr
        summary = json.loads(out.stdout.strip().splitlines()[-1])
        assert summary["indexed"] == len(first) + len(more) - len(after) and summary["failed"] == 0
        final = indexed_at(root / "catalogue.sqlite")
        assert set(final) == {str(p) for p in first + more}
        assert {p: final[p] for p in after} == after  # not analysed again
        assert integrity(root / "catalogue.sqlite") == "ok"


@pytest.mark.sqlite_only(FOLDERS_FILE)
def test_the_watcher_stops_on_a_full_disk_instead_of_spinning(tmp_path: Path, models) -> None:
    """``photobird index --watch`` (the app's loop too): a full disk ends it with the same sentence, rather than
    the watcher carrying on as if the photos were indexed, or retrying in a loop (a hang the guard's timeout
    would end)."""
    rows = real_rows()
    photos = tmp_path / "photos"
    with small_disk(tmp_path / "disk") as disk:
        root = disk.path / "library"
        copy_rows(rows[:4], photos / "first")
        with Library(root) as lib:
            scan.add_folder(lib, photos)
            index(lib, models)
        copy_rows(rows[4:68], photos / "more")
        disk.fill(ROOM_KB["library"], ROOM_THUMBS["library"], ROOM_PAGES["library"])
        out = disk.photobird(root, "index", "--watch")
        assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
        said = out.stderr.strip()
        assert len(said.splitlines()) == 1 and said.startswith(f"photobird: {FULL}") and KEPT.search(said), said
        assert integrity(root / "catalogue.sqlite") == "ok"


@contextlib.contextmanager
def little_room(disk: SmallDisk, lib: Library, room_kb: int = 0) -> Iterator[None]:
    """While inside, the disk holding ``lib`` has ``room_kb`` left; in the fallback, ``lib``'s catalogue (opened
    in this process) cannot grow at all (SQLite's ``max_page_count``)."""
    if disk.mounted:
        disk.fill(room_kb, -1, -1)
        try:
            yield
        finally:
            disk.enlarge()
        return

    def cap(conn: sqlite3.Connection, _record: object) -> None:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count={pages}")

    lib.engine.dispose()
    event.listen(lib.engine, "connect", cap)
    try:
        yield
    finally:
        event.remove(lib.engine, "connect", cap)
        lib.engine.dispose()


@pytest.mark.sqlite_only(FOLDERS_FILE)
def test_a_batch_that_did_not_fit_leaves_the_next_batch_its_own_words(tmp_path: Path, models) -> None:
    """The pipeline's batch writer when the disk fills: a batch rolled back for want of room takes with it the
    words it added to the catalogue, and the next batch (the one written on the way out, or once there is room)
    must not point at them: it would fail on a foreign key, or worse, give its photos another word's row."""
    rows = real_rows()
    photos = tmp_path / "photos"
    with small_disk(tmp_path / "disk") as disk:
        root = place_library(tmp_path, disk.path, "catalogue")
        copy_rows(rows[:4], photos / "first")
        with Library(root) as lib:
            scan.add_folder(lib, photos)
            index(lib, models)
            first, second = copy_rows(rows[4:20], photos / "b1"), copy_rows(rows[20:28], photos / "b2")
            scan.scan(lib)
            embedder_id = versions.ensure_embedder(lib, models)
            version, head = versions.active_head(lib, models)
            models.set_head(head)
            writer = _Writer(lib, embedder_id, Labelling(models.labeller, models.lexicon), models, version.id, head)
            writer.load_words()
            words_before = set(writer.labelling.word_ids)

            def add(paths: list[Path]) -> None:
                ids = [catalogue.photo_id_for_path(lib, p) for p in paths]
                got = claims.claim(lib, select(Photo.id).where(Photo.id.in_(ids)), Photo)  # (SQLite: a read)
                claimed = _Claimed(got, len(paths))
                writer.claimed.append(claimed)
                jobs = [Job(pid, str(p), 0, 0) for pid, p in zip(ids, paths, strict=True)]
                read = [read_one(job, lib, models.prepare, set()) for job in jobs]
                for outcome, analysis in zip(read, models.analyze([o.prepared for o in read]), strict=True):
                    writer.add(claimed, outcome, analysis)

            add(first)
            with little_room(disk, lib), pytest.raises(OperationalError) as failed:
                writer.flush(IndexSummary())
            assert is_disk_full(failed.value), failed.value
            assert set(writer.labelling.word_ids) - words_before, "the batch added no word: nothing to check"
            add(second)
            assert writer.flush(IndexSummary()) == len(second)
            written = {p: catalogue.labels_of(lib, catalogue.photo_id_for_path(lib, p)) for p in second}
        with Library(tmp_path / "reference") as ref:  # the same photos, indexed with room to spare
            scan.add_folder(ref, photos / "b2")
            index(ref, models)
            assert written == {p: catalogue.labels_of(ref, catalogue.photo_id_for_path(ref, p)) for p in second}
