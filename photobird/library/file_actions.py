"""Moving and renaming photos, with the catalogue following at once, and undoing it.

A moved or renamed photo keeps its catalogue row (its id, its faces, its words, its place in searches): only its
path changes. What the user said about it is kept by its content anyway. The row is changed in the same
transaction as the file is moved, and the transaction commits only once the file is at its new place, so a move
the file system refuses (a name taken, no permission, a full disk) leaves both as they were; the watcher, which
sees the file leave one folder and arrive in another, finds the catalogue already agreeing with the disk. (Should
the commit itself fail after the move, the next scan finds the photo missing at its old path and new at its new
one, and re-links the row by content hash, as for a move made in a file manager.)

A destination must be inside a watched folder: a photo moved out of every watched folder would leave the
library, which is what "Stop watching" and the trash are for. Across drives, a move is a copy that is checked
(same size) before the original is removed, so an interrupted move never loses the photo.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select, update

from photobird.library import scan
from photobird.library.schema import Folder, Photo
from photobird.library.store import Library, LibraryError
from photobird.library.trash import photo_paths, reason

#: Characters no file name may hold on the systems PhotoBird runs on.
FORBIDDEN_IN_NAMES = frozenset('/\\:*?"<>|\0')


class FileActionRefused(LibraryError):
    """A move or rename that cannot be done as asked; the message is one sentence saying why."""


@dataclass(frozen=True)
class Moved:
    """One file's move, enough to take it back."""

    photo_id: int
    source: str
    destination: str


@dataclass
class MoveResult:
    moved: list[Moved] = field(default_factory=list)
    #: (path, why) for each file that stayed where it was.
    failed: list[tuple[str, str]] = field(default_factory=list)


def _move_file(source: str, destination: str) -> None:
    """Move one file without ever overwriting one or losing it: a rename on one drive; across drives a copy,
    checked, then the original removed."""
    if os.path.lexists(destination):
        raise FileExistsError(f"a file named {os.path.basename(destination)} is already there")
    try:
        os.rename(source, destination)
        return
    except OSError as e:
        if e.errno != errno.EXDEV:  # another drive
            raise
    shutil.copy2(source, destination)
    if os.path.getsize(destination) != os.path.getsize(source):
        os.remove(destination)
        raise OSError("the copy on the other drive came out short; the original is kept")
    os.remove(source)


def _move_one(library: Library, photo_id: int, destination: str, folders: list[tuple[int, str]]) -> Moved:
    folder_id = scan.folder_for(folders, destination)
    if folder_id is None:
        raise FileActionRefused(f"{os.path.dirname(destination)} is not in a watched folder: add it first")
    with library.session() as s:
        source = s.scalar(select(Photo.path).where(Photo.id == photo_id))
        if source is None:
            raise FileActionRefused(f"photo {photo_id} is no longer in the catalogue")
        if source == destination:
            return Moved(photo_id, source, destination)
        if s.scalar(select(Photo.id).where(Photo.path == destination)) is not None:
            raise FileActionRefused(f"a photo named {os.path.basename(destination)} is already there")
        name, folder_text = scan._text(destination)
        s.execute(
            update(Photo)
            .where(Photo.id == photo_id)
            .values(path=destination, name=name, dir=folder_text, folder_id=folder_id)
        )
        s.flush()
        _move_file(source, destination)  # raises: the transaction rolls back, the row keeps its old path
    return Moved(photo_id, source, destination)


def _folders(library: Library) -> list[tuple[int, str]]:
    with library.session() as s:
        return [(fid, path) for fid, path in s.execute(select(Folder.id, Folder.path))]


def move_to_folder(library: Library, photo_ids: Sequence[int], folder: str) -> MoveResult:
    """Move these photos' files into ``folder`` (inside a watched folder), keeping their names."""
    library.require_writable("moving photos")
    folder = os.path.abspath(folder)
    if not os.path.isdir(folder):
        raise FileActionRefused(f"{folder} is not a folder")
    folders = _folders(library)
    if scan.folder_for(folders, folder) is None:
        raise FileActionRefused(f"{folder} is not in a watched folder: add it first")
    paths = photo_paths(library, photo_ids)
    result = MoveResult()
    for pid in photo_ids:
        if pid in paths:
            _attempt(result, paths[pid], lambda pid=pid: _move_one(library, pid, _into(folder, paths[pid]), folders))
    return result


def _into(folder: str, path: str) -> str:
    return os.path.join(folder, os.path.basename(path))


def _attempt(result: MoveResult, path: str, move: Callable[[], Moved]) -> None:
    try:
        result.moved.append(move())
    except FileActionRefused as e:
        result.failed.append((path, str(e)))
    except OSError as e:
        result.failed.append((path, f"could not be moved: {reason(e)}"))


def rename(library: Library, photo_id: int, new_name: str) -> Moved:
    """Give a photo's file another name in its folder; refused in one sentence when the name cannot be one."""
    library.require_writable("renaming photos")
    new_name = new_name.strip()
    if not new_name or new_name in (".", "..") or any(c in FORBIDDEN_IN_NAMES for c in new_name):
        raise FileActionRefused(f'{new_name!r} cannot be a file name (no /, \\, :, *, ?, ", <, > or |)')
    with library.session() as s:
        source = s.scalar(select(Photo.path).where(Photo.id == photo_id))
    if source is None:
        raise FileActionRefused(f"photo {photo_id} is no longer in the catalogue")
    if os.path.splitext(new_name)[1] == "" and os.path.splitext(source)[1]:
        new_name += os.path.splitext(source)[1]  # "holiday" keeps its ".jpg"
    try:
        return _move_one(library, photo_id, os.path.join(os.path.dirname(source), new_name), _folders(library))
    except FileExistsError as e:
        raise FileActionRefused(str(e)) from None
    except OSError as e:
        raise FileActionRefused(f"{os.path.basename(source)} could not be renamed: {reason(e)}") from None


def undo(library: Library, moves: Sequence[Moved]) -> MoveResult:
    """Put moved or renamed photos back where they were (the newest move first)."""
    library.require_writable("moving photos")
    folders = _folders(library)
    result = MoveResult()
    for m in reversed(moves):
        _attempt(result, m.destination, lambda m=m: _move_one(library, m.photo_id, m.source, folders))
    return result
