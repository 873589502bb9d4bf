"""Advisory locks: the few things only one process may do at a time when several share a PostgreSQL catalogue.

Any number of indexers work through one catalogue on PostgreSQL (each claims its own photos, ``claims``), but a
few jobs are the whole catalogue's: reconciling it with the disk (two scans would insert the same new file
twice), adding new words, grouping faces into people, and watching the folders. Each has an advisory lock, a
number the server locks for whoever asks first, and drops when its holder's transaction or connection ends, so
a process that dies leaves none behind.

On SQLite none of this is needed: one indexer at a time holds the library folder's file lock (``store``), so
every lock here is held at once there.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, text

from photobird.library.db.engines import EngineKind


class Key(enum.IntEnum):
    """The advisory locks' numbers (any number fits; these spell "PhotoB" and then which lock)."""

    #: Reconciling the catalogue with the disk and re-labelling from stored data: one process at a time.
    SCANNING = 0x50686F746F420001
    #: Adding words to the words table: read, then insert the missing ones, one process at a time.
    WORDS = 0x50686F746F420002
    #: Grouping new faces into people.
    GROUPING = 0x50686F746F420003
    #: Watching the folders (``photobird index --watch``, the app): one computer at a time.
    WATCHING = 0x50686F746F420004


def _postgresql(bind: Connection | Engine) -> bool:
    return EngineKind(bind.dialect.name) is EngineKind.POSTGRESQL


def hold_for_transaction(conn: Connection, key: Key) -> None:
    """Wait for ``key`` and hold it until ``conn``'s transaction ends (nothing to do on SQLite, whose writers
    take turns anyway)."""
    if _postgresql(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": int(key)})


class SessionLock:
    """``key`` held on a connection of its own, for as long as the holder wants it (not one transaction): a
    watcher holds it for as long as it watches. Closing the connection (or the process dying) lets it go."""

    def __init__(self, engine: Engine, key: Key) -> None:
        self.key = key
        self._postgresql = _postgresql(engine)
        self._engine = engine
        self._conn: Any = None
        self.held = False

    def _cursor(self) -> Any:
        if self._conn is None:
            self._conn = self._engine.raw_connection()
            self._conn.detach()  # out of the pool for good: the lock belongs to this connection alone
            self._conn.autocommit = True
        return self._conn.cursor()

    def take(self, wait: bool = False) -> bool:
        """Take the lock; returns whether it is held now (``wait``: wait for it; else say False at once when
        another process holds it). Always held on SQLite."""
        if self.held or not self._postgresql:
            self.held = True
            return True
        cur = self._cursor()
        try:
            if wait:
                cur.execute("SELECT pg_advisory_lock(%s)", (int(self.key),))
                self.held = True
            else:
                cur.execute("SELECT pg_try_advisory_lock(%s)", (int(self.key),))
                self.held = bool(cur.fetchone()[0])
        finally:
            cur.close()
        return self.held

    def release(self) -> None:
        """Let the lock go (closing its connection: nothing of it outlives this)."""
        self.held = False
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()


@contextlib.contextmanager
def first_or_wait(engine: Engine, key: Key) -> Iterator[bool]:
    """Hold ``key`` for the block; yields whether it was free (True), or another process held it and this one
    waited for it to finish (False: what it did under the lock is done, and need not be done again)."""
    lock = SessionLock(engine, key)
    try:
        free = lock.take()
        if not free:
            lock.take(wait=True)
        yield free
    finally:
        lock.release()


@contextlib.contextmanager
def unless_taken(engine: Engine, key: Key) -> Iterator[bool]:
    """Hold ``key`` for the block if it is free; yields whether it is held (False: another process is doing
    this now, and this one skips it)."""
    lock = SessionLock(engine, key)
    try:
        yield lock.take()
    finally:
        lock.release()
