"""Which catalogue a library opens: ``--database``, else ``PHOTOBIRD_DATABASE``, else the folder's SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from photobird.library.db.engines import DATABASE_ENV, DatabaseAddressError, EngineKind, catalogue_url


def test_without_an_address_the_catalogue_is_the_sqlite_file_in_the_library_folder(tmp_path: Path) -> None:
    url = catalogue_url(tmp_path / "100% #1" / "catalogue.sqlite")
    assert EngineKind.of(url) is EngineKind.SQLITE
    assert url.database == f"file:{tmp_path}/100%25%20%231/catalogue.sqlite"


def test_an_empty_environment_variable_is_no_address(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATABASE_ENV, "")
    assert EngineKind.of(catalogue_url(tmp_path / "catalogue.sqlite")) is EngineKind.SQLITE


def test_the_environment_variable_names_a_postgresql_catalogue_spoken_to_through_psycopg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATABASE_ENV, "postgresql://anna:s3cret@nas.local:5433/photos?sslmode=require")
    url = catalogue_url(tmp_path / "catalogue.sqlite")
    assert EngineKind.of(url) is EngineKind.POSTGRESQL
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == (
        "postgresql+psycopg",
        "anna",
        "s3cret",
        "nas.local",
        5433,
        "photos",
    )
    assert url.query == {"sslmode": "require"}


def test_the_option_wins_over_the_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATABASE_ENV, "postgresql://anna@nas.local/photos")
    url = catalogue_url(tmp_path / "catalogue.sqlite", "postgresql+psycopg://bob@server/family")
    assert (url.drivername, url.host, url.database) == ("postgresql+psycopg", "server", "family")


def test_a_url_written_for_another_postgresql_driver_is_spoken_to_through_psycopg(tmp_path: Path) -> None:
    url = catalogue_url(tmp_path / "catalogue.sqlite", "postgresql+psycopg2://bob@server/family")
    assert (url.drivername, url.username, url.host, url.database) == ("postgresql+psycopg", "bob", "server", "family")


@pytest.mark.parametrize(
    ("address", "said"),
    [
        ("mysql://anna:s3cret@nas.local/photos", "(mysql://anna:***@nas.local/photos) is not a PostgreSQL one"),
        ("sqlite:////home/anna/catalogue.sqlite", "(sqlite:////home/anna/catalogue.sqlite) is not a PostgreSQL one"),
        ("nas.local/photos", "is not a URL"),
        ("postgresql://anna:s3cret@nas.local:fivefourthree/photos", "is not a URL"),
    ],
)
def test_an_address_that_is_no_postgresql_url_is_refused_in_one_sentence_without_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, address: str, said: str
) -> None:
    with pytest.raises(DatabaseAddressError) as given:
        catalogue_url(tmp_path / "catalogue.sqlite", address)
    monkeypatch.setenv(DATABASE_ENV, address)
    with pytest.raises(DatabaseAddressError) as set_:
        catalogue_url(tmp_path / "catalogue.sqlite")
    for error, source in ((given.value, "--database"), (set_.value, DATABASE_ENV)):
        message = str(error)
        assert f"The database address in {source}" in message and said in message, message
        assert "s3cret" not in message and "\n" not in message and message.endswith(".")
        assert "postgresql://user@host/dbname" in message
