"""Decoding: reduced size, the right way up, every format, and a clear refusal for anything broken."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photobird import config
from photobird.media import decode as dec
from photobird.media.exif import parse_datetime

EXIF = config.shared_data_dir() / "exif-samples"


def jpeg_bytes(w: int, h: int, **save) -> bytes:
    rng = np.random.default_rng(0)
    arr = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", **save)
    return buf.getvalue()


def test_large_jpeg_is_decoded_at_reduced_size() -> None:
    d = dec.decode(jpeg_bytes(4000, 3000), min_side=256)
    assert (d.width, d.height) == (4000, 3000)
    assert min(d.image.size) >= 256
    assert max(d.image.size) <= 4000 // 4  # DCT scaling did most of the work
    assert d.image.mode == "RGB"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation: int) -> None:
    path = EXIF / "jpg" / "orientation" / f"landscape_{orientation}.jpg"
    d = dec.decode(path)
    assert d.exif.orientation == orientation
    # every landscape_N file shows the same upright landscape once its orientation is applied
    assert d.image.width > d.image.height
    reference = dec.decode(EXIF / "jpg" / "orientation" / "landscape_1.jpg").image

    def grey(im: Image.Image) -> np.ndarray:
        return np.asarray(im.convert("L").resize((64, 48)), dtype=float).ravel()

    # same picture (correlation ~0.98); a mirrored one would correlate ~0.5, a rotated one ~0
    assert np.corrcoef(grey(d.image), grey(reference))[0, 1] > 0.9


def test_portrait_orientation_swaps_reported_size() -> None:
    d = dec.decode(EXIF / "jpg" / "orientation" / "portrait_6.jpg")
    assert d.height > d.width
    assert d.image.height > d.image.width


def test_exif_fields_are_read() -> None:
    gps = next((EXIF / "jpg" / "gps").glob("DSCN00*.jpg"))
    d = dec.decode(gps)
    assert d.exif.make == "NIKON"
    assert d.exif.taken is not None and d.exif.taken.year == 2008
    assert d.exif.latitude is not None and 43 < d.exif.latitude < 44


def test_broken_exif_never_stops_decoding() -> None:
    for path in sorted((EXIF / "jpg" / "invalid").glob("*.jpg")):
        try:
            d = dec.decode(path)
        except dec.DecodeError as e:
            assert str(e)
        else:
            assert d.image.mode == "RGB"


def test_formats(tmp_path: Path) -> None:
    rgb = Image.fromarray((np.random.default_rng(1).random((300, 400, 3)) * 255).astype(np.uint8))
    for fmt, ext in (("PNG", "png"), ("WEBP", "webp"), ("BMP", "bmp"), ("TIFF", "tif"), ("GIF", "gif")):
        path = tmp_path / f"x.{ext}"
        rgb.save(path, fmt)
        d = dec.decode(path)
        assert d.image.mode == "RGB" and (d.width, d.height) == (400, 300), fmt
    heic = EXIF / "heic" / "IMG_5195.HEIC"
    if dec.HEIF:
        d = dec.decode(heic)
        assert d.format == "HEIF" and d.exif.make == "Apple"


def test_png_with_alpha_composites_on_white(tmp_path: Path) -> None:
    im = Image.new("RGBA", (64, 64), (255, 0, 0, 0))  # fully transparent red
    im.save(tmp_path / "a.png")
    d = dec.decode(tmp_path / "a.png")
    assert d.image.getpixel((10, 10)) == (255, 255, 255)


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    arr = np.full((32, 32), 32768, dtype=np.uint16)  # mid grey in 16 bits
    Image.fromarray(arr).save(tmp_path / "g16.png")
    d = dec.decode(tmp_path / "g16.png")
    r, g, b = d.image.getpixel((5, 5))
    assert 120 <= r <= 135 and r == g == b


def test_cmyk_jpeg(tmp_path: Path) -> None:
    Image.new("CMYK", (50, 40), (0, 255, 255, 0)).save(tmp_path / "c.jpg")
    d = dec.decode(tmp_path / "c.jpg")
    r, g, b = d.image.getpixel((5, 5))
    assert r > 200 and g < 60 and b < 60


def test_animated_gif_uses_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (40, 30), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    d = dec.decode(tmp_path / "a.gif")
    r, _, b = d.image.getpixel((3, 3))
    assert r > 200 and b < 50


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "not an image"),
        (b"hello, I am a text file\n" * 10, "not an image"),
        (jpeg_bytes(640, 480)[:3000], "truncated"),
    ],
)
def test_bad_files_raise_clear_errors(data: bytes, reason: str) -> None:
    with pytest.raises(dec.DecodeError, match=reason):
        dec.decode(data)


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    # a tiny PNG that claims 20000 x 20000 pixels
    Image.new("1", (20000, 20000)).save(tmp_path / "bomb.png", optimize=True)
    assert (tmp_path / "bomb.png").stat().st_size < 200_000
    with pytest.raises(dec.DecodeError, match=r"bomb|too large"):
        dec.decode(tmp_path / "bomb.png")


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(dec.DecodeError, match="not found"):
        dec.decode(tmp_path / "nope.jpg")
    with pytest.raises(dec.DecodeError):
        dec.decode(tmp_path)


def test_datetime_parsing_is_defensive() -> None:
    assert parse_datetime("2019:06:01 12:30:00").year == 2019
    assert parse_datetime("0000:00:00 00:00:00") is None
    assert parse_datetime("    ") is None
    assert parse_datetime(b"2020:01:02 03:04:05\x00").month == 1
    assert parse_datetime("garbage") is None
