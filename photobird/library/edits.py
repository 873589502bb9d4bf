"""How the user turned a picture: a rotation in quarter turns on top of its EXIF orientation.

A rotation is what the user decided, like a label: it belongs to the picture (its content hash), not the file, so
it survives moves, renames, re-indexing and the photo leaving the library and coming back, and every copy of the
picture is shown turned the same way. It is applied where the picture is shown (the viewer, the grid, the
duplicates tab); the thumbnails in the cache and the file itself are left as they are.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update

from photobird.library import keepsake
from photobird.library.schema import Photo, PhotoEdit, utcnow
from photobird.library.store import Library, LibraryError

#: Hashes asked for in one query (well under every database's limit on bound parameters).
CHUNK = 500


class EditRefused(LibraryError):
    """A photo that cannot be turned now; the message is one sentence saying why."""


def _content_hash(library: Library, photo_id: int) -> str:
    """The content hash the photo's edits belong to; refused in one sentence when it has none yet."""
    with library.session() as s:
        photo = s.get(Photo, photo_id)
        if photo is None:
            raise EditRefused(f"There is no photo with id {photo_id} in the catalogue.")
        if not photo.content_hash:
            raise EditRefused(f"{photo.path} has not been read yet: it can be rotated once PhotoBird has indexed it.")
        return photo.content_hash


def rotation(library: Library, photo_id: int) -> int:
    """The photo's rotation in clockwise degrees (0 when the user never turned it, or it is not indexed yet)."""
    with library.session() as s:
        turned = s.scalar(
            select(PhotoEdit.rotation)
            .join(Photo, Photo.content_hash == PhotoEdit.content_hash)
            .where(Photo.id == photo_id)
        )
    return turned or 0


def rotations(library: Library, content_hashes: Iterable[str]) -> dict[str, int]:
    """content hash -> clockwise degrees, for the pictures among ``content_hashes`` the user turned."""
    hashes = sorted(set(content_hashes))
    out: dict[str, int] = {}
    with library.session() as s:
        for start in range(0, len(hashes), CHUNK):
            chunk = hashes[start : start + CHUNK]
            q = select(PhotoEdit.content_hash, PhotoEdit.rotation).where(
                PhotoEdit.content_hash.in_(chunk), PhotoEdit.rotation != 0
            )
            out.update({h: r for h, r in s.execute(q)})
    return out


@keepsake.kept
def rotate(library: Library, photo_id: int, quarter_turns: int) -> int:
    """Turn a picture by ``quarter_turns`` clockwise (negative: counter-clockwise) on top of how it was turned;
    returns its rotation now (0, 90, 180 or 270 degrees). Saved at once, keyed by content.

    The write statement comes first in its transaction (an update, then an insert when there was nothing to
    update): a transaction that read first could not take the write lock once someone else committed."""
    library.require_writable("rotating photos")
    content_hash = _content_hash(library, photo_id)
    turn = quarter_turns % 4 * 90
    with library.session() as s:
        done = s.execute(
            update(PhotoEdit)
            .where(PhotoEdit.content_hash == content_hash)
            .values(rotation=(PhotoEdit.rotation + turn) % 360, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if not done.rowcount:  # type: ignore[attr-defined]
            s.add(PhotoEdit(content_hash=content_hash, rotation=turn, updated_at=utcnow()))
            s.flush()
        turned = s.scalar(select(PhotoEdit.rotation).where(PhotoEdit.content_hash == content_hash))
    return turned or 0
