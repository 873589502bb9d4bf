"""Thumbnails: made from the pixels the indexer already decoded, cached by content hash.

Keyed by content, a thumbnail survives moves and renames and is shared by duplicate copies; written to a
temporary name and renamed, a crash never leaves half a JPEG behind.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

from PIL import Image

THUMB_SIZE = 256


def make_thumbnail(image: Image.Image, size: int = THUMB_SIZE, quality: int = 82) -> bytes:
    """JPEG bytes of ``image`` fitted inside ``size`` x ``size`` (aspect kept)."""
    im = image.copy()
    im.thumbnail((size, size), Image.BILINEAR, reducing_gap=2.0)
    if im.mode != "RGB":
        im = im.convert("RGB")
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, optimize=False)
    return buf.getvalue()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all. A write that fails (a full disk) removes what it began,
    so a failed thumbnail takes no room and leaves nothing behind, and the error is raised for the caller."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # the process and the thread: two threads may write the same thumbnail at once (two copies of one photo
    # decoded side by side), and each must rename its own file
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
