"""Suggestions for a search that finds nothing, over a real catalogue (SQLite and PostgreSQL) written row by row."""

from __future__ import annotations

import pytest

from photobird.library.schema import Word
from photobird.library.search import Searcher
from photobird.library.store import Library
from photobird.library.suggest import Suggestion, suggest, vocabulary

from .conftest import Catalogue

pytestmark = pytest.mark.both_engines


def test_a_misspelt_word_gets_the_closest_words_of_the_library(library: Library, catalogue: Catalogue) -> None:
    searcher = Searcher(library)
    with library.session() as s:  # words no photo has (yet) are never suggested: they would find nothing
        s.add_all([Word(word="dolphin"), Word(word="terrace", hidden=True)])
    assert {"dog", "terrier", "golden retriever", "paris", "bird", "canon"} <= vocabulary(searcher)
    assert not {"dolphin", "terrace"} & vocabulary(searcher)
    for typed, meant in [("brid", "bird"), ("dgo", "dog"), ("terier", "terrier"), ("canno", "canon")]:
        assert searcher.search(typed) == [], typed  # (no file is named so: the search finds nothing)
        found = suggest(searcher, typed)
        assert found and found[0] == Suggestion(meant, meant), (typed, found)
        assert len(found) <= 3 and all(searcher.count(s.query) > 0 for s in found), typed
    # one word of several replaced, the rest of the search kept as typed
    assert suggest(searcher, "Pariss 2019 -cat")[0] == Suggestion("paris", "paris 2019 -cat")
    assert suggest(searcher, "dolphn") == [] and suggest(searcher, "xqzw") == []  # nothing close enough


def test_no_suggestion_when_every_word_is_known_or_the_folder_has_none(library: Library, catalogue: Catalogue) -> None:
    searcher = Searcher(library)
    assert suggest(searcher, "dog 1850") == []  # nothing misspelt: simply no such photos
    assert suggest(searcher, "brid", folder="/nowhere") == []  # "bird" finds nothing there either
    assert suggest(searcher, "brid", folder="/photos/misc")[0].query == "bird"
