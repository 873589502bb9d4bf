"""A photo's searchable words, written when it is indexed and rewritten from stored data when the labeller changes.

A photo's words come from its stored embedding (``models.labels.Labeller``: the ImageNet words and the everyday
heads) and from its GPS position (``media.places``: city, region, country). Both inputs are in the catalogue, so
when new word heads ship, or the vocabulary or the gazetteer changes, the indexer re-labels the library from
them (``relabel``) and never decodes a photo. ``photos.labels_key`` records which labeller wrote each photo's
words; a photo whose key is not the current one is due. Each chunk of photos is re-labelled in one transaction
(old words out, new words in, key set), so a crash or a cancel loses nothing and the next run goes on from
where it stopped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, select, update

from photobird.library.schema import Embedding, Photo, PhotoLabel, PhotoState, Word
from photobird.library.store import Library
from photobird.media import places
from photobird.models.labels import Labeller
from photobird.models.words import Lexicon, WordKind

#: Bump when the way place words are made changes (the gazetteer's own data is pinned by its package version).
PLACES_VERSION = "places-1"
#: A place is where the photo was taken, not a guess.
PLACE_P = 1.0


@dataclass(frozen=True)
class PhotoWords:
    """What one photo's labels are: words with probabilities, and where it was taken (for display)."""

    labels: dict[str, float]
    place: str | None = None
    place_words: tuple[str, ...] = ()
    place_names: frozenset[str] = frozenset()


@dataclass
class Labelling:
    """The current labeller and the words table, so a batch of photos' labels becomes rows in one pass."""

    labeller: Labeller
    lexicon: Lexicon
    key: str = field(init=False)
    word_ids: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.key = hashlib.sha256(f"{self.labeller.key}:{PLACES_VERSION}".encode()).hexdigest()

    def words_for(
        self, labels: Sequence[dict[str, float]], positions: Sequence[tuple[float | None, float | None]]
    ) -> list[PhotoWords]:
        """Each photo's words: what the labeller found in it (``Labeller.labels`` of its embedding) and its place."""
        where = places.places_of(positions)
        return [
            PhotoWords(
                labels=lab,
                place=p.display() if p else None,
                place_words=tuple(p.words()) if p else (),
                place_names=frozenset(p.names()) if p else frozenset(),
            )
            for lab, p in zip(labels, where, strict=True)
        ]

    def load_words(self, s: Any) -> None:
        self.word_ids = {w: i for i, w in s.execute(select(Word.id, Word.word))}

    def _ensure_words(self, s: Any, found: Iterable[tuple[str, WordKind, bool]]) -> None:
        """Add the words this catalogue has not seen yet (each with its kind, and hidden when never shown)."""
        new: dict[str, dict[str, Any]] = {}
        for word, kind, hidden in found:
            if word not in self.word_ids and word not in new:
                new[word] = {"word": word, "kind": kind.value, "hidden": hidden}
        if not new:
            return
        # another writer may have added some meanwhile (the app's relabel and a CLI index): read, then insert
        have = {w: i for i, w in s.execute(select(Word.id, Word.word).where(Word.word.in_(list(new))))}
        self.word_ids.update(have)
        missing = [row for w, row in new.items() if w not in have]
        if missing:
            s.execute(insert(Word), missing)
            for i, w in s.execute(select(Word.id, Word.word).where(Word.word.in_([r["word"] for r in missing]))):
                self.word_ids[w] = i

    def rows(
        self, s: Any, photo_ids: Sequence[int], words: Sequence[PhotoWords], taken: Sequence[dt.datetime | None]
    ) -> list[dict[str, Any]]:
        """``photo_labels`` rows for these photos (adding new words to the words table); ``taken``: each photo's
        date taken, as its row in ``photos`` has it (search's index orders a word's photos by it)."""
        kinds = self.lexicon.kinds
        self._ensure_words(
            s,
            [
                *((w, kinds.get(w, WordKind.THING), not self.lexicon.is_shown(w)) for pw in words for w in pw.labels),
                *((w, WordKind.PLACE, w not in pw.place_names) for pw in words for w in pw.place_words),
            ],
        )
        out = []
        for pid, pw, at in zip(photo_ids, words, taken, strict=True):
            out.extend(
                {"photo_id": pid, "word_id": self.word_ids[w], "p": p, "taken_at": at} for w, p in pw.labels.items()
            )
            out.extend(
                {"photo_id": pid, "word_id": self.word_ids[w], "p": PLACE_P, "taken_at": at}
                for w in pw.place_words
                if w not in pw.labels
            )
        return out


@dataclass(frozen=True)
class RelabelProgress:
    done: int
    total: int
    rate: float


def due(library: Library, labelling: Labelling, embedder_id: int) -> int:
    """How many indexed photos' words were written by another labeller."""
    with library.session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(Photo)
                .where(
                    Photo.state == PhotoState.INDEXED,
                    Photo.embedder_id == embedder_id,
                    (Photo.labels_key != labelling.key) | Photo.labels_key.is_(None),
                )
            )
            or 0
        )


def relabel(
    library: Library, labelling: Labelling, embedder_id: int, chunk: int = 2000
) -> Generator[RelabelProgress, None, int]:
    """Re-label every indexed photo whose words another labeller wrote, from its stored embedding and position.

    One transaction per chunk; yields progress after each (so the caller can pause or cancel between chunks).
    """
    total = due(library, labelling, embedder_id)
    done = 0
    t0 = time.perf_counter()
    while done < total:
        with library.session() as s:
            if not labelling.word_ids:
                labelling.load_words(s)
            rows = s.execute(
                select(Photo.id, Photo.latitude, Photo.longitude, Embedding.vector, Photo.taken_at)
                .join(Embedding, (Embedding.photo_id == Photo.id) & (Embedding.embedder_id == embedder_id))
                .where(
                    Photo.state == PhotoState.INDEXED,
                    Photo.embedder_id == embedder_id,
                    (Photo.labels_key != labelling.key) | Photo.labels_key.is_(None),
                )
                .order_by(Photo.id)
                .limit(chunk)
            ).all()
            if not rows:
                break
            ids = [r[0] for r in rows]
            vectors = np.frombuffer(b"".join(r[3] for r in rows), dtype="<f2").reshape(len(rows), -1)
            words = labelling.words_for(labelling.labeller.labels(vectors), [(r[1], r[2]) for r in rows])
            s.execute(delete(PhotoLabel).where(PhotoLabel.photo_id.in_(ids)))
            label_rows = labelling.rows(s, ids, words, [r[4] for r in rows])
            if label_rows:
                s.execute(insert(PhotoLabel), label_rows)
            s.execute(
                update(Photo),
                [
                    {"id": pid, "labels_key": labelling.key, "place": pw.place}
                    for pid, pw in zip(ids, words, strict=True)
                ],
            )
        done += len(rows)
        yield RelabelProgress(done, total, done / max(time.perf_counter() - t0, 1e-9))
    return done
