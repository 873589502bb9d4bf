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

import collections
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from photobird.library.db.engines import EngineKind
from photobird.library.store import Library

#: With nothing to claim while other indexers hold the last photos, how long to wait before looking again (one
#: that dies leaves its photos to the others).
CLAIM_AGAIN_SECONDS = 0.5

T = TypeVar("T")


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


class Feeder(Generic[T]):
    """Hands a pipeline its work one item at a time, claiming the next few when the last are handed out.

    ``claim`` returns the next items, [] when every item left is held by other processes for now (they may stop:
    it is asked again after ``CLAIM_AGAIN_SECONDS``), or None when nothing is left (``exhausted``)."""

    def __init__(self, claim: Callable[[], list[T] | None]) -> None:
        self._claim = claim
        self._queue: collections.deque[T] = collections.deque()
        self._again = 0.0
        self.exhausted = False

    def next(self) -> T | None:
        """The next item, or None when there is none now (``exhausted``, or others hold what is left)."""
        while not self._queue:
            if self.exhausted or time.perf_counter() < self._again:
                return None
            got = self._claim()
            if got is None:
                self.exhausted = True
                return None
            if not got:
                self._again = time.perf_counter() + CLAIM_AGAIN_SECONDS
                return None
            self._queue.extend(got)
        return self._queue.popleft()

    def put_back(self, items: Iterable[T]) -> None:
        """Items to hand out again, first (a photo to be read after all)."""
        self._queue.extendleft(reversed(list(items)))
        if self._queue:
            self.exhausted = False

    def __len__(self) -> int:
        """How many claimed items wait to be handed out."""
        return len(self._queue)
