"""The words people type: phrases first, then plurals and synonyms; generic ancestors searchable but never shown;
every word that can be shown finds itself."""

from __future__ import annotations

import numpy as np
import pytest

from photobird.library.search import parse
from photobird.models.words import BIRD_WORD, WordKind, load_everyday, load_lexicon, load_vocabulary


def finds(typed: str, word: str) -> bool:
    """Whether typing ``typed`` finds photos the everyday word ``word`` is written for: it resolves to the word
    itself or to a word the word's probability also counts for (``Lexicon.lifts``)."""
    lexicon = load_lexicon()
    got = lexicon.resolve(typed)
    return got == word or got in lexicon.lifts.get(word, ())


@pytest.mark.parametrize("phrase", ["hot dog", "teddy bear", "stop sign", "cell phone", "dining table", "living room"])
def test_a_phrase_is_one_word_not_an_and_of_two(phrase: str) -> None:
    terms = parse(phrase).terms
    assert [(t.kind, t.value) for t in terms] == [("label", phrase)]
    assert [t.value for t in parse(f"{phrase} -person").terms] == [phrase, "person"]


@pytest.mark.parametrize(
    ("typed", "word"),
    [
        ("persons", "person"),
        ("humans", "person"),
        ("phone", "cell phone"),
        ("phones", "cell phone"),
        ("cellphone", "cell phone"),
        ("mobile phone", "cell phone"),
        ("smartphone", "cell phone"),
        ("tv", "tv"),
        ("television", "tv"),
        ("sofa", "couch"),
        ("couches", "couch"),
        ("kids", "child"),
        ("children", "child"),
        ("kid", "child"),
        ("dogs", "dog"),
        ("puppies", "dog"),
        ("buses", "bus"),
        ("bikes", "bicycle"),
        ("cups", "cup"),
        ("fridge", "refrigerator"),
        ("doughnuts", "donut"),
        ("beaches", "beach"),
        ("ocean", "sea"),
        ("hair dryer", "hair drier"),
        ("sports balls", "sports ball"),
        ("ball", "sports ball"),
        ("vehicle", "car"),
        ("vehicles", "bus"),
        ("food", "pizza"),
        ("fruit", "banana"),
        ("animal", "dog"),
        ("furniture", "chair"),
        ("room", "kitchen"),
    ],
)
def test_plurals_and_synonyms(typed: str, word: str) -> None:
    assert finds(typed, word), (typed, load_lexicon().resolve(typed))


def test_people_is_its_own_word_and_persons_is_a_person() -> None:
    lexicon = load_lexicon()
    assert lexicon.resolve("people") == "people"  # a group: its own head (captions), not the plural of person
    assert lexicon.resolve("person") == "person"
    assert lexicon.kinds["people"] == WordKind.SCENE
    assert lexicon.kinds["person"] == WordKind.THING


def test_eagle_finds_every_eagle_class() -> None:
    v = load_vocabulary()
    lexicon = load_lexicon()
    assert lexicon.resolve("eagle") == "eagle"
    eagle = {v.class_names[i] for i in np.flatnonzero(v.matrix[:, v.word_index["eagle"]])}
    assert {"bald eagle", "bird of prey"} <= eagle  # ImageNet's "kite" is where golden eagles end up
    assert lexicon.resolve("eagles") == "eagle"
    # and "kite" is the toy, not the raptor
    assert "kite" not in v.word_index and lexicon.kinds["kite"] == WordKind.THING


@pytest.mark.parametrize("word", ["vertebrate", "craft", "placental", "self-propelled vehicle", "establishment"])
def test_generic_ancestors_are_searchable_but_never_shown(word: str) -> None:
    lexicon = load_lexicon()
    assert lexicon.resolve(word) == word
    assert not lexicon.is_shown(word)
    assert lexicon.shown({word: 0.9, "dog": 0.9}, 0.3) == {"dog": 0.9}


def test_every_word_that_can_be_shown_finds_itself() -> None:
    """What the app shows for a photo is a stored word that is not hidden: typed back, it must be that word."""
    lexicon = load_lexicon()
    shown = [w for w in lexicon.kinds if lexicon.is_shown(w)]
    assert len(shown) > 500
    wrong = {w: lexicon.resolve(w) for w in shown if lexicon.resolve(w) != w}
    assert not wrong, list(wrong.items())[:10]
    # and a query of it is one term, of that word (so "hot dog" is not "hot" and "dog")
    for w in shown:
        terms = parse(w).terms
        assert len(terms) == 1 and terms[0].value == w and terms[0].kind in ("label", "bird"), (w, terms)


def test_names_that_cannot_be_typed_are_not_shown() -> None:
    vocabulary = load_vocabulary()
    assert all("(" not in n and "/" not in n and "," not in n for n in vocabulary.class_names)
    assert vocabulary.class_names[21] == "bird of prey" and vocabulary.class_names[919] == "street sign"


def test_a_synonym_is_not_shown_beside_its_word() -> None:
    lexicon = load_lexicon()
    assert lexicon.shown({"tv": 0.8, "television": 0.8, "electronics": 0.8}, 0.3) == {"tv": 0.8, "electronics": 0.8}
    assert lexicon.shown({"television": 0.8}, 0.3) == {"television": 0.8}  # alone it is what the photo has
    assert lexicon.shown({"tv": 0.2}, 0.3) == {}  # below what a search needs: a shown word must find the photo


def test_everyday_words_are_consistent() -> None:
    everyday = load_everyday()
    vocabulary = load_vocabulary()
    words = [e.word for e in everyday]
    assert len(words) == len(set(words))
    things = [e for e in everyday if e.coco]
    assert len(things) == 80 and things[0].word == "person" and BIRD_WORD in words
    for e in everyday:
        assert (e.coco is None) != (e.caption is None), e.word
        for c in e.imagenet:
            assert c in vocabulary.class_names, (e.word, c)
    gender = {"man", "men", "woman", "women", "boy", "girl", "male", "female", "lady", "guy"}
    assert not gender & {w for e in everyday for w in (e.word, *e.synonyms)}
