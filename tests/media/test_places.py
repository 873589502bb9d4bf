"""Place names from GPS coordinates: the real offline gazetteer, what users type, and nothing loaded or printed
before it is needed."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

from photobird import config
from photobird.media import exif, places
from photobird.media.places import Place, place_of, places_of

ROOT = Path(__file__).resolve().parent.parent.parent
EXIF = config.shared_data_dir() / "exif-samples" / "jpg"


@pytest.mark.parametrize(
    ("lat", "lon", "city", "region", "country"),
    [
        (48.8566, 2.3522, "Paris", "Ile-de-France", "France"),  # Hôtel de Ville
        (35.6762, 139.6503, "Tokyo", "Tokyo", "Japan"),
        (37.7749, -122.4194, "San Francisco", "California", "United States"),
        (34.0522, -118.2437, "Los Angeles", "California", "United States"),
        (51.5080, -0.1281, "London", "England", "United Kingdom"),  # Trafalgar Square
        (55.9533, -3.1883, "Edinburgh", "Scotland", "United Kingdom"),
        (-33.8688, 151.2093, "Sydney", "New South Wales", "Australia"),
        (-23.5505, -46.6333, "Sao Paulo", "Sao Paulo", "Brazil"),  # the data spells names in ASCII
        (52.3676, 4.9041, "Amsterdam", "North Holland", "Netherlands"),
        (37.5665, 126.9780, "Seoul", "Seoul", "South Korea"),
        (55.7558, 37.6173, "Moscow", "Moscow", "Russia"),
    ],
)
def test_known_coordinates_give_their_names(lat: float, lon: float, city: str, region: str, country: str) -> None:
    place = place_of(lat, lon)
    assert place is not None
    assert (place.city, place.region, place.country) == (city, region, country)


def test_words_are_what_users_type() -> None:
    paris = place_of(48.8566, 2.3522)
    assert paris is not None
    assert paris.words() == ["paris", "ile-de-france", "ile de france", "france"]
    assert paris.display() == "Paris, Ile-de-France, France"

    sf = place_of(37.7749, -122.4194)
    assert sf is not None
    assert sf.words()[:3] == ["san francisco", "california", "united states"]  # most specific first, phrases whole
    assert {"usa", "america"} <= set(sf.words()) and "us" not in sf.words()

    london = place_of(51.5080, -0.1281)
    assert london is not None
    assert {"london", "england", "united kingdom", "uk", "britain", "great britain"} <= set(london.words())

    amsterdam, seoul, sao_paulo = places_of([(52.3676, 4.9041), (37.5665, 126.9780), (-23.5505, -46.6333)])
    assert amsterdam is not None and {"holland", "netherlands"} <= set(amsterdam.words())
    assert seoul is not None and {"south korea", "korea"} <= set(seoul.words())
    assert sao_paulo is not None and "sao paulo" in sao_paulo.words()


def test_tokyo_is_named_once() -> None:
    tokyo = place_of(35.6762, 139.6503)
    assert tokyo is not None
    assert tokyo.display() == "Tokyo, Japan"
    assert tokyo.words() == ["tokyo", "japan"]


def test_accents_are_folded_and_both_forms_kept() -> None:
    sp = Place("São Paulo", "São Paulo", "Brazil")
    assert sp.words() == ["são paulo", "sao paulo", "brazil"]
    assert sp.display() == "São Paulo, Brazil"
    idf = Place("Paris", "Île-de-France", "France")
    assert idf.words() == ["paris", "île-de-france", "île de france", "ile-de-france", "ile de france", "france"]
    zurich = Place("Zürich", "Zürich", "Switzerland")
    assert zurich.words() == ["zürich", "zurich", "switzerland"]
    assert zurich.display() == "Zürich, Switzerland"
    assert "kobenhavn" in Place("København", None, "Denmark").words()
    # the country code is optional: aliases follow from the English name too
    assert "usa" in Place(None, "California", "United States").words()


def test_words_are_lower_case_and_unique() -> None:
    coords = [(48.8566, 2.3522), (51.5080, -0.1281), (37.7749, -122.4194), (35.6762, 139.6503), (1.2887, 103.858)]
    for place in places_of(coords):
        assert place is not None
        words = place.words()
        assert words, place
        assert len(words) == len(set(words)), words
        assert all(w == w.lower() and w == w.strip() for w in words), words


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (None, None),
        (48.8566, None),
        (None, 2.3522),
        (math.nan, 2.3522),
        (48.8566, math.nan),
        (math.inf, 0.5),
        (0.0, 0.0),  # what cameras without a fix write
        (90.5, 10.0),
        (-91.0, 10.0),
        (45.0, 180.5),
        (45.0, -181.0),
    ],
)
def test_missing_or_bogus_coordinates_give_none(lat: float | None, lon: float | None) -> None:
    assert place_of(lat, lon) is None


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (30.0, -40.0),  # mid-Atlantic, 1,400 km from the Azores
        (-85.0, 0.0),  # Antarctica
        (0.0, -140.0),  # the Pacific, 1,000 km from the Marquesas
        (20.0, 50.0),  # the Empty Quarter: the nearest town is in another country, so no guess at all
    ],
)
def test_far_from_any_town_gives_none(lat: float, lon: float) -> None:
    assert place_of(lat, lon) is None


def test_tens_of_km_from_a_town_keeps_region_and_country_but_no_city() -> None:
    # interior Alaska, 53 km from Healy: not "in" Healy, but certainly in Alaska
    place = place_of(64.0, -150.0)
    assert place == Place(None, "Alaska", "United States", "US")
    assert place.display() == "Alaska, United States"


def test_nearest_is_nearest_on_the_ground_across_the_180th_meridian() -> None:
    # 44 km west of Egvekinot (at -179.12) across the date line; in raw degrees the nearest would be 360 km away
    place = place_of(66.3, 179.9)
    assert place is not None
    assert place.city == "Egvekinot"
    assert place.country == "Russia"


def test_batch_equals_single() -> None:
    coords = [
        (48.8566, 2.3522),
        (0.0, 0.0),
        (35.6762, 139.6503),
        (math.nan, 1.0),
        (-33.8688, 151.2093),
        (30.0, -40.0),
        (64.0, -150.0),
        (48.8566, 2.3522),
    ]
    assert places_of(coords) == [place_of(lat, lon) for lat, lon in coords]
    assert places_of([]) == []


def test_every_country_in_the_gazetteer_has_a_common_name() -> None:
    codes = set(places._gazetteer().codes) - {""}
    names = json.loads((ROOT / "photobird" / "media" / "countries.json").read_text(encoding="utf-8"))
    assert codes <= set(names), sorted(codes - set(names))
    short = {"US": "United States", "GB": "United Kingdom", "RU": "Russia", "KR": "South Korea", "IR": "Iran"}
    short |= {"VN": "Vietnam", "CZ": "Czechia", "BO": "Bolivia", "TW": "Taiwan", "SY": "Syria", "LA": "Laos"}
    assert {code: places.country_name(code) for code in short} == short
    assert places.country_name("gb") == "United Kingdom"
    assert places.country_name("ZZ") is None and places.country_name(None) is None


def _gps(path: Path) -> tuple[float, float]:
    if not path.is_file():
        pytest.skip(f"shared EXIF samples not found at {path}; set PHOTOBIRD_DATA")
    with Image.open(path) as im:
        info = exif.read(im)
    assert info.latitude is not None and info.longitude is not None
    return info.latitude, info.longitude


def test_a_real_photo_with_gps_is_placed() -> None:
    # a Nikon COOLPIX P6000 photo of 22 October 2008, 43.4674 N 11.8851 E: the old town of Arezzo, Tuscany
    lat, lon = _gps(EXIF / "gps" / "DSCN0010.jpg")
    assert place_of(lat, lon) == Place("Arezzo", "Tuscany", "Italy", "IT")


def test_every_photo_of_the_gps_samples_is_in_arezzo() -> None:
    folder = EXIF / "gps"
    if not folder.is_dir():
        pytest.skip(f"shared EXIF samples not found at {folder}; set PHOTOBIRD_DATA")
    coords = [_gps(p) for p in sorted(folder.glob("*.jpg"))]
    assert len(coords) >= 5
    assert {p.display() if p else None for p in places_of(coords)} == {"Arezzo, Tuscany, Italy"}


def test_a_phone_photo_is_placed() -> None:
    # HMD Nokia 8.3 5G sample: 60.1467 N 24.9068 E, Helsinki
    lat, lon = _gps(EXIF / "mobile" / "HMD_Nokia_8.3_5G.jpg")
    place = place_of(lat, lon)
    assert place is not None
    assert (place.city, place.country) == ("Helsinki", "Finland")
    assert "helsinki" in place.words()


def test_a_lookup_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    place_of(48.8566, 2.3522)
    places_of([(35.6762, 139.6503), (0.0, 0.0)])
    out, err = capfd.readouterr()
    assert out == ""
    assert err == ""


_LAZY = """
import sys
import photobird.media.places as places
assert "reverse_geocoder" not in sys.modules, "imported with photobird"
assert places.place_of(None, None) is None and places.places_of([(0.0, 0.0)]) == [None]
assert "reverse_geocoder" not in sys.modules, "loaded for coordinates that need no lookup"
assert places.place_of(48.8566, 2.3522).city == "Paris"
assert "reverse_geocoder" in sys.modules
"""


def test_the_gazetteer_loads_on_the_first_lookup_silently() -> None:
    # a fresh interpreter: here the gazetteer is already loaded by other tests. Its stdout must stay empty
    # through the loading too, since the CLI's stdout is JSON.
    out = subprocess.run([sys.executable, "-c", _LAZY], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    assert out.stderr == ""


def test_concurrent_first_lookups_load_once(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[int] = []
    real_load = places._load

    def counting_load() -> places._Gazetteer:
        loads.append(1)
        return real_load()

    monkeypatch.setattr(places, "_LOADED", None)
    monkeypatch.setattr(places, "_load", counting_load)
    results: list[Place | None] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(place_of(48.8566, 2.3522))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == [1]
    assert len(results) == 8 and all(r is not None and r.city == "Paris" for r in results)
