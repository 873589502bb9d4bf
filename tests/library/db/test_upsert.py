"""Insert-or-update in one statement, on both engines (the folder's SQLite file and a real PostgreSQL server)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from photobird.library.db.upsert import upsert
from photobird.library.schema import UserLabel
from photobird.library.store import Library


@pytest.fixture(params=["sqlite", "postgresql"])
def any_library(request: pytest.FixtureRequest, tmp_path: Path) -> Library:
    database = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    lib = Library(tmp_path / "library", database=database)
    yield lib
    lib.close()


def test_the_first_upsert_inserts_and_the_next_updates_the_same_row(any_library: Library) -> None:
    then, later = dt.datetime(2026, 1, 1), dt.datetime(2026, 2, 1)
    for label, when in (("bird", then), ("not-bird", later)):
        with any_library.session() as s:
            upsert(
                s,
                UserLabel,
                {"content_hash": "ab" * 32, "label": label, "updated_at": when},
                key=["content_hash"],
                changes={"label": label, "updated_at": when},
            )
    with any_library.session() as s:
        rows = s.execute(select(UserLabel.content_hash, UserLabel.label, UserLabel.updated_at)).all()
    assert rows == [("ab" * 32, "not-bird", later)]


def test_an_upsert_changes_only_what_it_is_told_to(any_library: Library) -> None:
    then = dt.datetime(2026, 1, 1)
    with any_library.session() as s:
        s.add(UserLabel(content_hash="cd" * 32, label="bird", updated_at=then))
    with any_library.session() as s:
        upsert(
            s,
            UserLabel,
            {"content_hash": "cd" * 32, "label": "not-bird", "updated_at": dt.datetime(2030, 1, 1)},
            key=["content_hash"],
            changes={"label": "not-bird"},
        )
    with any_library.session() as s:
        assert s.execute(select(UserLabel.label, UserLabel.updated_at)).one() == ("not-bird", then)
