from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from photobird import config
from photobird.library.db import sequences
from photobird.library.db.engines import DATABASE_ENV, EngineKind
from photobird.library.schema import BirdScore, Folder, ModelVersion, Photo, PhotoLabel, UserLabel, Word
from photobird.library.store import Library
from photobird.models.runner import Models
from photobird.models.words import WordKind
from tests.postgres import fresh_database


@pytest.fixture(scope="session")
def models() -> Models:
    """The real shipped networks, loaded once for the whole test session."""
    return Models(device="cpu", threads=2)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests of a module marked ``both_engines`` run once with an SQLite catalogue and once with a PostgreSQL one
    (a fresh database on the session's real server), but for those marked ``sqlite_only``; the others on SQLite
    alone. (Per module: a module's library that its tests share, ``module_libraries``, is made once per engine.)"""
    if "engine" in metafunc.fixturenames:
        kinds = [EngineKind.SQLITE]
        both = metafunc.definition.get_closest_marker("both_engines")
        if both and not metafunc.definition.get_closest_marker("sqlite_only"):
            kinds.append(EngineKind.POSTGRESQL)
        metafunc.parametrize("engine", kinds, ids=[k.value for k in kinds], scope="module")


@pytest.fixture
def library(tmp_path: Path, engine: EngineKind, request: pytest.FixtureRequest) -> Library:
    """A new library; its catalogue in the engine the test runs with."""
    database = request.getfixturevalue("postgres_url") if engine is EngineKind.POSTGRESQL else None
    lib = Library(tmp_path / "library", database=database)
    yield lib
    lib.close()


def reopened(library: Library, **kwargs: Any) -> Library:
    """The same catalogue opened again, as another process opens it (its own engine and connections)."""
    return Library(library.root, database=database_of(library), **kwargs)


def database_of(library: Library) -> str | None:
    """The ``--database`` that opens ``library``'s catalogue (None: the folder's own file)."""
    return library.url.render_as_string(hide_password=False) if library.kind is EngineKind.POSTGRESQL else None


def environment(library: Library) -> dict[str, str]:
    """The environment of a ``photobird`` process that opens ``library`` (its folder, and its server's
    catalogue if it has one)."""
    env = {**os.environ, "PHOTOBIRD_LIBRARY": str(library.root)}
    env.pop(DATABASE_ENV, None)
    database = database_of(library)
    return env if database is None else {**env, DATABASE_ENV: database}


class Libraries:
    """Opens libraries in one engine: ``libraries(folder)``. On PostgreSQL each folder's catalogue is a fresh
    database of its own (the same folder again opens the same one, as another process would); every library
    opened is closed, and every database dropped, by ``close``."""

    def __init__(self, engine: EngineKind, request: pytest.FixtureRequest) -> None:
        self.engine = engine
        self._request = request
        self._databases: dict[Path, str] = {}
        self._opened: list[Library] = []
        self._dropping = contextlib.ExitStack()

    def database(self, root: Path) -> str | None:
        """The ``--database`` of the library at ``root`` (None on SQLite)."""
        if self.engine is EngineKind.SQLITE:
            return None
        root = Path(root).resolve()
        if root not in self._databases:
            server = self._request.getfixturevalue("postgres_server")
            self._databases[root] = self._dropping.enter_context(fresh_database(server))
        return self._databases[root]

    def __call__(self, root: Path, **kwargs: Any) -> Library:
        lib = Library(root, database=self.database(root), **kwargs)
        self._opened.append(lib)
        return lib

    def close(self) -> None:
        for lib in self._opened:
            lib.close()
        self._dropping.close()


@pytest.fixture
def new_library(engine: EngineKind, request: pytest.FixtureRequest) -> Iterator[Libraries]:
    """Libraries in the engine the test runs with, at folders of the test's choosing (several of them, or one
    opened again after it was closed)."""
    libraries = Libraries(engine, request)
    yield libraries
    libraries.close()


@pytest.fixture(scope="module")
def module_libraries(engine: EngineKind, request: pytest.FixtureRequest) -> Iterator[Libraries]:
    """``new_library`` for a library a module's tests share (made once per engine)."""
    libraries = Libraries(engine, request)
    yield libraries
    libraries.close()


def real_rows() -> list[dict[str, str]]:
    path = config.real_photos_dir() / "labels.csv"
    return list(csv.DictReader(open(path)))


def copy_real(dst: Path, n_birds: int, n_other: int) -> dict[str, bool]:
    """Copy some real photos into ``dst``; returns file name -> is bird."""
    dst.mkdir(parents=True, exist_ok=True)
    rows = real_rows()
    birds = [r for r in rows if r["is_bird"] == "1"][:n_birds]
    others = [r for r in rows if r["is_bird"] == "0"][:n_other]
    out = {}
    for r in birds + others:
        shutil.copy2(config.real_photos_dir() / r["file"], dst / r["file"])
        out[r["file"]] = r["is_bird"] == "1"
    return out


# --------------------------------------------------------------------------------------------------------------
# a catalogue written straight into SQLite (no images, no models): for search


@dataclass
class Catalogue:
    """What ``make_catalogue`` wrote, for checking search against a plain-Python reading of the rules."""

    photos: list[dict[str, Any]]
    labels: dict[tuple[int, str], float]  # (photo id, word) -> probability
    scores: dict[int, float]  # photo id -> the active model's bird score
    user: dict[str, str]  # content hash -> "bird" | "not-bird"
    threshold: float


CATALOGUE_WORDS = ("dog", "terrier", "golden retriever", "cat", "animal", "boat")
#: Places, as the labeller writes them from GPS: certain (probability 1), a city with its country.
CATALOGUE_PLACES = (("paris", "france"), ("lyon", "france"))
PLACE_WORDS = ("paris", "lyon", "france")
ALL_WORDS = CATALOGUE_WORDS + PLACE_WORDS
CATALOGUE_MAKES = ("Canon", "CANON", "NIKON CORPORATION", "Apple", None)
CATALOGUE_DIRS = ("/photos/2019/summer holiday", "/photos/misc", "/photos/100%_done", "/other")


def make_catalogue(
    lib: Library, n: int, seed: int = 0, threshold: float = 0.5, places: bool = True, dated_labels: bool = True
) -> Catalogue:
    """``n`` photos with labels, bird scores, user labels, some not indexed, some without a date or a camera,
    some sharing a date or a picture (content hash), written as rows the way the indexer would leave them.
    ``places``: a third of them with a place (a catalogue from before places has no word kinds);
    ``dated_labels``: the labels carry their photo's date (a catalogue from before migration 0009 has none)."""
    rng = random.Random(seed)
    start = dt.datetime(2018, 1, 1)
    with lib.session() as s:
        s.execute(Folder.__table__.insert(), [{"id": 1, "path": "/photos"}])
        s.execute(Word.__table__.insert(), [{"id": i + 1, "word": w} for i, w in enumerate(CATALOGUE_WORDS)])
        if places:
            s.execute(
                Word.__table__.insert(),
                [
                    {"id": len(CATALOGUE_WORDS) + i + 1, "word": w, "kind": WordKind.PLACE}
                    for i, w in enumerate(PLACE_WORDS)
                ],
            )
        s.execute(
            ModelVersion.__table__.insert(),
            [
                {
                    "id": 1,
                    "name": "old",
                    "file": "old.pt",
                    "sha256": "0" * 64,
                    "embedder_key": "k",
                    "threshold": 0.1,
                    "active": False,
                },
                {
                    "id": 2,
                    "name": "now",
                    "file": "now.pt",
                    "sha256": "1" * 64,
                    "embedder_key": "k",
                    "threshold": threshold,
                    "active": True,
                },
            ],
        )
    photos, labels, scores, user = [], {}, {}, {}
    dates = [start + dt.timedelta(days=rng.randrange(4 * 365), seconds=rng.randrange(86400)) for _ in range(n // 3)]
    for pid in range(1, n + 1):
        state = rng.choices(["indexed", "pending", "failed", "missing"], [90, 4, 3, 3])[0]
        taken = None if rng.random() < 0.1 else rng.choice(dates)  # shared dates: ties broken by id
        folder = rng.choice(CATALOGUE_DIRS)
        name = f"img_{pid:04d}.jpg" if rng.random() < 0.9 else f"{rng.choice(['beach', 'x%y', 'a_b'])}{pid}.jpg"
        content = f"{pid:064x}" if rng.random() < 0.95 else f"{rng.randrange(1, pid + 1):064x}"  # duplicates
        photos.append(
            {
                "id": pid,
                "folder_id": 1,
                "path": f"{folder}/{name}",
                "name": name,
                "dir": folder,
                "size": 1000,
                "mtime_ns": pid,
                "content_hash": content,
                "state": state,
                "taken_at": taken,
                "camera_make": rng.choice(CATALOGUE_MAKES),
            }
        )
        for word in CATALOGUE_WORDS:
            if rng.random() < 0.3:
                labels[(pid, word)] = round(rng.random(), 2)  # rounded: equal scores happen, as they do
        if places and rng.random() < 0.3:
            for word in rng.choice(CATALOGUE_PLACES):
                labels[(pid, word)] = 1.0
        scores[pid] = round(rng.random(), 2)
        if rng.random() < 0.08:
            user[content] = rng.choice(["bird", "not-bird"])
    with lib.session() as s:
        s.execute(Photo.__table__.insert(), photos)
        s.execute(
            PhotoLabel.__table__.insert(),
            [
                {"photo_id": pid, "word_id": ALL_WORDS.index(w) + 1, "p": p}
                | ({"taken_at": photos[pid - 1]["taken_at"]} if dated_labels else {})
                for (pid, w), p in labels.items()
            ],
        )
        s.execute(
            BirdScore.__table__.insert(),
            [{"photo_id": pid, "model_id": 2, "score": sc} for pid, sc in scores.items()]
            + [{"photo_id": pid, "model_id": 1, "score": 0.99} for pid in scores],  # an inactive model's
        )
        if user:
            s.execute(UserLabel.__table__.insert(), [{"content_hash": h, "label": v} for h, v in user.items()])
        sequences.catch_up(s.connection())  # (PostgreSQL numbers the rows written next past these)
    return Catalogue(photos, labels, scores, user, threshold)


@pytest.fixture
def catalogue(library: Library) -> Catalogue:
    return make_catalogue(library, 600)
