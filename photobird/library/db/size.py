"""How much room the catalogue takes, for ``photobird stats``: the library folder's SQLite file with its
write-ahead log, or the catalogue's database on its server (which no file of this computer holds).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, text

from photobird.library.db.engines import EngineKind


def catalogue_bytes(conn: Connection, sqlite_file: Path) -> int:
    """The catalogue's size in bytes: ``sqlite_file`` and its companions ("-wal", "-shm"), or on PostgreSQL the
    database ``conn`` is connected to."""
    if EngineKind(conn.dialect.name) is EngineKind.SQLITE:
        return sum(f.stat().st_size for f in sqlite_file.parent.glob(f"{sqlite_file.name}*") if f.is_file())
    return int(conn.scalar(text("SELECT pg_database_size(current_database())")))
