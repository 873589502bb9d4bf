"""What a photo's EXIF says: when it was taken, with what camera, where, and which way up.

EXIF in the wild is full of broken values (empty dates, "0000:00:00 00:00:00", rationals with zero
denominators, strings padded with NULs); every field here is read defensively and is ``None`` when it cannot
be trusted, so one odd camera never stops indexing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from PIL import Image

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_ORIENTATION = 0x0112
_MAKE = 0x010F
_MODEL = 0x0110
_DATETIME = 0x0132
_DATETIME_ORIGINAL = 0x9003
_DATETIME_DIGITIZED = 0x9004


@dataclass(frozen=True)
class ExifInfo:
    taken: dt.datetime | None = None
    make: str | None = None
    model: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    orientation: int | None = None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).replace("\x00", "").strip()
    return text or None


def parse_datetime(value: Any) -> dt.datetime | None:
    text = _text(value)
    if not text:
        return None
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y:%m:%d"):
        try:
            parsed = dt.datetime.strptime(text[:19] if "%S" in fmt else text[:10], fmt)
        except ValueError:
            continue
        if 1826 <= parsed.year <= 2200:  # the first photograph, and a sanity bound
            return parsed
    return None


def _ratio(v: Any) -> float:
    if isinstance(v, tuple) and len(v) == 2:
        return float(v[0]) / float(v[1])
    return float(v)


def _gps_coordinate(values: Any, ref: Any) -> float | None:
    try:
        d, m, s = (_ratio(x) for x in values)
        coord = d + m / 60 + s / 3600
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if coord != coord:  # NaN from 0/0 rationals
        return None
    ref_text = _text(ref) or ""
    if ref_text.upper() in ("S", "W"):
        coord = -coord
    return coord


def read(im: Image.Image) -> ExifInfo:
    """EXIF of an opened (not necessarily loaded) image; never raises."""
    try:
        exif = im.getexif()
    except Exception:
        return ExifInfo()
    try:
        sub = exif.get_ifd(_EXIF_IFD)
    except Exception:
        sub = {}
    taken = None
    for tag, src in ((_DATETIME_ORIGINAL, sub), (_DATETIME_DIGITIZED, sub), (_DATETIME, exif)):
        taken = parse_datetime(src.get(tag))
        if taken:
            break
    lat = lon = None
    try:
        gps = exif.get_ifd(_GPS_IFD)
        if gps:
            lat = _gps_coordinate(gps.get(2), gps.get(1))
            lon = _gps_coordinate(gps.get(4), gps.get(3))
            if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
                lat = lon = None
    except Exception:
        lat = lon = None
    orientation = exif.get(_ORIENTATION)
    try:
        orientation = int(orientation) if orientation is not None else None
    except (TypeError, ValueError):
        orientation = None
    if orientation is not None and not 1 <= orientation <= 8:
        orientation = None
    make = _text(exif.get(_MAKE))
    model = _text(exif.get(_MODEL))
    return ExifInfo(taken=taken, make=make, model=model, latitude=lat, longitude=lon, orientation=orientation)


#: What makers write after their name in EXIF's Make, which nobody says when naming a camera.
_MAKER_SUFFIXES = (" corporation", " corp.", " corp", " co., ltd.", " co.,ltd.", " co., ltd", ", inc.", " inc.")


def camera_name(make: str | None, model: str | None) -> str | None:
    """The camera as people name it: "Canon EOS 5D Mark III" (EXIF's Make "Canon" and Model "Canon EOS 5D Mark
    III", not "Canon Canon ..."), "NIKON D750" (Make "NIKON CORPORATION"), "Apple iPhone 12" (Model "iPhone 12")."""
    model = (model or "").strip()
    maker = (make or "").strip()
    lowered = maker.lower()
    for suffix in _MAKER_SUFFIXES:
        if lowered.endswith(suffix):
            maker = maker[: -len(suffix)].rstrip(" ,")
            break
    first = maker.split(" ")[0].lower() if maker else ""
    if not model:
        return maker or None
    if not first or model.lower().startswith(first):
        return model
    return f"{maker} {model}"
