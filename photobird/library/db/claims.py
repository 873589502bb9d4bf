"""Claiming work: which photos this process analyses, when several processes work through one catalogue.

On PostgreSQL any number of indexers (on one machine or several) share the pending photos. Each claims a few at
a time in a transaction on a connection of its own: ``SELECT ... FOR UPDATE SKIP LOCKED`` locks the photos' rows
for it and passes over those another transaction holds, so no two processes get the same photo. The claim stays
open while its photos are decoded and run through the networks, and their results are written and committed in
that same transaction: a photo is done (its results in, its state moved on) and given up in one step. A process
that dies leaves its open claims to the server, which rolls them back when the connection drops, and its photos
are pending and free again for the next claim.

On SQLite one indexer at a time holds the library (``store.Library.indexer_lock``): claiming is a plain read,
and the results are written in transactions of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from photobird.library.db.engines import EngineKind
from photobird.library.store import Library


@dataclass
class Claim:
    """Rows claimed together, and (PostgreSQL) the transaction that holds them until their results are in."""

    rows: list[Any]
    #: The claim's transaction, to write its results in (``commit`` ends it); None on SQLite, where nothing is
    #: held and results are written in a transaction of their own.
    session: Session | None = None

    def commit(self) -> None:
        """Commit what was written in the claim, which gives its rows up."""
        if self.session is not None:
            self.session.commit()
            self.close()

    def close(self) -> None:
        """Give the rows up, writing nothing (a claim abandoned: they are free for the next one)."""
        if self.session is not None:
            session, self.session = self.session, None
            session.rollback()
            session.close()


def claim(library: Library, query: Select[Any], of: Any) -> Claim:
    """The rows ``query`` selects that no other process holds (``of``: the table, or mapped class, whose rows
    are locked), locked for this process in a transaction of their own (PostgreSQL); a plain read on SQLite."""
    if library.kind is EngineKind.SQLITE:
        with library.session() as s:
            return Claim(list(s.execute(query).all()))
    s = library.Session()
    try:
        rows = list(s.execute(query.with_for_update(skip_locked=True, of=of)).all())
    except BaseException:
        s.close()
        raise
    if not rows:
        s.close()
        return Claim([])
    return Claim(rows, s)


def any_left(library: Library, query: Select[Any]) -> bool:
    """Whether ``query`` selects some row now, claimed or not: with nothing left to claim, whether other
    processes still hold work (which falls to this one if they die) or everything is done."""
    with library.session() as s:
        return bool(s.scalar(select(query.limit(1).exists())))
