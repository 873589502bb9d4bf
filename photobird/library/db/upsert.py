"""Insert a row, or update the one already there with the same key, in one statement.

Both engines have it (``INSERT ... ON CONFLICT (key) DO UPDATE``), but SQLAlchemy keeps it in each dialect's own
``insert``; this picks the one of the engine the session is bound to, so the callers stay engine-neutral. One
statement, not a read then a write: two computers labelling the same picture at once cannot both insert it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from photobird.library.db.engines import EngineKind

_INSERTS = {EngineKind.SQLITE: sqlite.insert, EngineKind.POSTGRESQL: postgresql.insert}


def upsert(s: Session, table: Any, values: Mapping[str, Any], key: Sequence[str], changes: Mapping[str, Any]) -> None:
    """Insert ``values`` into ``table`` (a mapped class or a ``Table``), or, where a row with the same ``key``
    columns exists, set ``changes`` on it."""
    insert = _INSERTS[EngineKind(s.get_bind().dialect.name)]
    s.execute(insert(table).values(**values).on_conflict_do_update(index_elements=list(key), set_=dict(changes)))
