"""What to search instead when a search finds nothing: the words of this library closest to what was typed.

A typed word the query language does not know ("brid") is matched against file and folder names, and often finds
nothing; the library's own vocabulary (the words its photos have, "bird", its places, the names of its people,
its cameras) likely has what was meant. Closeness is ``difflib``'s similarity ratio, which forgives a swapped, a
missing or an extra letter. A suggestion is the whole query with that one word replaced, and is offered only
when it finds photos (in the same folder, when the search was narrowed to one).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from sqlalchemy import exists, select

from photobird.library.schema import Photo, PhotoLabel, PhotoState, Word
from photobird.library.search import LABEL_THRESHOLD, Searcher, TermKind
from photobird.models.words import BIRD_WORD

#: How many suggestions are offered.
SUGGESTIONS = 3
#: How alike a word of the library must be to what was typed (``difflib``'s ratio: "brid"/"bird" is 0.75).
CLOSENESS = 0.6


@dataclass(frozen=True)
class Suggestion:
    word: str  # the library's word, as shown
    query: str  # the search with the typed word replaced by it, as it is run


def vocabulary(searcher: Searcher) -> set[str]:
    """Every word that finds photos in this library: the words of its indexed photos that a search finds them by
    (shown words, not the hidden ancestors), "bird", the names of its people and its cameras."""
    library = searcher.library
    found = (
        select(PhotoLabel.photo_id)
        .join(Photo, Photo.id == PhotoLabel.photo_id)
        .where(PhotoLabel.word_id == Word.id, PhotoLabel.p >= LABEL_THRESHOLD, Photo.state == PhotoState.INDEXED)
    )
    with library.session() as s:
        words = set(s.scalars(select(Word.word).where(Word.hidden.is_(False), exists(found))))
    return words | {BIRD_WORD} | set(searcher.people()) | set(searcher.cameras())


def suggest(searcher: Searcher, query: str, folder: str | None = None, limit: int = SUGGESTIONS) -> list[Suggestion]:
    """Up to ``limit`` searches like ``query`` that find photos (under ``folder``, when given), the closest first:
    each replaces one word the query language did not recognise (matched only against file names) with a word
    of the library. None when every word was recognised (then nothing was misspelt: there are no such photos)."""
    unknown = [t.value for t in searcher.parse(query).positive if t.kind == TermKind.NAME and " " not in t.value]
    if not unknown:
        return []
    words = vocabulary(searcher)
    tokens = re.findall(r'-?"[^"]*"|\S+', query.lower())
    candidates: list[tuple[float, str, str]] = []
    for typed in dict.fromkeys(unknown):
        for word in difflib.get_close_matches(typed, words, n=limit, cutoff=CLOSENESS):
            replaced = " ".join(word if t == typed else t for t in tokens)
            candidates.append((difflib.SequenceMatcher(None, typed, word).ratio(), word, replaced))
    out: list[Suggestion] = []
    for _, word, replaced in sorted(candidates, key=lambda c: -c[0]):
        if len(out) < limit and searcher.count(replaced, folder) > 0:
            out.append(Suggestion(word, replaced))
    return out
