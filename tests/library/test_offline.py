"""A watched folder on a drive that goes away (unmounted, unplugged) while it is watched: its photos are offline,
not deleted, keep everything the models and the user gave them, and are back, not re-analysed, when it returns.

The drive is a real tmpfs mount (these tests run as root, as CI does); where mounting is not permitted that variant
is skipped, saying why, and the same test runs with the folder renamed away and back, the nearest simulation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from photobird.library import analyses, catalogue, scan
from photobird.library import index as index_mod
from photobird.library import watch as watch_mod
from photobird.library.index import Indexer, purge_missing
from photobird.library.progress import Phase, Progress
from photobird.library.schema import BirdScore, Embedding, Face, Folder, Photo, PhotoAnalysis, PhotoLabel, PhotoState
from photobird.library.search import search
from photobird.library.store import Library, SettingKey, _alembic_config
from photobird.models.faces.analyzer import FaceAnalyzer
from photobird.models.runner import Models
from tests.test_cli import run

from .conftest import copy_real
from .test_face_analysis import copy_lfw, lfw
from .test_watch import small_jpeg

pytestmark = pytest.mark.both_engines


def _mount(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "none", str(path)], capture_output=True, text=True)


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], check=True)


def mount_refused(path: Path) -> str | None:
    """Why a tmpfs cannot be mounted at ``path`` here (not root, no mount command, a container without the
    right), or None when it can."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        out = _mount(path)
    except OSError as e:
        return f"the mount command cannot run: {e}"
    if out.returncode:
        return f"mounting a tmpfs is not permitted here: {out.stderr.strip() or out.returncode}"
    _umount(path)
    return None


class Drive:
    """A folder of photos on a drive that is unplugged and plugged in again.

    ``mount``: a tmpfs mounted at ``path``; unplugged by ``umount -l`` (what a desktop does when a drive is pulled
    out), which leaves the bare mount point behind, an empty folder on another file system; plugged in again as a
    new tmpfs with the same files (same sizes and modification times: a drive's files as they were), filled
    elsewhere and bind-mounted in place, so that like a drive's they are all there at once. ``rename``: the
    folder renamed away and back (the folder is gone meanwhile)."""

    def __init__(self, kind: str, root: Path) -> None:
        self.kind = kind
        self.path = root / "drive"
        self.away = root / "away"
        self.filling = root / "drive-being-filled"
        self.photos = root / "on-the-drive"  # what the drive holds: fill it, then ``plug``
        self.mounted = False

    def plug(self) -> None:
        if self.kind == "rename":
            if self.away.exists():
                self.away.rename(self.path)
            else:
                shutil.copytree(self.photos, self.path)
            return
        self.path.mkdir(exist_ok=True)
        self.filling.mkdir(exist_ok=True)
        out = _mount(self.filling)
        assert out.returncode == 0, out.stderr
        try:
            for f in sorted(self.photos.iterdir()):
                shutil.copy2(f, self.filling / f.name)  # copy2: the modification time is the file's, as on a drive
            subprocess.run(["mount", "--bind", str(self.filling), str(self.path)], check=True)
            self.mounted = True
        finally:
            _umount(self.filling)  # the tmpfs lives on at ``path`` alone: unmounting that is the drive going

    def unplug(self) -> None:
        if self.kind == "rename":
            self.path.rename(self.away)
        else:
            _umount(self.path)
            self.mounted = False


@pytest.fixture(params=["mount", "rename"])
def drive(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Drive]:
    d = Drive(request.param, tmp_path)
    if d.kind == "mount" and (why := mount_refused(d.path)):
        pytest.skip(f"{why}; the rename variant of this test simulates the drive instead")
    try:
        yield d
    finally:
        if d.mounted:  # a failing test never leaves a mount behind
            _umount(d.path)


@pytest.fixture(scope="module")
def faces() -> FaceAnalyzer:
    return FaceAnalyzer(Models(device="cpu", with_head=False, with_labels=False).device)


def kept(s: Session) -> dict[str, Any]:
    """Everything the catalogue holds about the photos, to compare before and after (rows in id order)."""
    return {
        "photos": s.execute(
            select(
                Photo.id, Photo.path, Photo.state, Photo.content_hash, Photo.size, Photo.mtime_ns, Photo.indexed_at
            ).order_by(Photo.id)
        ).all(),
        "embeddings": s.execute(select(Embedding.photo_id, Embedding.vector).order_by(Embedding.photo_id)).all(),
        "labels": s.execute(
            select(PhotoLabel.photo_id, PhotoLabel.word_id, PhotoLabel.p).order_by(
                PhotoLabel.photo_id, PhotoLabel.word_id
            )
        ).all(),
        "scores": s.execute(select(BirdScore.photo_id, BirdScore.score).order_by(BirdScore.photo_id)).all(),
        "faces": s.execute(select(Face.id, Face.photo_id, Face.descriptor, Face.person_id).order_by(Face.id)).all(),
        "analyses": s.execute(
            select(PhotoAnalysis.photo_id, PhotoAnalysis.version, PhotoAnalysis.analysed_at).order_by(
                PhotoAnalysis.photo_id
            )
        ).all(),
    }


def pump(gen: Any, until: Any, limit: float = 300.0) -> None:
    """Pull the watcher until ``until()`` holds (checked after every record); ``limit`` guards against a hang."""
    start = time.monotonic()
    while not until():
        assert time.monotonic() - start < limit, "the watcher did not get there"
        next(gen)


def test_a_drive_unmounted_while_watched_keeps_its_photos_offline_and_brings_them_back(
    drive: Drive, library: Library, models: Models, faces: FaceAnalyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    birds = copy_real(drive.photos, 2, 2)
    people = copy_lfw(drive.photos, lfw(1, 2))
    drive.plug()
    scan.add_folder(library, drive.path)
    monkeypatch.setattr(watch_mod, "MISSING_GRACE_SECONDS", 0.5)
    records: list[Progress] = []

    def passes() -> int:
        return sum(p.phase is Phase.DONE for p in records)

    gen = watch_mod.watch(library, Indexer(library, models, faces=faces), poll_seconds=1.0, tick=0.2)
    watching = (records.append(p) or p for p in gen)
    try:
        pump(watching, lambda: passes() >= 1)
        with library.session() as s:
            before = kept(s)
        ids = [row.id for row in before["photos"]]
        assert len(ids) == len(birds) + len(people) and all(r.state == PhotoState.INDEXED for r in before["photos"])
        assert before["faces"] and before["labels"] and len(before["embeddings"]) == len(ids)
        marked = catalogue.set_user_label(library, ids[:1], "bird").labelled
        bird_hits = {h.photo_id for h in search(library, "bird")}

        # from here on, nothing may be read or analysed again
        calls = {"read": 0, "analyze": 0, "faces": 0}
        real_read, real_analyze, real_faces = index_mod.read_one, Models.analyze, analyses._analyse_one

        def counted(key: str, real: Any) -> Any:
            def call(*a: Any, **k: Any) -> Any:
                calls[key] += 1
                return real(*a, **k)

            return call

        monkeypatch.setattr(index_mod, "read_one", counted("read", real_read))
        monkeypatch.setattr(Models, "analyze", counted("analyze", real_analyze))
        monkeypatch.setattr(analyses, "_analyse_one", counted("faces", real_faces))

        # the drive goes while the watcher runs; it waits well past the missing grace, through full rescans
        drive.unplug()
        gone_at, seen = time.monotonic(), passes()
        pump(
            watching, lambda: passes() >= seen + 3 and time.monotonic() - gone_at > 8 * watch_mod.MISSING_GRACE_SECONDS
        )
        assert purge_missing(library) == 0
        with library.session() as s:
            assert kept(s) == before  # every row, result, face and analysis as it was
        assert [f.state for f in scan.list_folders(library)] == [scan.FolderState.OFFLINE]
        assert all(catalogue.info(library, pid)["offline"] for pid in ids)
        assert catalogue.info(library, ids[0])["user_label"] == "bird" and marked == 1
        everything = [h.photo_id for h in search(library, "")]
        assert sorted(everything) == sorted(ids)  # still found, flagged offline
        assert all(b.offline for b in catalogue.briefs(library, everything).values())
        assert {h.photo_id for h in search(library, "bird")} == bird_hits

        # it comes back: online again, nothing read or analysed again, nothing lost
        drive.plug()
        back_at = passes()
        pump(
            watching,
            lambda: (
                passes() >= back_at + 2 and [f.state for f in scan.list_folders(library)] == [scan.FolderState.ONLINE]
            ),
        )
        with library.session() as s:
            assert kept(s) == before
        assert not any(catalogue.info(library, pid)["offline"] for pid in ids)
        assert calls == {"read": 0, "analyze": 0, "faces": 0}
        assert catalogue.info(library, ids[0])["user_label"] == "bird"
    finally:
        gen.close()


def test_the_watcher_watches_a_drive_again_when_it_comes_back(drive: Drive, library: Library) -> None:
    """An unmounted drive's watch goes quiet without a word (inotify reports no deletion) and a deleted folder's
    stops: each is noticed, the old watch let go without an error, and the drive watched again once it is back,
    so a photo copied onto it then arrives as an event, not at the next full rescan minutes later."""
    drive.photos.mkdir()
    (drive.photos / "photo.jpg").write_bytes(small_jpeg(1))
    drive.plug()
    scan.add_folder(library, drive.path)
    watcher = watch_mod.Watcher(library)
    watcher.start()
    try:
        assert watcher.follow_folders() == []
        drive.unplug()
        assert watcher.follow_folders() == [str(drive.path)]
        assert watcher.follow_folders() == []  # offline stays offline: nothing to do until it changes again
        drive.plug()
        assert watcher.follow_folders() == [str(drive.path)]
        assert arrives(watcher, drive.path / "new.jpg")

        # unplugged and plugged back between two looks: maybe the same directory again (a tmpfs, like a drive,
        # can come back with the same device number and root), under a dead watch; a full rescan's renewal helps
        drive.unplug()
        drive.plug()
        watcher.renew()
        assert watcher.follow_folders() == []
        assert arrives(watcher, drive.path / "newer.jpg")
    finally:
        watcher.stop()


def arrives(watcher: watch_mod.Watcher, photo: Path) -> bool:
    """Whether a photo written now reaches the watcher as an event."""
    photo.write_bytes(small_jpeg(len(photo.name)))
    arrived: set[str] = set()
    for _ in range(40):  # a guard against a hang, not a timing: the event comes within a gather or two
        arrived |= watcher.gather(timeout=0.5).files
        if str(photo) in arrived:
            return True
    return False


def test_an_empty_mount_point_left_by_an_unmounted_drive_is_offline_not_emptied(tmp_path: Path, models: Models) -> None:
    """No watcher: a scan or an index run (``photobird index``) after the drive was unmounted while PhotoBird was
    not running finds the bare mount point, an empty folder that ``os.path.isdir`` calls a folder."""
    mount_point = tmp_path / "drive"
    if why := mount_refused(mount_point):
        pytest.skip(f"{why}: an empty mount point needs a real mount (the watcher test simulates the rest)")
    lib = Library(tmp_path / "lib")
    lib.set_setting(SettingKey.FACES, False)
    try:
        assert _mount(mount_point).returncode == 0
        try:
            for i in range(4):
                (mount_point / f"photo-{i}.jpg").write_bytes(small_jpeg(i))
            scan.add_folder(lib, mount_point)
            assert scan.scan(lib).new == 4
            (mount_point / "photo-3.jpg").unlink()  # deleted for good, the drive still there
            assert scan.scan(lib).missing == 1
            files = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in mount_point.iterdir()}
        finally:
            _umount(mount_point)
        assert mount_point.is_dir() and not any(mount_point.iterdir())
        states = [PhotoState.PENDING] * 3 + [PhotoState.MISSING]

        # a scan, an index run, a watcher's deletions, a new folder's scan and the purge leave the photos as they
        # were (even the missing one waits: what is on a drive that is not there is not decided)
        result = scan.scan(lib)
        summary = index_mod.index(lib, models)
        watch_mod.apply_changes(lib, watch_mod.ChangeSet(deleted={str(mount_point) + os.sep}), set())
        scan.scan_subtree(lib, str(mount_point))
        assert (result.missing, summary.indexed, summary.failed, summary.removed, purge_missing(lib)) == (0,) * 5
        with lib.session() as s:
            assert s.scalars(select(Photo.state).order_by(Photo.id)).all() == states
        assert [f.state for f in scan.list_folders(lib)] == [scan.FolderState.OFFLINE]
        # and the command line says so
        assert "(offline: its drive is not connected; its photos are kept)" in run(lib.root, "folders", "list").stdout
        assert json.loads(run(lib.root, "info", str(mount_point / "photo-0.jpg"), "--json").stdout)["offline"] is True

        # a file put in the bare mount point is not the drive: it is neither added nor does it bring the drive back
        (mount_point / "stray.jpg").write_bytes(small_jpeg(99))
        assert scan.scan(lib).new == 0
        assert [f.state for f in scan.list_folders(lib)] == [scan.FolderState.OFFLINE]
        (mount_point / "stray.jpg").unlink()

        # mounted again with the same files: online, every photo unchanged; the deleted one goes now
        assert _mount(mount_point).returncode == 0
        try:
            for name, (data, mtime_ns) in files.items():
                (mount_point / name).write_bytes(data)
                os.utime(mount_point / name, ns=(mtime_ns, mtime_ns))
            result = scan.scan(lib)
            assert (result.new, result.changed, result.unchanged, result.missing) == (0, 0, 3, 0)
            assert [f.state for f in scan.list_folders(lib)] == [scan.FolderState.ONLINE]
            assert purge_missing(lib) == 1
        finally:
            _umount(mount_point)
    finally:
        lib.close()


def test_photos_deleted_from_a_folder_on_its_own_drive_are_deleted(tmp_path: Path) -> None:
    """Offline is not "empty": a folder the user emptied, where it always was, loses its photos."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        (photos / f"photo-{i}.jpg").write_bytes(small_jpeg(i))
    lib = Library(tmp_path / "lib")
    try:
        scan.add_folder(lib, photos)
        scan.scan(lib)
        for p in photos.iterdir():
            p.unlink()
        assert [f.state for f in scan.list_folders(lib)] == [scan.FolderState.ONLINE]
        assert scan.scan(lib).missing == 3
        assert purge_missing(lib) == 3
    finally:
        lib.close()


def test_a_catalogue_from_before_offline_folders_learns_where_a_folder_is_at_its_next_scan(tmp_path: Path) -> None:
    """Migration 0005 adds the folders' file system, unknown until a scan finds photos in the folder; while it is
    unknown, a folder none of whose photos is there is offline (the careful answer), not emptied."""
    from alembic import command

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        (photos / f"photo-{i}.jpg").write_bytes(small_jpeg(i))
    lib = Library(tmp_path / "lib", migrate=False)
    cfg = _alembic_config()
    with lib.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
    with lib.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO folders (id, path, added_at) VALUES (1, ?, '2026-01-01')", (bytes(photos),))
    lib.close()
    lib = Library(tmp_path / "lib")  # opening it migrates
    try:
        with lib.session() as s:
            assert s.scalar(select(Folder.device)) is None
        assert scan.scan(lib).new == 2
        with lib.session() as s:
            assert s.scalar(select(Folder.device)) == photos.stat().st_dev
            s.execute(update(Folder).values(device=None))  # as if the photos had come in by the watcher only
        photos.rename(tmp_path / "elsewhere")
        photos.mkdir()  # a bare folder in its place: unknown file system, none of its photos there
        assert scan.scan(lib).missing == 0
        assert [f.state for f in scan.list_folders(lib)] == [scan.FolderState.OFFLINE]
    finally:
        lib.close()
