"""Noticing that the catalogue changed: another process (``photobird label``, ``photobird index``, the app on
another computer) or another connection of this one committed to it.

The app polls every second or two (from a worker: the GUI thread never waits on the database), on one
connection held open for that alone, and refreshes what it shows only when something was committed. Each engine
has a number that moves on a commit and costs nothing to read:

- SQLite keeps a per-connection counter, ``PRAGMA data_version``, that moves whenever a *different* connection
  has committed since this one last looked; it reads no table and takes no lock worth the name.
- PostgreSQL's ``pg_current_snapshot()`` names the next transaction id and those still running: it moves when a
  transaction starts writing and again when it commits, anywhere on the server (another database's commit makes
  one needless refresh, never a missed one). Reading it is no write, so the polls do not move it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg

from photobird.library.db.engines import EngineKind
from photobird.library.store import Library

BUSY_TIMEOUT_MS = 100  # when the SQLite file is locked, look again next time rather than hold up the next poll


class CatalogueWatch:
    """``changed()`` says whether anyone else committed to the catalogue since the previous call."""

    def __init__(self, library: Library) -> None:
        self._kind = library.kind
        self._conn: Any = library.engine.raw_connection()  # its own connection: its counter is its own
        self._conn.detach()  # out of the pool for good: its settings must not reach other work
        if self._kind is EngineKind.SQLITE:
            cur = self._conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cur.close()
        else:
            self._conn.autocommit = True  # each poll its own snapshot of the server
        self._version = self._read()

    def _read(self) -> Any:
        cur = self._conn.cursor()
        try:
            if self._kind is EngineKind.SQLITE:
                cur.execute("PRAGMA data_version")
            else:
                cur.execute("SELECT pg_current_snapshot()::text")
            return cur.fetchone()[0]
        except (sqlite3.OperationalError, psycopg.OperationalError):  # busy, or the server away: unknown for now
            return None
        finally:
            cur.close()

    def changed(self) -> bool:
        version = self._read()
        if version is None:
            return False
        changed = version != self._version
        self._version = version
        return changed

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
