"""A library whose catalogue is on a PostgreSQL server (a real one, started for the session by
``tests/postgres.py``): opened and migrated like the SQLite file, with the same tables, and the catalogue's
everyday work through the same functions. The library folder keeps only thumbnails, models and the keepsake."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from PIL import Image
from sqlalchemy import Engine, func, inspect, make_url, select

from photobird.cli import main
from photobird.library import catalogue, edits, scan
from photobird.library.db.engines import DATABASE_ENV, EngineKind
from photobird.library.index import index
from photobird.library.schema import NAME_TRIGRAM_INDEXES, NAMES_TABLE, Base, Photo, compared_by_alembic
from photobird.library.store import CATALOGUE, Library, _alembic_config
from photobird.models.runner import Models

from .conftest import copy_real


@pytest.fixture
def pg_library(tmp_path: Path, postgres_url: str) -> Library:
    lib = Library(tmp_path / "library", database=postgres_url)
    yield lib
    lib.close()


def _revision(lib: Library) -> str | None:
    with lib.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_a_new_catalogue_on_the_server_is_migrated_to_head_and_the_folder_holds_no_catalogue(
    tmp_path: Path, postgres_url: str
) -> None:
    root = tmp_path / "library"
    lib = Library(root, database=postgres_url)
    assert lib.kind is EngineKind.POSTGRESQL
    assert _revision(lib) == ScriptDirectory.from_config(_alembic_config()).get_current_head()
    lib.set_setting("example", {"kept": [1, 2]})
    lib.close()
    assert not (root / CATALOGUE).exists()
    assert (root / "thumbs").is_dir() and (root / "models").is_dir()
    # another computer, with its own folder (its own thumbnail cache), sees the same catalogue
    with Library(tmp_path / "elsewhere", database=postgres_url) as again:
        assert again.get_setting("example") == {"kept": [1, 2]}


def test_the_environment_variable_opens_the_catalogue_on_the_server(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATABASE_ENV, postgres_url)
    with Library(tmp_path / "library") as lib:
        assert lib.kind is EngineKind.POSTGRESQL
        lib.set_setting("example", 3)
    monkeypatch.delenv(DATABASE_ENV)
    with Library(tmp_path / "library", database=postgres_url) as lib:
        assert lib.get_setting("example") == 3
    with Library(tmp_path / "another library") as lib:  # without it: a folder's own file
        assert lib.kind is EngineKind.SQLITE and lib.get_setting("example") is None


def _shape(engine: Engine) -> dict[str, dict[str, Any]]:
    """Every table's columns (name, nullable), primary key, foreign keys, unique constraints and indexes, as
    both engines can be asked for them (types are compared against ``schema.py`` by ``compare_metadata``)."""
    seen = inspect(engine)
    out: dict[str, dict[str, Any]] = {}
    for table in seen.get_table_names():
        if table == NAMES_TABLE or table.startswith(NAMES_TABLE + "_"):
            continue
        out[table] = {
            "columns": [(c["name"], c["nullable"]) for c in seen.get_columns(table)],
            "primary key": seen.get_pk_constraint(table)["constrained_columns"],
            "foreign keys": sorted(
                (fk["constrained_columns"], fk["referred_table"], fk["referred_columns"], fk["options"].get("ondelete"))
                for fk in seen.get_foreign_keys(table)
            ),
            "unique": sorted(u["column_names"] for u in seen.get_unique_constraints(table)),
            "indexes": sorted(
                (i["name"], i["column_names"], i["unique"])
                for i in seen.get_indexes(table)
                if i["name"] not in NAME_TRIGRAM_INDEXES and "duplicates_constraint" not in i
            ),
        }
    return out


def test_both_engines_have_the_same_tables_columns_keys_and_indexes_as_the_orm_says(
    library: Library, pg_library: Library
) -> None:
    """The migrations agree with ``schema.py`` on both engines, so every query written once runs on both."""
    for lib in (library, pg_library):
        with lib.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"include_name": compared_by_alembic})
            assert compare_metadata(ctx, Base.metadata) == [], lib.kind
    on_sqlite, on_postgresql = _shape(library.engine), _shape(pg_library.engine)
    assert on_sqlite.keys() == on_postgresql.keys()
    for table, shape in on_sqlite.items():
        assert shape == on_postgresql[table], table


def test_the_name_search_indexes_are_trigram_indexes_on_postgresql(pg_library: Library) -> None:
    with pg_library.connect() as conn:
        indexes = {i["name"]: i for i in inspect(conn).get_indexes("photos")}
    for name in NAME_TRIGRAM_INDEXES:
        assert indexes[name]["dialect_options"]["postgresql_using"] == "gin"
        assert indexes[name]["dialect_options"]["postgresql_ops"] == {indexes[name]["column_names"][0]: "gin_trgm_ops"}


def _photos(folder: Path) -> list[Path]:
    """Three small real JPEGs, one of them named with bytes that are not UTF-8 (a Linux file name is bytes)."""
    folder.mkdir(parents=True)
    paths = [folder / "a.jpg", folder / "b.jpg", Path(os.fsdecode(os.fsencode(folder) + b"/caf\xe9.jpg"))]
    for i, path in enumerate(paths):
        Image.new("RGB", (32, 24), (40 * i, 90, 200)).save(path)
    return paths


def test_folders_photos_labels_and_edits_round_trip_on_postgresql(tmp_path: Path, pg_library: Library) -> None:
    lib = pg_library
    paths = _photos(tmp_path / "photos")
    scan.add_folder(lib, tmp_path / "photos")
    assert scan.scan(lib).new == 3
    assert [(f.path, f.pending) for f in scan.list_folders(lib)] == [(str(tmp_path / "photos"), 3)]
    ids = {path: catalogue.photo_id_for_path(lib, path) for path in paths}
    assert sorted(ids.values()) == scan.pending_ids(lib)
    briefs = catalogue.briefs(lib, ids.values())
    assert {briefs[pid].path for pid in ids.values()} == {str(p) for p in paths}  # bytea keeps every byte
    with lib.session() as s:  # nanoseconds since 1970 need 64 bits
        assert s.scalar(select(Photo.mtime_ns).where(Photo.id == ids[paths[0]])) == paths[0].stat().st_mtime_ns

    weird = ids[paths[2]]
    assert catalogue.set_user_label(lib, [ids[paths[0]], weird], "bird").labelled == 2
    again = catalogue.set_user_label(lib, [weird], "not-bird")  # the same picture again: updated, not added
    assert again.before == {weird: "bird"}
    hashes = {pid: catalogue.briefs(lib, [pid])[pid].content_hash for pid in (ids[paths[0]], weird)}
    assert catalogue.user_labels(lib) == {hashes[ids[paths[0]]]: "bird", hashes[weird]: "not-bird"}
    catalogue.set_user_label(lib, [ids[paths[0]]], None)
    assert catalogue.user_labels(lib) == {hashes[weird]: "not-bird"}

    assert edits.rotate(lib, weird, 1) == 90
    assert edits.rotate(lib, weird, 3) == 0
    assert edits.rotate(lib, weird, -1) == 270
    assert edits.rotations(lib, hashes.values()) == {hashes[weird]: 270}

    assert scan.remove_folder(lib, tmp_path / "photos") == 3
    with lib.session() as s:
        assert s.scalar(select(func.count()).select_from(Photo)) == 0
    assert catalogue.user_labels(lib) == {hashes[weird]: "not-bird"}  # labels belong to the picture: kept


def test_reads_inside_a_snapshot_see_one_committed_state_on_postgresql(
    tmp_path: Path, postgres_url: str, pg_library: Library
) -> None:
    """A commit by another computer between two reads of one snapshot shows in neither, and in the next."""
    photos = tmp_path / "photos"
    photos.mkdir()
    scan.add_folder(pg_library, photos)
    with Library(tmp_path / "other computer", database=postgres_url) as other:
        with pg_library.snapshot():
            before = [f.pending for f in scan.list_folders(pg_library)]
            (photos / "new.jpg").write_bytes(b"not yet read")
            scan.scan(other)  # commits a pending photo
            assert [f.pending for f in scan.list_folders(pg_library)] == before == [0]
            assert scan.pending_ids(pg_library) == []
        assert [f.pending for f in scan.list_folders(pg_library)] == [1]


def test_the_command_line_takes_the_database_option(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "photos").mkdir()
    base = ["--library", str(tmp_path / "library"), "--database", postgres_url]
    assert main([*base, "folders", "add", str(tmp_path / "photos")]) == 0
    with Library(tmp_path / "elsewhere", database=postgres_url) as lib:
        assert [f.path for f in scan.list_folders(lib)] == [str(tmp_path / "photos")]
    capsys.readouterr()
    refused = make_url(postgres_url).set(password="not-the-password").render_as_string(hide_password=False)
    assert main([*base[:3], refused, "folders", "list"]) == 2
    said = capsys.readouterr().err
    assert said.startswith("photobird: PhotoBird cannot open the catalogue at postgresql://")
    assert said.count("\n") == 1 and "password authentication failed" in said and "not-the-password" not in said


def test_indexing_real_photos_on_postgresql_gives_what_it_gives_on_sqlite(
    tmp_path: Path, library: Library, pg_library: Library, models: Models
) -> None:
    """The indexer writes the same photos, labels and scores through either engine (floats as stored)."""
    photos = tmp_path / "photos"
    names = copy_real(photos, 2, 3)
    found: dict[EngineKind, dict[str, tuple]] = {}
    for lib in (library, pg_library):
        scan.add_folder(lib, photos)
        assert index(lib, models).indexed == len(names)
        found[lib.kind] = {}
        for name in names:
            info = catalogue.info(lib, catalogue.photo_id_for_path(lib, photos / name))
            labels = catalogue.labels_of(lib, info["id"], shown_only=False)
            found[lib.kind][name] = (info["state"], info["content_hash"], info["width"], info["height"], labels)
            found[lib.kind][name] += (pytest.approx(info["bird"], abs=1e-6),)
    assert found[EngineKind.POSTGRESQL] == found[EngineKind.SQLITE]
