"""Moving photos to the system trash, and the catalogue following at once.

Nothing is ever deleted for good: a photo goes to the desktop's trash (``send2trash``: the freedesktop.org
Trash on Linux, the Recycle Bin, the macOS Trash), where the user can restore it. Its row leaves the catalogue
only once its file is in the trash; a file the trash refuses (no trash on that drive, no permission, gone
already) stays where it was, in the catalogue, with the reason. What the user said about a picture (bird or not,
who is in it) is kept by its content, so a photo restored from the trash comes back with it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, select

from photobird.library.schema import Photo
from photobird.library.store import Library

#: Ids asked for in one statement (well under every database's limit on bound parameters).
CHUNK = 500


@dataclass
class TrashResult:
    #: Photo ids whose files are in the trash and whose rows left the catalogue.
    trashed: list[int] = field(default_factory=list)
    #: (path, why) for each file that stayed where it was.
    failed: list[tuple[str, str]] = field(default_factory=list)

    def said(self) -> str:
        n = len(self.trashed)
        return f"Moved {n} photo{'s' if n != 1 else ''} to the trash." + (
            f" {kept_back(self.failed)}" if self.failed else ""
        )


def kept_back(failed: Sequence[tuple[str, str]]) -> str:
    """One sentence for the files a move or the trash left where they were: the first with its reason, and how
    many more."""
    path, why = failed[0]
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    return f"{os.path.basename(path)}{more}: {why}; it is still in its folder."


def reason(error: OSError) -> str:
    """Why the file system refused, in a few words."""
    if isinstance(error, FileNotFoundError):
        return "the file is no longer there"
    if isinstance(error, PermissionError):
        return "permission denied"
    return error.strerror or str(error) or type(error).__name__


def move_to_trash(library: Library, photo_ids: Sequence[int]) -> TrashResult:
    """Send each photo's file to the trash; the rows of those that went are deleted in one transaction."""
    from send2trash import send2trash  # the desktop's trash: imported only when something goes there

    library.require_writable("moving photos to the trash")
    paths = photo_paths(library, photo_ids)
    result = TrashResult()
    for pid in photo_ids:
        path = paths.get(pid)
        if path is None:
            continue  # already gone from the catalogue (another window, the watcher)
        try:
            send2trash(os.fsencode(path))
        except OSError as e:
            result.failed.append((path, f"could not be moved to the trash: {reason(e)}"))
            continue
        result.trashed.append(pid)
    with library.session() as s:
        for start in range(0, len(result.trashed), CHUNK):
            s.execute(delete(Photo).where(Photo.id.in_(result.trashed[start : start + CHUNK])))
    return result


def photo_paths(library: Library, photo_ids: Sequence[int]) -> dict[int, str]:
    """photo id -> path, for those of ``photo_ids`` still in the catalogue (asked in chunks)."""
    ids = list(photo_ids)
    out: dict[int, str] = {}
    with library.session() as s:
        for start in range(0, len(ids), CHUNK):
            out.update(s.execute(select(Photo.id, Photo.path).where(Photo.id.in_(ids[start : start + CHUNK]))).all())
    return out
