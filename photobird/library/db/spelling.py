"""The few words of hand-written SQL that SQLite and PostgreSQL spell differently.

Search writes its queries as text (``library/search.py``): each is planned for the order results are shown in,
so that the database stops at the page's last row, and that takes saying which table drives a join, which index
not to use, and how to read the trigram index over names, which no query builder says for us. Everything else
in those queries is SQL both engines read alike; what is not is asked of a ``Spelling`` here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, text

from photobird.library.db.engines import EngineKind
from photobird.library.schema import NAMES_TABLE

#: How SQLAlchemy stores a DateTime in SQLite, as text (compared as text there).
_SQLITE_DATE = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True)
class Spelling:
    kind: EngineKind

    @property
    def join(self) -> str:
        """A join whose left side drives it: SQLite's CROSS JOIN keeps the order written (its planner would
        otherwise start from the photos and walk them all); PostgreSQL plans joins by cost, and CROSS JOIN takes
        no ON there."""
        return "CROSS JOIN" if self.kind is EngineKind.SQLITE else "JOIN"

    @property
    def cuts_each_arm(self) -> bool:
        """Whether a page of a UNION ALL of ranked arms must cut each arm to the page itself: SQLite merges arms
        that come in order and stops at the LIMIT; PostgreSQL, given the union whole, joins every match of every
        arm before it sorts (a page of "bird" 15 times slower at 100,000 photos), and given each arm cut, walks
        each one's index in order and stops."""
        return self.kind is EngineKind.POSTGRESQL

    @property
    def anti_joins(self) -> bool:
        """Whether an excluded word is best said as a correlated ``NOT EXISTS``, which PostgreSQL plans as an
        anti-join (hashed, or probed row by row while a page is walked in order) where ``NOT IN`` of a set would
        have it read every match before the first row; SQLite builds the set once instead, and probes it."""
        return self.kind is EngineKind.POSTGRESQL

    def searching(self, c: Connection, page: bool) -> None:
        """Before a search's query, in its transaction. PostgreSQL compiles no code for it: its JIT starts on
        costly plans, as a page walking a million photos by date is estimated, and spends 100-200 ms compiling
        a query that then runs in 10 (the "animal -bird" page: 179 ms of JIT, 235 in all). ``page``: the query
        stops at a page, and is planned without parallel workers: starting them costs 20 ms and more (on a
        busy server, more), and a page reads a few thousand rows at most, which one process reads sooner; a
        count, or every result, may still use them."""
        if self.kind is EngineKind.POSTGRESQL:
            c.execute(text("SET LOCAL jit = off"))
            if page:
                c.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))

    def probe(self, select_one: str) -> str | None:
        """Whether ``select_one`` (a ``SELECT 1`` correlated with the photo ``p``) finds a row, as one lookup
        per photo, for a page that walks the photos in order and stops when it is full; None where ``EXISTS``
        is that already (SQLite). PostgreSQL turns an ``EXISTS`` into a join, which reads every photo of the
        word before the first row ("italy dog": all 100,000 photos of Italy, 93 ms, where walking the dogs in
        order and looking each up finds the page in 2,000 lookups); a scalar subquery it looks up row by row."""
        if self.kind is EngineKind.SQLITE:
            return None
        return f"({select_one} LIMIT 1) IS NOT NULL"

    def unindexed(self, column: str) -> str:
        """``column`` where no index on it is to be used (SQLite's unary "+"; PostgreSQL plans by cost)."""
        return f"+{column}" if self.kind is EngineKind.SQLITE else column

    def least(self, values: list[str]) -> str:
        return f"{'min' if self.kind is EngineKind.SQLITE else 'least'}({', '.join(values)})"

    def month(self, column: str) -> str:
        """The month (1-12) of a date column."""
        if self.kind is EngineKind.SQLITE:
            return f"CAST(strftime('%m', {column}) AS INTEGER)"
        return f"CAST(extract(month FROM {column}) AS INTEGER)"

    def newest_first(self, column: str) -> str:
        """Ordering by a date, newest first and undated last (SQLite sorts NULL lowest; PostgreSQL highest)."""
        return f"{column} DESC" if self.kind is EngineKind.SQLITE else f"{column} DESC NULLS LAST"

    def date(self, value: dt.datetime) -> Any:
        """A date to compare a DateTime column with (SQLite stores it as text)."""
        return value.strftime(_SQLITE_DATE) if self.kind is EngineKind.SQLITE else value

    def limit(self, limit: str | None, offset: str) -> str:
        """LIMIT and OFFSET (bound parameters) where ``limit`` may be None: every row after the offset."""
        return (
            f" LIMIT {'-1' if self.kind is EngineKind.SQLITE else 'ALL'} OFFSET {offset}"
            if limit is None
            else (f" LIMIT {limit} OFFSET {offset}")
        )

    def explain(self, sql: str) -> str:
        return ("EXPLAIN QUERY PLAN " if self.kind is EngineKind.SQLITE else "EXPLAIN ") + sql

    def has_name_index(self, c: Connection) -> bool:
        """Whether the trigram index over names is there (on SQLite, a table that a catalogue made before it
        lacks until migrated; on PostgreSQL, an index of the photos table that every migrated catalogue has)."""
        if self.kind is EngineKind.POSTGRESQL:
            return True
        return c.execute(text("SELECT 1 FROM sqlite_master WHERE name = :n"), {"n": NAMES_TABLE}).first() is not None

    def name_index(self, text_: str) -> tuple[str, str, bool]:
        """The photos whose name or folder contains ``text_`` (three characters or more), from the trigram
        index: a SELECT of their ids with one parameter ``{q}``, its value, and whether it gives exactly those
        photos (SQLite's FTS5 finds the trigrams in any order: a check of each photo follows)."""
        if self.kind is EngineKind.SQLITE:
            phrase = '"' + text_.replace('"', '""') + '"'
            return f"SELECT rowid AS id FROM {NAMES_TABLE} WHERE {NAMES_TABLE} MATCH {{q}}", phrase, False
        return (
            "SELECT id FROM photos WHERE name LIKE {q} ESCAPE '\\' OR dir LIKE {q} ESCAPE '\\'",
            contains(text_),
            True,
        )

    def rows(self, c: Connection, sql: str, params: dict[str, Any]) -> Iterator[Any]:
        """The rows of a hand-written query with ``:name`` parameters; on SQLite through the driver's own cursor,
        with no SQLAlchemy row per result (for 100,000 results those cost more than the query)."""
        if self.kind is EngineKind.SQLITE:
            cur = c.connection.dbapi_connection.cursor()
            try:
                yield from cur.execute(sql, params)
            finally:
                cur.close()
        else:
            yield from c.execute(text(sql), params)


def least_bytes(kind: EngineKind, column: ColumnElement[Any]) -> ColumnElement[Any]:
    """``min(column)`` of a byte-string column in a GROUP BY, in byte order, of the column's own type
    (PostgreSQL has no ``min`` of bytea: the least of the hex texts, compared byte by byte, turned back)."""
    if kind is EngineKind.SQLITE:
        return func.min(column)
    return func.decode(func.min(func.encode(column, "hex").collate("C")), "hex", type_=column.type)


def greatest_bytes(kind: EngineKind, column: ColumnElement[Any]) -> ColumnElement[Any]:
    """``max(column)``, as ``least_bytes`` is ``min``."""
    if kind is EngineKind.SQLITE:
        return func.max(column)
    return func.decode(func.max(func.encode(column, "hex").collate("C")), "hex", type_=column.type)


def contains(text_: str) -> str:
    """A LIKE pattern (with ``ESCAPE '\\'``) for the values that contain ``text_`` as it is."""
    return "%" + text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def spelling(c: Connection) -> Spelling:
    return Spelling(EngineKind(c.dialect.name))
