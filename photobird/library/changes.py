"""Noticing that the catalogue changed: another process (``photobird label``, ``photobird index``) or another
connection of this one committed to it.

SQLite keeps a per-connection counter, ``PRAGMA data_version``, that moves whenever a *different* connection has
committed since this one last looked. Asking for it reads no table and takes no lock worth the name, so the app
can poll it every second or two (from a worker: the GUI thread never waits on the database) on one connection
held open for that alone, and refresh what it shows only when something was committed.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from photobird.library.store import Library

BUSY_TIMEOUT_MS = 100  # when the file is locked, look again next time rather than hold up the next poll


class CatalogueWatch:
    """``changed()`` says whether anyone else committed to the catalogue since the previous call."""

    def __init__(self, library: Library) -> None:
        self._conn: Any = library.engine.raw_connection()  # its own connection: its counter is its own
        self._conn.detach()  # out of the pool for good: its short busy timeout must not reach other work
        cur = self._conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()
        self._version = self._read()

    def _read(self) -> int | None:
        cur = self._conn.cursor()
        try:
            cur.execute("PRAGMA data_version")
            return int(cur.fetchone()[0])
        except sqlite3.OperationalError:  # busy (a checkpoint, a migration): unknown for now
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
