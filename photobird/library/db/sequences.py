"""Rows written with their ids given (a library copied from another catalogue, rows a test writes as the indexer
would) leave PostgreSQL's id sequences behind: the next row it numbers itself would take an id already used.
SQLite numbers a new row past the largest id there is, so it needs nothing.
"""

from __future__ import annotations

from sqlalchemy import Connection, Integer, text

from photobird.library.db.engines import EngineKind
from photobird.library.schema import Base


def catch_up(conn: Connection) -> None:
    """Move every table's id sequence past the largest id in it (PostgreSQL; nothing to do on SQLite)."""
    if EngineKind(conn.dialect.name) is not EngineKind.POSTGRESQL:
        return
    for table in Base.metadata.sorted_tables:
        key = list(table.primary_key.columns)
        if len(key) != 1 or not isinstance(key[0].type, Integer) or key[0].autoincrement is False:
            continue
        name, column = table.name, key[0].name
        # (a key that no sequence numbers, one that is also a foreign key, gives NULL: setval of NULL does nothing)
        conn.execute(
            text(
                f'SELECT setval(pg_get_serial_sequence(:table, :column), coalesce(max("{column}"), 0) + 1, false) '
                f'FROM "{name}"'
            ),
            {"table": name, "column": column},
        )
