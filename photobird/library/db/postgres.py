"""A catalogue on a PostgreSQL server (psycopg 3): opening it, saying in one sentence why it cannot be opened,
a read snapshot, and the lock that lets only one process migrate it.

Several computers share one server, so what the SQLite file gets from its folder comes from the server here:
readers see the last committed state while the indexer writes (PostgreSQL's MVCC), and migrations are serialised
by an advisory lock instead of a file lock.
"""

from __future__ import annotations

import re

import psycopg
from sqlalchemy import URL, Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

#: How long to wait for a server that does not answer (a wrong address, a machine that is off) before saying so.
CONNECT_TIMEOUT_S = 10
#: The advisory lock held while the schema is migrated (any number fits; this one spells "PhotoBrd").
MIGRATION_LOCK = 0x50686F746F427264
#: SQLSTATE classes of a server that cannot be used at all: a broken connection, a refused login, no such
#: database, the server shutting down. (A connection that never came up has no SQLSTATE.)
_UNREACHABLE = ("08", "28", "3D", "57P01", "57P02", "57P03")
#: What libpq puts before its reason: the server is named in our own sentence already.
_PREFIX = re.compile(r'^(connection failed: )?(connection to server (at|on) "[^"]*"(, port \d+)? failed: )?(FATAL: +)?')


def open_engine(catalogue: URL) -> Engine:
    """An engine that checks a pooled connection before using it (the server may have restarted since) and
    gives up on a server that does not answer after ``CONNECT_TIMEOUT_S``."""
    return create_engine(catalogue, pool_pre_ping=True, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})


def where(catalogue: URL) -> str:
    """The catalogue's address for messages: the server, port, database and user, never the password."""
    c = catalogue
    return URL.create("postgresql", c.username, None, c.host, c.port, c.database, c.query).render_as_string()


def begin_snapshot(conn: Connection) -> None:
    """A read-only REPEATABLE READ transaction: every read on ``conn`` sees the state committed when its first
    read ran, however many commits other computers make meanwhile."""
    conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    conn.begin()  # begun here, so that a session reading inside joins it rather than committing its own


def cannot_open(catalogue: URL, error: BaseException, connecting: bool = False) -> str | None:
    """One sentence, naming the server (never the password), when ``error`` says the catalogue's server cannot
    be used: it does not answer, refuses the login, or has no such database, or (``connecting``: the error came
    of opening a connection, nothing else) the URL asks for something libpq does not know. None otherwise."""
    orig = error.orig if isinstance(error, DBAPIError) else error
    unusable = isinstance(orig, psycopg.OperationalError) and (
        orig.sqlstate is None or orig.sqlstate.startswith(_UNREACHABLE)
    )
    if not (unusable or (connecting and isinstance(orig, psycopg.Error))):
        return None
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else "the server did not answer"
    reason = _PREFIX.sub("", first).strip().rstrip(".")
    return f"PhotoBird cannot open the catalogue at {where(catalogue)}: {reason[:1].lower()}{reason[1:]}."


def lock_for_migration(conn: Connection) -> None:
    """Hold the migration lock until ``conn``'s transaction ends: two computers opening a new or older catalogue
    at once migrate it one after the other (the second finds it current and does nothing)."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
