"""Each library folder keeps its own thumbnail cache (``Library.thumbs_dir``), filled by the indexer from the
pixels it decodes anyway. A catalogue shared by several computers (PostgreSQL) is indexed on one of them, and a
cache can be cleared: a thumbnail this folder lacks is made from the photo itself the first time it is shown,
once, and kept like the indexer's.
"""

from __future__ import annotations

from pathlib import Path

from photobird.library.store import Library
from photobird.media.decode import DecodeError, decode
from photobird.media.thumbs import THUMB_SIZE, make_thumbnail, write_atomic


def thumbnail_file(library: Library, content_hash: str, photo: str) -> Path | None:
    """The cached thumbnail of the picture ``content_hash`` (the file ``photo``), made from the photo when the
    cache has none; None when neither is there (a photo on a drive not connected, a file changed or gone, a full
    disk or a read-only library: shown without its thumbnail, and tried again the next time)."""
    path = library.thumb_path(content_hash)
    if path.is_file():
        return path
    try:
        image = decode(photo, min_side=THUMB_SIZE).image
        if library.read_only:
            return None
        write_atomic(path, make_thumbnail(image))
    except (OSError, DecodeError):
        return None
    return path
