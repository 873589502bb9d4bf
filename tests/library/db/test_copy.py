"""``photobird library copy``: a real library (real photos through the real networks, faces and people, the user's
labels, a name, a rotation, a model version, settings) copied from its SQLite file to a real PostgreSQL server and
from there into a new folder's SQLite file loses nothing: every table, row and column is the same on all three,
search finds the same, and the copies take new rows. And the copies that must not run are refused, in one
sentence, through the real command."""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, make_url, select

from photobird import config
from photobird.learn.data import embed_views_for_photos
from photobird.library import catalogue, edits, keepsake, people, scan, versions
from photobird.library.schema import Folder, Photo
from photobird.library.search import Searcher
from photobird.library.store import Library, SettingKey
from photobird.library.transfer import tables
from photobird.models import files
from photobird.models.runner import HEAD_FILE, Models, load_shipped

from ..conftest import copy_real, make_catalogue

FACES_DEV = config.shared_data_dir() / "faces-dev"
QUERIES = ("", "bird", "not bird", "dog", "ann", "anna", "-bird", "everyday", "2019")


def photobird(*args: str, database: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real command, as a user runs it (``database``: in ``PHOTOBIRD_DATABASE``)."""
    env = {k: v for k, v in os.environ.items() if k != "PHOTOBIRD_DATABASE"}
    if database:
        env["PHOTOBIRD_DATABASE"] = database
    return subprocess.run([sys.executable, "-m", "photobird", *args], capture_output=True, text=True, env=env)


def copy_faces(dst: Path, n_people: int, per_person: int) -> None:
    """Some faces-dev photos: ``per_person`` of each of ``n_people`` people."""
    if not (FACES_DEV / "labels.csv").is_file():
        pytest.skip(f"shared faces-dev photos not found at {FACES_DEV}; set PHOTOBIRD_DATA")
    with open(FACES_DEV / "labels.csv") as f:
        by_person: dict[str, list[str]] = {}
        for r in csv.DictReader(f):
            if r["person"]:
                by_person.setdefault(r["person"], []).append(r["file"])
    dst.mkdir(parents=True, exist_ok=True)
    for person in sorted(by_person)[:n_people]:
        for name in sorted(by_person[person])[:per_person]:
            shutil.copy2(FACES_DEV / name, dst / name)


def build_library(root: Path, photos: Path, models: Models) -> Library:
    """A library with something in every table, made the way a user makes it."""
    copy_real(photos / "real", 3, 3)
    copy_faces(photos / "faces", 2, 2)
    lib = Library(root)
    scan.add_folder(lib, photos)
    from photobird.library.index import index

    index(lib, models)
    found = people.people(lib)
    assert len(found) >= 2
    people.name_person(lib, found[0].id, "Anna")
    ids = sorted(catalogue.photo_id_for_path(lib, p) for p in sorted((photos / "real").iterdir()))
    catalogue.set_user_label(lib, ids[:2], "bird")
    catalogue.set_user_label(lib, ids[2:3], "not-bird")
    list(embed_views_for_photos(lib, models, ids[:3]))
    edits.rotate(lib, ids[0], 1)
    head = load_shipped(HEAD_FILE, expect_arch="bird-head")
    path = lib.models_dir / "v1.pt"
    files.save(path, dataclasses.replace(head.meta, version="v1", threshold=0.3), head.module)
    versions.add_version(lib, path, "v1", {"metrics": {"held_out": 3}}, versions.embedder_key(models.spec))
    lib.set_setting(SettingKey.FACES, True)
    return lib


def rows(lib: Library) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in key order."""
    out = {}
    with lib.connect() as c:
        for t in tables():
            key = [t.columns.keys().index(col.key) for col in t.primary_key.columns]
            out[t.name] = sorted((tuple(r) for r in c.execute(select(t))), key=lambda r: [r[i] for i in key])
    return out


def assert_same(a: dict[str, list[tuple[Any, ...]]], b: dict[str, list[tuple[Any, ...]]]) -> None:
    """Same tables, rows and values: floats within float tolerance, blobs byte for byte, the rest equal."""
    assert a.keys() == b.keys()
    for name in a:
        assert len(a[name]) == len(b[name]), name
        for ra, rb in zip(a[name], b[name], strict=True):
            for va, vb in zip(ra, rb, strict=True):
                if isinstance(va, float):
                    assert math.isclose(va, vb, rel_tol=1e-12, abs_tol=1e-12), (name, ra[0])
                else:
                    assert va == vb, (name, ra[0])


def found(lib: Library) -> dict[str, list[tuple[int, float]]]:
    searcher = Searcher(lib)
    return {q: [(h.photo_id, round(h.score, 9)) for h in searcher.search(q)] for q in QUERIES}


def test_sqlite_to_postgresql_and_back_loses_nothing(tmp_path: Path, models: Models, postgres_url: str) -> None:
    lib = build_library(tmp_path / "lib", tmp_path / "photos", models)
    source = rows(lib)
    empty = [name for name, r in source.items() if not r]
    assert empty == [], f"the test library leaves tables empty: {empty}"
    searched = found(lib)
    assert searched["anna"] and searched["bird"] and searched[""]
    lib.close()

    to_server = photobird("--library", str(tmp_path / "lib"), "library", "copy", "--to", postgres_url)
    assert to_server.returncode == 0, to_server.stderr
    lines = to_server.stdout.splitlines()
    for t in tables():  # one line per table, its count on both sides
        n = f"{len(source[t.name]):,}"
        assert any(line.split() == [t.name, n, n] for line in lines), t.name
    assert lines[-1].startswith("Copied ") and "--database" in lines[-1] and str(tmp_path / "lib") in lines[-1]
    assert make_url(postgres_url).password not in to_server.stdout  # (libpq finds it in PGPASSWORD or ~/.pgpass)

    back = tmp_path / "back"
    # back: the server named for every catalogue of the process, but the folder's own file for the target
    to_folder = photobird(
        "--library", str(tmp_path / "lib"), "library", "copy", "--to", str(back), "--json", database=postgres_url
    )
    assert to_folder.returncode == 0, to_folder.stderr
    assert '"verified": true' in to_folder.stdout

    with Library(tmp_path / "lib", database=postgres_url) as server, Library(back) as copied:
        assert_same(source, rows(server))
        assert_same(source, rows(copied))
        assert found(server) == searched
        assert found(copied) == searched
        # the new folder is a whole library: its keepsake agrees with its catalogue, its model loads (sha256
        # checked), every photo has its thumbnail
        with copied.connect() as c:
            assert keepsake.load(back) == keepsake.read(c)
            hashes = list(c.scalars(select(Photo.content_hash)))
        v1 = versions.get_version(copied, "v1")
        assert versions.load_head(copied, v1).sha256 == v1.sha256
        assert all(copied.thumb_path(h).is_file() for h in hashes)

        # the copies take new rows: their ids go on past the copied ones
        for lib2 in (server, copied):
            most = max(r[0] for r in source["folders"])
            newer = tmp_path / f"new-{lib2.kind}"
            newer.mkdir()
            scan.add_folder(lib2, newer)
            with lib2.connect() as c:
                assert c.scalar(select(func.max(Folder.id))) == most + 1
            unnamed = [p for p in people.people(lib2) if not p.name]
            people.name_person(lib2, unnamed[0].id, "Bob")
            assert [h.photo_id for h in Searcher(lib2).search("bob")]
            marked = catalogue.set_user_label(lib2, [searched[""][-1][0]], "not-bird")
            assert marked.labelled == 1


def test_copy_refuses_a_target_holding_a_library(tmp_path: Path, postgres_url: str) -> None:
    with Library(tmp_path / "lib") as lib:
        make_catalogue(lib, 20)
    with Library(tmp_path / "other", database=postgres_url) as other:
        make_catalogue(other, 30, seed=1)
        before = rows(other)
    done = photobird("--library", str(tmp_path / "lib"), "library", "copy", "--to", postgres_url)
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "already holds a library (30 photos, " in done.stderr
    assert "never mixes two libraries" in done.stderr and "Traceback" not in done.stderr
    with Library(tmp_path / "other", database=postgres_url) as other:
        assert rows(other) == before  # untouched

    # a folder with a catalogue of its own
    with Library(tmp_path / "folder") as lib2:
        make_catalogue(lib2, 5, seed=2)
    done = photobird("--library", str(tmp_path / "lib"), "library", "copy", "--to", str(tmp_path / "folder"))
    assert done.returncode != 0 and done.stderr.count("\n") == 1 and "already holds a library" in done.stderr


def test_copy_refuses_itself_another_keepsake_and_a_server_that_does_not_answer(tmp_path: Path) -> None:
    with Library(tmp_path / "lib") as lib:
        make_catalogue(lib, 20)
        lib.set_setting(SettingKey.FACES, False)  # (a keepsake beside it)
    done = photobird("--library", str(tmp_path / "lib"), "library", "copy", "--to", str(tmp_path / "lib"))
    assert done.returncode != 0 and done.stderr.count("\n") == 1 and "is the one being copied" in done.stderr

    # a folder whose catalogue is gone but whose keepsake holds another library's decisions
    with Library(tmp_path / "gone") as gone:
        gone.set_setting(SettingKey.FACES, True)
    for f in (tmp_path / "gone").glob("catalogue.sqlite*"):
        f.unlink()
    done = photobird("--library", str(tmp_path / "lib"), "library", "copy", "--to", str(tmp_path / "gone"))
    assert done.returncode != 0 and done.stderr.count("\n") == 1 and "keepsake of another library" in done.stderr
    assert not (tmp_path / "gone" / "catalogue.sqlite").exists()

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = photobird(
        "--library", str(tmp_path / "lib"), "library", "copy", "--to", f"postgresql://me:secret@127.0.0.1:{port}/x"
    )
    assert done.returncode != 0 and done.stdout == "" and done.stderr.count("\n") == 1
    assert done.stderr.startswith(
        f"photobird: PhotoBird cannot open the catalogue at postgresql://me@127.0.0.1:{port}/x"
    )
    assert "secret" not in done.stderr and "Traceback" not in done.stderr
