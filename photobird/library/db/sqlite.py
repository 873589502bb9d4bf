"""The library folder's SQLite catalogue: its URL, how every connection is set up, and how SQLite says that the
file is damaged or its disk full.

Readers never block on the indexer: SQLite's write-ahead log lets them read the last committed state while a
batch is being written.
"""

from __future__ import annotations

import errno
import sqlite3
import urllib.parse
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError

#: A catalogue up to this size is checked page by page when opened (``PRAGMA quick_check``, some 50 ms);
#: a bigger one by its header, and by every read, which says so the moment it meets a damaged page.
CHECK_WHOLE_BYTES = 64 << 20


def url(path: Path, read_only: bool = False) -> URL:
    """The catalogue's URL, as an SQLite URI with the path percent-encoded: a folder named "100% #1 ?" must
    not end the path at its "?" (a catalogue created somewhere else) or be decoded at its "%". Read-only, it is
    opened ``immutable``: SQLite then reads a WAL catalogue without creating the -shm file it could not create
    in a folder this process cannot write to."""
    options = "?mode=ro&immutable=1" if read_only else ""
    return URL.create("sqlite", database=f"file:{urllib.parse.quote(str(path))}{options}", query={"uri": "true"})


def on_connect(dbapi_conn: Any, _record: Any) -> None:
    """Every connection's settings (each is the connection's own in SQLite, so each new one needs them)."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across application crashes
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA cache_size=-65536")  # 64 MB page cache
    cur.close()


def open_engine(catalogue: URL) -> Engine:
    """An engine whose connections any thread may use (the app reads from workers), waiting up to 30 s for the
    indexer's write lock rather than failing at once."""
    engine = create_engine(catalogue, connect_args={"timeout": 30, "check_same_thread": False})
    event.listen(engine, "connect", on_connect)
    return engine


def begin_snapshot(conn: Connection) -> None:
    """A deferred ``BEGIN``: its first read fixes the committed state every later read on ``conn`` sees (the
    driver would otherwise run each read in its own transaction)."""
    conn.exec_driver_sql("BEGIN")


def sound(conn: Connection, path: Path, whole: bool) -> bool:
    """Whether the catalogue file at ``path`` is as long as its header says and, when it is small or ``whole``,
    passes ``PRAGMA quick_check``. Read through SQLite only, never by opening the file here: closing any other
    descriptor of the catalogue drops every SQLite lock this process holds on it (POSIX locks belong to the
    process), and another connection of this process would lose its write-ahead log to the next process that
    closes it."""
    size = path.stat().st_size
    pages = conn.exec_driver_sql("PRAGMA page_count").scalar() or 0
    page_size = conn.exec_driver_sql("PRAGMA page_size").scalar() or 0
    # a file cut short (a full disk, a copy stopped half-way) is refused before a query meets its missing pages;
    # one shorter than its header says is sound while a write-ahead log holds the rest
    wal = path.with_name(path.name + "-wal")
    with_log = wal.is_file() and wal.stat().st_size > 0
    if not with_log and size < pages * page_size:
        return False
    return not ((whole or size <= CHECK_WHOLE_BYTES) and conn.exec_driver_sql("PRAGMA quick_check").scalar() != "ok")


def is_damage(error: BaseException) -> bool:
    """Whether SQLite refused a read because the file is not (or no longer) a sound database: "database disk
    image is malformed" or "file is not a database" (SQLAlchemy wraps the driver's error)."""
    orig = error.orig if isinstance(error, DBAPIError) else error
    code = getattr(orig, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` comes of the disk holding the library being full: a file write's ``ENOSPC`` (or a
    quota's ``EDQUOT``: a thumbnail), or SQLite's ``SQLITE_FULL``, "database or disk is full" (SQLAlchemy wraps
    the driver's error). An error raised while handling one (a batch written again on the way out) counts too."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        code = getattr(seen, "sqlite_errorcode", None)
        if code is not None and (code & 0xFF) == sqlite3.SQLITE_FULL:
            return True
        seen = seen.__cause__ or seen.__context__
    return False
