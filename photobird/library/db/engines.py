"""Which engine holds a library's catalogue, and its URL: ``--database URL``, else ``PHOTOBIRD_DATABASE``, else
the SQLite file in the library folder (the default, as before PostgreSQL).

A PostgreSQL URL is ``postgresql://user:password@host:port/dbname`` (any of libpq's options may follow after
"?"); PhotoBird talks to it through psycopg 3, so a plain ``postgresql://`` URL (or one naming another
driver, written for another program) is given that driver. The password
may also come from libpq's own places (``PGPASSWORD``, ``~/.pgpass``), which keeps it out of shell histories.
"""

from __future__ import annotations

import enum
import os
from pathlib import Path

from sqlalchemy import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError

from photobird.library.db import postgres, sqlite

#: The environment variable naming the catalogue's database, for every PhotoBird process (the app included).
DATABASE_ENV = "PHOTOBIRD_DATABASE"
PSYCOPG = "postgresql+psycopg"


class Catalogue(enum.Enum):
    """A catalogue named by where it is rather than by an address."""

    #: The library folder's own SQLite file, whatever ``PHOTOBIRD_DATABASE`` says (a copy into a folder).
    OWN_FILE = "own file"


class EngineKind(enum.StrEnum):
    """The database engines a catalogue can live in."""

    #: The library folder's ``catalogue.sqlite``: one computer, one indexer at a time.
    SQLITE = "sqlite"
    #: A database on a PostgreSQL server, shared by every computer that opens it.
    POSTGRESQL = "postgresql"

    @classmethod
    def of(cls, catalogue: URL) -> EngineKind:
        return cls(catalogue.get_backend_name())


class DatabaseAddressError(ValueError):
    """The database asked for is not one PhotoBird can use; the message says so in one sentence."""


def catalogue_url(sqlite_file: Path, database: str | Catalogue | None = None) -> URL:
    """The catalogue's URL: ``database`` (``--database``) if given, else ``PHOTOBIRD_DATABASE`` if set, else
    ``sqlite_file``'s (always, for ``Catalogue.OWN_FILE``). Raises ``DatabaseAddressError`` for an address that
    is no PostgreSQL URL (without repeating any password in it)."""
    if database is Catalogue.OWN_FILE:
        return sqlite.url(sqlite_file)
    source = "--database"
    if not database:
        database, source = os.environ.get(DATABASE_ENV), DATABASE_ENV
    if not database:
        return sqlite.url(sqlite_file)
    usage = "give a PostgreSQL URL such as postgresql://user@host/dbname, or none for the library folder's own file"
    try:
        given = make_url(database)
    except (ArgumentError, ValueError):  # (a port that is not a number is a ValueError)
        raise DatabaseAddressError(f"The database address in {source} is not a URL: {usage}.") from None
    if given.get_backend_name() != EngineKind.POSTGRESQL:
        raise DatabaseAddressError(
            f"The database address in {source} ({given.render_as_string(hide_password=True)}) is not a "
            f"PostgreSQL one: {usage}."
        )
    return given.set(drivername=PSYCOPG)


def open_engine(catalogue: URL) -> Engine:
    """An engine set up for ``catalogue``'s engine (connections, pragmas, timeouts)."""
    if EngineKind.of(catalogue) is EngineKind.SQLITE:
        return sqlite.open_engine(catalogue)
    return postgres.open_engine(catalogue)


def begin_snapshot(conn: Connection) -> None:
    """Make every read on ``conn`` until its rollback see one committed state of the catalogue."""
    if EngineKind.of(conn.engine.url) is EngineKind.SQLITE:
        sqlite.begin_snapshot(conn)
    else:
        postgres.begin_snapshot(conn)
