"""What long work reports: a phase, how much of it is committed, and a summary at the end.

One record type for every phase of bringing a library up to date (scanning, re-labelling, indexing, the later
analyzers, watching), so the command line's bar and the app's status line read them all the same way.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any


class Phase(enum.StrEnum):
    SCANNING = "scanning"
    LABELLING = "labelling"  # re-labelling photos from stored data (new word heads): no decoding
    INDEXING = "indexing"
    ANALYSING = "analysing"  # the analyzers after recognition (faces) on photos already searchable
    FINISHING = "finishing"
    DONE = "done"
    WATCHING = "watching"  # up to date, waiting for the watcher's next change (``watch``)


@dataclass(frozen=True)
class Progress:
    phase: Phase
    done: int
    total: int
    current: str | None = None
    rate: float = 0.0  # photos per second
    failed: int = 0
    summary: IndexSummary | None = None


@dataclass
class IndexSummary:
    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    relinked: int = 0
    relabelled: int = 0
    #: Photos the later analyzers (faces, and looks for photos indexed before they were kept) went through.
    analysed: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        """Whether the pass changed what a search finds (a rescan that found nothing new did not)."""
        return any((self.indexed, self.removed, self.failed, self.relinked, self.relabelled, self.analysed))

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 2)}
