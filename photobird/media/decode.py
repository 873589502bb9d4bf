"""Decode an image file once, at the smallest size anything downstream needs, the right way up.

JPEG decoding dominates indexing, and a 12-megapixel JPEG decoded at 1/8 scale (libjpeg's DCT scaling, asked
for with Pillow's ``draft``) costs a fraction of a full decode, yet still gives more pixels than the thumbnail
(~256 px) and the network (224 px) use. Other formats are decoded in full and then reduced.

Untrusted files: Pillow's decompression-bomb limit is enforced as an error, not a warning; truncated files are
refused rather than padded with grey; every failure becomes a ``DecodeError`` whose message is fit to show a
user ("truncated JPEG", "not an image", ...).
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from photobird.media import exif as exif_mod

#: Refuse images above this many pixels: a photo from a 150-megapixel camera is fine, a 1 Gpx bomb is not.
MAX_PIXELS = 200_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS // 2  # Pillow errors at twice this; we turn its warning into an error too
ImageFile.LOAD_TRUNCATED_IMAGES = False

try:  # HEIC/HEIF, when pillow-heif is installed
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF = True
except Exception:  # pragma: no cover - optional
    HEIF = False

#: File name extensions the scanner treats as images.
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".dib", ".tif", ".tiff"}
    | ({".heic", ".heif", ".hif"} if HEIF else set())
)


class DecodeError(Exception):
    """A file that could not be turned into pixels; ``str(e)`` is the reason shown to the user."""


@dataclass
class Decoded:
    """An RGB image reduced for indexing, plus what the file says about itself."""

    image: Image.Image  # RGB, EXIF orientation applied, shorter side >= the requested min_side when possible
    width: int  # full-size dimensions, after orientation
    height: int
    format: str
    exif: exif_mod.ExifInfo


def _to_rgb(im: Image.Image) -> Image.Image:
    """RGB for any mode: alpha composited onto white, 16-bit scaled (not clipped), CMYK/palette converted."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float32)
        scale = 257.0 if mode != "I" or arr.max() > 255 else 1.0
        return Image.fromarray(np.clip(arr / scale, 0, 255).astype(np.uint8), "L").convert("RGB")
    if mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        arr = (arr - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(arr)
        return Image.fromarray(arr.astype(np.uint8), "L").convert("RGB")
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def _reduce(im: Image.Image, min_side: int) -> Image.Image:
    """Shrink so the shorter side is about ``min_side`` (never below it); cheap box reduction first."""
    short = min(im.size)
    if short <= min_side:
        return im
    factor = short // min_side
    if factor >= 2:
        im = im.reduce(factor)
    if min(im.size) > min_side * 1.25:
        scale = min_side / min(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.BILINEAR)
    return im


def decode(source: Path | str | bytes | BinaryIO, min_side: int = 256) -> Decoded:
    """Decode ``source`` reduced so its shorter side is at least ``min_side`` (when the image is that big)."""
    fp: Path | BinaryIO = (
        io.BytesIO(source)
        if isinstance(source, bytes)
        else (Path(source) if isinstance(source, (str, Path)) else source)
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fp) as im:
                fmt = im.format or "unknown"
                width, height = im.size
                if width * height > MAX_PIXELS:
                    raise DecodeError(f"image too large ({width}x{height} pixels)")
                info = exif_mod.read(im)
                if getattr(im, "n_frames", 1) > 1:
                    im.seek(0)  # animated GIF / WebP / multi-page TIFF: the first frame
                if fmt == "JPEG":
                    im.draft("RGB", (min_side, min_side))
                im.load()
                out: Image.Image = im
                if info.orientation not in (None, 1):
                    out = ImageOps.exif_transpose(im)
                    if info.orientation in (5, 6, 7, 8):
                        width, height = height, width
                out = _to_rgb(_reduce(out, min_side))
                out.load()
                return Decoded(out, width, height, fmt, info)
    except DecodeError:
        raise
    except FileNotFoundError as e:
        raise DecodeError("file not found (deleted or moved before it could be read)") from e
    except PermissionError as e:
        raise DecodeError("permission denied") from e
    except IsADirectoryError as e:
        raise DecodeError("is a directory") from e
    except UnidentifiedImageError as e:
        raise DecodeError("not an image, or an image format PhotoBird cannot read") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DecodeError(f"refused as a possible decompression bomb: {e}") from e
    except OSError as e:
        msg = str(e)
        if "truncated" in msg or "broken data stream" in msg or "premature end" in msg.lower():
            raise DecodeError(f"truncated or incomplete file ({msg})") from e
        raise DecodeError(f"could not decode: {msg or type(e).__name__}") from e
    except (
        ValueError,
        SyntaxError,
        EOFError,
        IndexError,
        TypeError,
        KeyError,
        MemoryError,
        ZeroDivisionError,
        struct.error,
    ) as e:
        raise DecodeError(f"damaged image data ({type(e).__name__}: {e})") from e
    except Exception as e:  # decoders of odd formats raise odd things: never let one stop the worker
        raise DecodeError(f"could not decode ({type(e).__name__}: {e})") from e


def center_square(im: Image.Image) -> Image.Image:
    w, h = im.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return im.crop((left, top, left + s, top + s))


def fit_square(im: Image.Image, size: int, resample: int = Image.BILINEAR) -> Image.Image:
    """Shorter side scaled to ``size`` then the centre square (the CIFAR network's view of a photo)."""
    sq = center_square(im)
    if sq.size != (size, size):
        sq = sq.resize((size, size), resample, reducing_gap=None)
    return sq


def fit_long(im: Image.Image, size: int, resample: int = Image.BILINEAR) -> Image.Image:
    """The whole photo, its shape kept, scaled so the longer side is ``size`` (up or down).

    Why not a centre square: everyday photos have things at their edges (the person beside the subject, the cup
    on the table's corner), and a square crop of a 4:3 photo drops a quarter of it.
    """
    w, h = im.size
    scale = size / max(w, h)
    target = (max(1, round(w * scale)), max(1, round(h * scale)))
    return im if im.size == target else im.resize(target, resample, reducing_gap=None)
