"""Keep the catalogue true to the disk: watched folders, and reconciling what is there with what is known.

A scan only stats files (it never reads them): new and changed files become *pending* for the indexer, files
that disappeared become *missing*. A missing photo is not deleted at once: if the same content shows up at
another path (a move or a rename), the indexer re-links the old row to the new path by content hash, keeping
its scores and embedding; only missing rows nobody claimed are purged.

A watched folder whose drive is not connected is *offline* (``FolderState``): its photos are never marked missing
or purged, keep their results, faces and labels, stay searchable (flagged offline), and are online again, not
re-analysed, when the drive returns. Offline is what the disk says now, read whenever it is asked, never stored.
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from photobird.library import keepsake
from photobird.library.schema import Folder, Photo, PhotoState, utcnow
from photobird.library.store import Library
from photobird.media.decode import IMAGE_EXTENSIONS


class FolderError(Exception):
    """A folder that cannot be added or removed; the message says why."""


# --------------------------------------------------------------------------------------------------------------
# folders


def _norm(path: Path | str) -> Path:
    return Path(os.path.abspath(os.path.expanduser(os.fsdecode(path))))


@keepsake.kept
def add_folder(library: Library, path: Path | str) -> Folder:
    """Watch ``path`` (and everything below it). Adding a parent of watched folders absorbs them."""
    path = _norm(path)
    if not path.is_dir():
        raise FolderError(f"{path} is not a folder")
    if path.resolve() == library.root or path.resolve().is_relative_to(library.root):
        raise FolderError("the library folder itself cannot be watched")
    with library.session() as s:
        folders = list(s.scalars(select(Folder)))
        for f in folders:
            existing = Path(f.path)
            if path == existing or path.is_relative_to(existing):
                raise FolderError(f"{path} is already watched (as part of {existing})")
        folder = Folder(path=str(path), device=path.stat().st_dev)
        s.add(folder)
        s.flush()
        for f in folders:  # watched folders inside the new one become part of it
            if Path(f.path).is_relative_to(path):
                s.execute(update(Photo).where(Photo.folder_id == f.id).values(folder_id=folder.id))
                s.delete(f)
        return folder


@keepsake.kept
def remove_folder(library: Library, path: Path | str) -> int:
    """Stop watching ``path``; its photos leave the catalogue (user labels stay: they belong to the content)."""
    path = _norm(path)
    with library.session() as s:
        folder = s.scalar(select(Folder).where(Folder.path == str(path)))
        if folder is None:
            raise FolderError(f"{path} is not a watched folder")
        n = s.scalar(select(func.count()).select_from(Photo).where(Photo.folder_id == folder.id)) or 0
        s.execute(delete(Photo).where(Photo.folder_id == folder.id))
        s.delete(folder)
        return n


class FolderState(enum.StrEnum):
    """Whether a watched folder's photos can be read now."""

    ONLINE = "online"
    #: Its drive is not connected (or the folder is gone): its photos are kept as they were until it returns.
    OFFLINE = "offline"


def _dir_is_empty(path: str) -> bool:
    with os.scandir(path) as entries:
        return next(entries, None) is None


def folder_state(s: Session, folder_id: int, path: str, device: int | None) -> FolderState:
    """Whether the folder is offline: its directory is gone or unreadable, or none of its photos is there while
    it is not on the file system it was on when it was added or its photos were last seen (``device``; unknown
    for a folder of an older catalogue until a scan finds photos there) or it is a mount point (another drive in
    the same place).

    Why not just "the folder is empty": an unmounted drive leaves its mount point behind as an empty folder, and
    reading that as "every photo deleted" would purge their results and faces. Why not just "another file
    system": a drive plugged in again may get another device number; if its photos are there, it is back.
    A folder on the same file system whose photos were all deleted is online: they are gone.
    """
    try:
        st = os.stat(path)
        if not stat.S_ISDIR(st.st_mode):
            return FolderState.OFFLINE
        if device == st.st_dev and not os.path.ismount(path):
            return FolderState.ONLINE
        empty = _dir_is_empty(path)
    except OSError:  # gone, or a drive pulled out without unmounting (I/O error)
        return FolderState.OFFLINE
    live = select(Photo.path).where(Photo.folder_id == folder_id, Photo.state != PhotoState.MISSING)
    first = s.scalar(live.limit(1))
    if first is None:
        return FolderState.ONLINE  # nothing to keep: an empty folder is just empty
    if empty:
        return FolderState.OFFLINE
    if os.path.lexists(first):  # the usual answer for a drive that is there, without reading every path
        return FolderState.ONLINE
    return FolderState.ONLINE if any(os.path.lexists(p) for p in s.scalars(live)) else FolderState.OFFLINE


def offline_folder_ids(s: Session) -> set[int]:
    """The watched folders that are offline now (see ``folder_state``)."""
    return {
        fid
        for fid, path, device in s.execute(select(Folder.id, Folder.path, Folder.device))
        if folder_state(s, fid, path, device) is FolderState.OFFLINE
    }


@dataclass(frozen=True)
class FolderInfo:
    path: str
    photos: int
    indexed: int
    failed: int
    pending: int
    state: FolderState


def list_folders(library: Library) -> list[FolderInfo]:
    with library.session() as s:
        counts: dict[tuple[int, str], int] = {
            (fid, st): n
            for fid, st, n in s.execute(
                select(Photo.folder_id, Photo.state, func.count()).group_by(Photo.folder_id, Photo.state)
            )
        }
        out = []
        for f in s.scalars(select(Folder).order_by(Folder.path)):
            by = {
                st: counts.get((f.id, st), 0)
                for st in (PhotoState.INDEXED, PhotoState.FAILED, PhotoState.PENDING, PhotoState.MISSING)
            }
            out.append(
                FolderInfo(
                    path=f.path,
                    photos=by[PhotoState.INDEXED] + by[PhotoState.FAILED] + by[PhotoState.PENDING],
                    indexed=by[PhotoState.INDEXED],
                    failed=by[PhotoState.FAILED],
                    pending=by[PhotoState.PENDING],
                    state=folder_state(s, f.id, f.path, f.device),
                )
            )
        return out


def folder_for(folders: Iterable[tuple[int, str]], path: str) -> int | None:
    """The id of the deepest watched folder containing ``path``."""
    best: tuple[int, int] | None = None
    for fid, fpath in folders:
        if path == fpath or path.startswith(fpath.rstrip(os.sep) + os.sep):
            depth = len(fpath)
            if best is None or depth > best[1]:
                best = (fid, depth)
    return best[0] if best else None


# --------------------------------------------------------------------------------------------------------------
# walking the disk


@dataclass(frozen=True)
class DiskFile:
    path: str
    size: int
    mtime_ns: int
    error: str | None = None  # a file that is there but cannot even be stat'ed (broken link, no permission)


def is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def walk(root: Path | str, exclude: Iterable[Path | str] = ()) -> Iterator[DiskFile]:
    """Image files below ``root``: hidden files and folders and ``exclude`` skipped, symlinked folders
    followed once (a symlink loop is visited once, never forever), non-regular files (FIFOs, devices) skipped."""
    excluded: set[tuple[int, int]] = set()
    for p in exclude:
        try:
            st = os.stat(p)
            excluded.add((st.st_dev, st.st_ino))
        except OSError:
            pass
    stack = [os.path.abspath(os.fsdecode(root))]
    seen: set[tuple[int, int]] = set()
    while stack:
        d = stack.pop()
        try:
            st = os.stat(d)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen or key in excluded:
            continue
        seen.add(key)
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for e in entries:
            if e.name.startswith("."):
                continue
            try:
                is_dir = e.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                subdirs.append(e.path)
                continue
            if not is_image_name(e.name):
                continue
            try:
                fst = e.stat(follow_symlinks=True)
            except OSError as err:
                reason = "broken symbolic link" if e.is_symlink() else (err.strerror or str(err))
                yield DiskFile(e.path, 0, 0, error=f"cannot be read: {reason}")
                continue
            if not stat.S_ISREG(fst.st_mode):
                continue
            yield DiskFile(e.path, fst.st_size, fst.st_mtime_ns)
        stack.extend(reversed(subdirs))


def stat_file(path: str) -> DiskFile | None:
    """The ``DiskFile`` for one path, or None if it is gone (or not a regular image file)."""
    if not is_image_name(os.path.basename(path)):
        return None
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return DiskFile(path, 0, 0, error="cannot be read: broken symbolic link")
        return None
    except OSError as err:
        return DiskFile(path, 0, 0, error=f"cannot be read: {err.strerror or err}")
    if not stat.S_ISREG(st.st_mode):
        return None
    return DiskFile(path, st.st_size, st.st_mtime_ns)


# --------------------------------------------------------------------------------------------------------------
# reconciling


@dataclass
class ScanResult:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    missing: int = 0
    failed: int = 0
    pending_ids: list[int] = field(default_factory=list)


def _text(path: str) -> tuple[str, str]:
    """(file name, folder) as lower-case text for name search; undecodable bytes replaced."""
    raw = os.fsencode(path)
    text = raw.decode("utf-8", "replace")
    d, n = os.path.split(text)
    return n.lower(), d.lower()


def new_photo_row(folder_id: int, f: DiskFile) -> dict:
    name, d = _text(f.path)
    return {
        "folder_id": folder_id,
        "path": f.path,
        "name": name,
        "dir": d,
        "size": f.size,
        "mtime_ns": f.mtime_ns,
        "state": PhotoState.FAILED if f.error else PhotoState.PENDING,
        "error": f.error,
        "added_at": utcnow(),
    }


def apply_disk_files(
    s: Session,
    folders: list[tuple[int, str]],
    files: Iterable[DiskFile],
    known: dict[str, tuple[int, int, int, str]],
    result: ScanResult,
) -> None:
    """Insert or mark pending the given files; ``known`` maps path -> (id, size, mtime_ns, state)."""
    inserts: list[dict] = []
    for f in files:
        row = known.pop(f.path, None)
        if row is None:
            fid = folder_for(folders, f.path)
            if fid is None:
                continue
            inserts.append(new_photo_row(fid, f))
            result.new += 1
            if f.error:
                result.failed += 1
            continue
        pid, size, mtime_ns, state = row
        if f.error:
            if state != PhotoState.FAILED:
                s.execute(update(Photo).where(Photo.id == pid).values(state=PhotoState.FAILED, error=f.error))
            result.failed += 1
        elif size != f.size or mtime_ns != f.mtime_ns:
            s.execute(
                update(Photo)
                .where(Photo.id == pid)
                .values(size=f.size, mtime_ns=f.mtime_ns, state=PhotoState.PENDING, missing_since=None)
            )
            result.changed += 1
            result.pending_ids.append(pid)
        elif state == PhotoState.MISSING:  # it came back unchanged
            s.execute(update(Photo).where(Photo.id == pid).values(state=PhotoState.PENDING, missing_since=None))
            result.changed += 1
            result.pending_ids.append(pid)
        else:
            result.unchanged += 1
            if state == PhotoState.PENDING:
                result.pending_ids.append(pid)
        if len(inserts) >= 2000:
            s.execute(Photo.__table__.insert(), inserts)
            inserts.clear()
    if inserts:
        s.execute(Photo.__table__.insert(), inserts)


def mark_missing(s: Session, ids: Iterable[int]) -> int:
    ids = list(ids)
    now = utcnow()
    for i in range(0, len(ids), 500):
        s.execute(
            update(Photo)
            .where(Photo.id.in_(ids[i : i + 500]), Photo.state != PhotoState.MISSING)
            .values(state=PhotoState.MISSING, missing_since=now)
        )
    return len(ids)


def scan(library: Library, folder_paths: Iterable[str] | None = None) -> ScanResult:
    """Reconcile the catalogue with the disk for all watched folders (or the given ones)."""
    result = ScanResult()
    with library.session() as s:
        rows = s.execute(select(Folder.id, Folder.path, Folder.device)).all()
        folders = [(fid, p) for fid, p, _ in rows]
        wanted = {_norm(p) for p in folder_paths} if folder_paths is not None else None
        for fid, fpath, device in rows:
            if wanted is not None and Path(fpath) not in wanted:
                continue
            if folder_state(s, fid, fpath, device) is FolderState.OFFLINE:
                continue  # its drive is not connected: keep everything as it was rather than mark it all missing
            # photos of this folder only: nested watched folders were merged into their parent
            known = {
                r.path: (r.id, r.size, r.mtime_ns, r.state)
                for r in s.execute(
                    select(Photo.id, Photo.path, Photo.size, Photo.mtime_ns, Photo.state).where(Photo.folder_id == fid)
                )
            }
            files = walk(fpath, exclude=[library.root])
            first = next(files, None)
            if first is not None:
                apply_disk_files(s, folders, itertools.chain((first,), files), known, result)
            gone = [pid for pid, _, _, state in known.values() if state != PhotoState.MISSING]
            # the drive may have gone while it was walked: then what the walk missed is offline, not deleted
            if gone and folder_state(s, fid, fpath, device) is FolderState.ONLINE:
                result.missing += mark_missing(s, gone)
            values: dict[str, object] = {"last_scan_at": utcnow()}
            if first is not None:  # photos here: remember the file system they are on
                with contextlib.suppress(OSError):
                    values["device"] = os.stat(fpath).st_dev
            s.execute(update(Folder).where(Folder.id == fid).values(**values))
    return result


def pending_ids(library: Library) -> list[int]:
    with library.session() as s:
        return list(s.scalars(select(Photo.id).where(Photo.state == PhotoState.PENDING).order_by(Photo.id)))


def scan_subtree(library: Library, directory: str) -> ScanResult:
    """Reconcile one folder below a watched folder (one that was just created or moved in)."""
    directory = os.path.abspath(os.fsdecode(directory))
    prefix = directory.rstrip(os.sep) + os.sep
    result = ScanResult()
    with library.session() as s:
        rows = s.execute(select(Folder.id, Folder.path, Folder.device)).all()
        folders = [(fid, p) for fid, p, _ in rows]
        fid = folder_for(folders, prefix)
        if fid is None or fid in offline_folder_ids(s):
            return result
        upper = prefix[:-1] + chr(ord(os.sep) + 1)
        known = {
            r.path: (r.id, r.size, r.mtime_ns, r.state)
            for r in s.execute(
                select(Photo.id, Photo.path, Photo.size, Photo.mtime_ns, Photo.state).where(
                    Photo.path >= prefix, Photo.path < upper
                )
            )
        }
        apply_disk_files(s, folders, walk(directory, exclude=[library.root]), known, result)
        result.missing += mark_missing(s, [pid for pid, _, _, st in known.values() if st != PhotoState.MISSING])
    return result
