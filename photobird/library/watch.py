"""Watch the folders and keep the catalogue true while files come and go (watchdog).

Events are coalesced: after the first one, changes are gathered until the folder has been quiet for a moment
(or a few seconds have passed), so copying in a thousand files makes a handful of index passes, not a thousand.
A created or modified file is indexed only once it stops growing (its size and mtime unchanged across a short
wait), so a photo still being copied is never read half-written. Moves are applied to the catalogue directly
(the photo keeps its id, results and label); deletions mark photos missing, so a move seen as delete + create
still re-links by content hash. When the OS runs out of watches, or events may have been lost, the watcher
falls back to rescanning periodically.

A watched folder on a drive that is unmounted goes quiet (inotify drops the watch and reports no deletion), or
disappears, or is replaced by the bare mount point: the watcher notices the folder's directory is no longer the
one it watches, watches whatever is there now, and rescans the folder, which finds it offline (``scan``) and keeps
its photos as they are; when the drive is back, the same rescan finds them again, unchanged. Nothing the events
say about an offline folder (deletions while it goes) makes its photos missing.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import stat
import time
from collections.abc import Generator
from dataclasses import dataclass, field

from sqlalchemy import select, update
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from photobird.library import scan as scan_mod
from photobird.library.db import locks
from photobird.library.index import Indexer, IndexSummary, Phase, Progress, purge_missing
from photobird.library.schema import Folder, Photo, PhotoState
from photobird.library.store import Library

log = logging.getLogger(__name__)

QUIET_SECONDS = 0.5  # coalescing: wait for this much silence...
MAX_GATHER_SECONDS = 3.0  # ...but no longer than this
SETTLE_SECONDS = 1.0  # a file must keep its size and mtime this long before it is read
MISSING_GRACE_SECONDS = 30.0  # a deleted photo's row waits this long for its content to reappear (a move)


@dataclass
class ChangeSet:
    files: set[str] = field(default_factory=set)  # created or modified
    deleted: set[str] = field(default_factory=set)
    moved: list[tuple[str, str]] = field(default_factory=list)
    dirs: set[str] = field(default_factory=set)  # folders to rescan (created, moved in)
    rescan: bool = False  # events may have been lost: rescan everything

    def __bool__(self) -> bool:
        return bool(self.files or self.deleted or self.moved or self.dirs or self.rescan)


class _Handler(FileSystemEventHandler):
    def __init__(self, q: queue.Queue[tuple[str, str, str, bool]]) -> None:
        self.q = q

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(getattr(event, "dest_path", "") or "")
        self.q.put((event.event_type, src, dest, event.is_directory))


def _identity(path: str) -> tuple[int, int] | None:
    """Which directory is at ``path`` now (device, inode); None when there is none (or it cannot be read)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


class Watcher:
    """Observers on every watched folder, feeding one queue of raw events."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.events: queue.Queue[tuple[str, str, str, bool]] = queue.Queue()
        self.observer = Observer()
        self.handler = _Handler(self.events)
        self.polling = False  # True when some folder could not be watched: rescan periodically
        self.folders: list[str] = []
        #: folder -> its observer's watch and the directory it watches (``_identity``)
        self.watched: dict[str, tuple[ObservedWatch, tuple[int, int]]] = {}

    def start(self) -> None:
        with self.library.session() as s:
            self.folders = [f for f in s.scalars(select(Folder.path))]
        self.follow_folders()
        self.observer.start()

    def follow_folders(self) -> list[str]:
        """Watch the directory that is at each folder's path now; returns the folders where that changed.

        A drive unmounted under its watch does not stop it, and reports nothing (inotify drops the watch, no
        deletion is seen); a folder deleted stops its watch after one event; a drive mounted again is a new
        directory the old watch never sees. So each folder's directory is compared with the one its watch was
        made for, and a different one (or none) is watched afresh: these folders are offline now, or back.
        """
        changed = []
        for path in self.folders:
            now = _identity(path)
            old = self.watched.get(path)
            if (old[1] if old else None) == now:
                continue
            if old is not None:
                self.observer.unschedule(old[0])  # also when its emitter has stopped (the folder was deleted)
                del self.watched[path]
            if now is not None:
                self._schedule(path, now)
            changed.append(path)
        return changed

    def renew(self) -> None:
        """Watch every folder afresh. A drive unmounted and mounted back between two looks of ``follow_folders``
        can be the same directory again (same device number, same root), under a watch the kernel dropped without
        a word; the full rescans renew the watches, so such a drive is watched again at the next one."""
        for watch, _ in self.watched.values():
            self.observer.unschedule(watch)
        self.watched.clear()
        self.follow_folders()

    def _schedule(self, path: str, identity: tuple[int, int]) -> None:
        try:
            self.watched[path] = (self.observer.schedule(self.handler, path, recursive=True), identity)
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EMFILE, errno.ENFILE):
                log.warning("out of file watches for %s (%s): falling back to periodic rescans", path, e)
                self.polling = True
            elif e.errno in (errno.ENOENT, errno.ENOTDIR, errno.EIO):
                log.info("%s went away as it was being watched", path)  # the next look sees it gone
            else:
                raise

    def stop(self) -> None:
        self.observer.stop()
        if self.observer.is_alive():
            self.observer.join(timeout=5)

    def gather(self, timeout: float) -> ChangeSet:
        """Wait up to ``timeout`` for a first event, then coalesce until quiet."""
        changes = ChangeSet()
        try:
            first = self.events.get(timeout=timeout)
        except queue.Empty:
            return changes
        self._add(changes, first)
        start = last = time.monotonic()
        while time.monotonic() - start < MAX_GATHER_SECONDS:
            try:
                ev = self.events.get(timeout=max(0.0, QUIET_SECONDS - (time.monotonic() - last)))
            except queue.Empty:
                break
            self._add(changes, ev)
            last = time.monotonic()
        return changes

    @staticmethod
    def _add(c: ChangeSet, ev: tuple[str, str, str, bool]) -> None:
        kind, src, dest, is_dir = ev
        if kind == "overflow":
            c.rescan = True
        elif is_dir:
            if kind in ("created", "moved"):
                c.dirs.add(dest or src)
            if kind in ("deleted", "moved"):
                c.deleted.add(src + os.sep)  # a prefix: everything below it
        elif kind == "moved":
            c.moved.append((src, dest))
            c.files.discard(src)
        elif kind == "deleted":
            c.deleted.add(src)
            c.files.discard(src)
        else:  # created, modified, closed
            c.files.add(src)
            c.deleted.discard(src)


def settle(paths: set[str], wait: float = SETTLE_SECONDS) -> tuple[set[str], set[str]]:
    """(stable, still changing): a file is stable if its size and mtime do not change over ``wait``."""
    before = {}
    for p in paths:
        try:
            st = os.stat(p)
            before[p] = (st.st_size, st.st_mtime_ns)
        except OSError:
            before[p] = None
    time.sleep(wait)
    stable, busy = set(), set()
    for p, b in before.items():
        try:
            st = os.stat(p)
            now = (st.st_size, st.st_mtime_ns)
        except OSError:
            now = None
        (stable if now == b else busy).add(p)
    return stable, busy


def apply_changes(library: Library, changes: ChangeSet, files: set[str]) -> None:
    """Record ``changes`` in the catalogue; ``files`` are the created/modified paths that have settled.

    What happens in an offline folder is left alone: a drive going away may be reported as deletions, and an
    unmounted drive's bare mount point is not the drive."""
    with library.session() as s:
        folders = [(fid, p) for fid, p in s.execute(select(Folder.id, Folder.path))]
        offline = scan_mod.offline_folder_ids(s)

        def online(path: str) -> bool:
            fid = scan_mod.folder_for(folders, path)
            return fid is not None and fid not in offline

        now = scan_mod.utcnow()
        for src, dest in changes.moved:
            row = s.scalar(select(Photo).where(Photo.path == src))
            dest_ok = scan_mod.is_image_name(os.path.basename(dest)) and online(dest)
            if row is not None and dest_ok and s.scalar(select(Photo.id).where(Photo.path == dest)) is None:
                name, d = scan_mod._text(dest)
                s.execute(
                    update(Photo)
                    .where(Photo.id == row.id)
                    .values(path=dest, name=name, dir=d, folder_id=scan_mod.folder_for(folders, dest))
                )
            else:
                if row is not None and online(src):
                    s.execute(
                        update(Photo)
                        .where(Photo.id == row.id, Photo.state != PhotoState.MISSING)
                        .values(state=PhotoState.MISSING, missing_since=now)
                    )
                if dest_ok:
                    files.add(dest)
        for path in changes.deleted:
            if not online(path):
                continue
            if path.endswith(os.sep):  # a whole folder went away
                ids = s.scalars(
                    select(Photo.id).where(Photo.path >= path, Photo.path < path[:-1] + chr(ord(os.sep) + 1))
                )
            else:
                ids = s.scalars(select(Photo.id).where(Photo.path == path))
            scan_mod.mark_missing(s, list(ids))
        files = {p for p in files if online(p)}
        disk = [f for f in (scan_mod.stat_file(p) for p in files) if f is not None]
        gone = [p for p in files if not os.path.lexists(p)]
        known = (
            {
                r.path: (r.id, r.size, r.mtime_ns, r.state)
                for r in s.execute(
                    select(Photo.id, Photo.path, Photo.size, Photo.mtime_ns, Photo.state).where(
                        Photo.path.in_([f.path for f in disk])
                    )
                )
            }
            if disk
            else {}
        )
        scan_mod.apply_disk_files(s, folders, disk, known, scan_mod.ScanResult())
        if gone:
            scan_mod.mark_missing(s, s.scalars(select(Photo.id).where(Photo.path.in_(gone))))


def watch(
    library: Library, indexer: Indexer, poll_seconds: float = 300.0, tick: float = 0.5
) -> Generator[Progress, None, IndexSummary]:
    """Index everything, then keep indexing as the folders change, until the generator is closed.

    Yields a ``Progress`` at least every ``tick`` seconds (phase "watching" while idle), so the caller can
    show state and stop it at any time.
    """
    total = IndexSummary()

    def run(**kw: object) -> Generator[Progress, None, None]:
        result = yield from indexer.run(**kw)  # type: ignore[arg-type]
        for k in ("indexed", "failed", "relinked", "removed", "analysed"):
            setattr(total, k, getattr(total, k) + getattr(result, k))
        total.unchanged = result.unchanged

    # the observers start first: a file written while the first pass runs (its faces phase can take minutes) is
    # an event waiting in the queue, not a change missed until the next full rescan
    watcher = Watcher(library)
    watcher.start()
    carried: set[str] = set()
    try:
        yield from run()
        last_full = time.monotonic()
        while True:
            came_or_went = watcher.follow_folders()
            if came_or_went:  # a drive unmounted or mounted again: the rescan says which, and keeps its photos
                log.info("rescanning %s: its folder is not the one watched any more", ", ".join(came_or_went))
                yield from run(folder_paths=came_or_went, purge=False)
            changes = watcher.gather(timeout=tick)
            changes.files |= carried
            carried = set()
            overdue = time.monotonic() - last_full > (30.0 if watcher.polling else poll_seconds)
            if changes.rescan or overdue:
                last_full = time.monotonic()
                watcher.renew()  # before the rescan, which sees what happened while no watch was there
                yield from run(purge=False)
                yield from _purge(library)
                continue
            if not changes:
                yield from _purge(library)
                yield Progress(Phase.WATCHING, 0, 0)
                continue
            stable, busy = settle({p for p in changes.files if os.path.lexists(p)})
            carried = busy  # still being written: look again next round
            # (under the scanning lock: on PostgreSQL an indexer on another computer may be scanning the same
            # folders, and two writers would insert the same new file twice)
            with locks.first_or_wait(library.engine, locks.Key.SCANNING):
                apply_changes(library, changes, stable)
                for d in changes.dirs:
                    if os.path.isdir(d):
                        scan_mod.scan_subtree(library, d)
            yield from run(scan_first=False, purge=False)
            yield from _purge(library)
    finally:
        watcher.stop()


def _purge(library: Library) -> Generator[Progress, None, None]:
    if purge_missing(library, older_than_seconds=MISSING_GRACE_SECONDS):
        yield Progress(Phase.WATCHING, 0, 0)
