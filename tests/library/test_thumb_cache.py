"""A thumbnail this library folder's cache lacks (the photo was indexed on another computer) is made from the
photo the first time it is shown, and kept."""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image

from photobird import config
from photobird.library.store import Library
from photobird.library.thumb_cache import thumbnail_file
from photobird.media.thumbs import THUMB_SIZE


def test_a_missing_thumbnail_is_made_from_the_photo_once(library: Library, tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    shutil.copy(next(config.real_photos_dir().glob("*.JPEG")), photo)
    made = thumbnail_file(library, "ab" * 32, str(photo))
    assert made == library.thumb_path("ab" * 32) and made.is_file()
    with Image.open(made) as im:
        assert im.format == "JPEG" and max(im.size) == THUMB_SIZE
    photo.unlink()  # kept: shown again without the photo
    assert thumbnail_file(library, "ab" * 32, str(photo)) == made


def test_no_thumbnail_when_neither_the_cache_nor_the_photo_has_one(library: Library, tmp_path: Path) -> None:
    assert thumbnail_file(library, "cd" * 32, str(tmp_path / "gone.jpg")) is None
    (tmp_path / "not a photo.jpg").write_bytes(b"no picture here")
    assert thumbnail_file(library, "cd" * 32, str(tmp_path / "not a photo.jpg")) is None
    assert not library.thumb_path("cd" * 32).exists()
