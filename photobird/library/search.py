"""Search the catalogue: a small query language turned into SQL. No image is looked at.

The language, as a user types it:

- words the models know: ``dog`` (every breed: labels carry their WordNet ancestors), ``golden retriever``,
  ``person``, ``cell phone``, ``beach``, ``kitchen``, ``people``; matched as a phrase first (``hot dog`` is one
  word), then with plurals and synonyms (``birds``, ``kids``, ``sofa``, ``tv``; ``words.Lexicon``);
- places where photos were taken (``paris``, ``california``, ``japan``: words of this library, from GPS);
- the names the user gave people (``anna``, ``anna smith``, ``anna -bob``): photos with a face of that person (a
  name the user gave wins over a word the models know); ``person:12`` is a person by id (named or not);
  ``person`` and ``people`` also find every photo with a face in it, first, as certain;
- ``bird`` is answered by the bird model at its threshold, and the user's own labels win: a photo marked "not
  bird" never matches, one marked "bird" always does;
- ``-word`` or ``not word`` excludes; several terms must all match (AND);
- a year (``2019``) or a month (``june 2021``, ``june``) filters on the EXIF date taken;
- a camera make the library has seen (``canon``, ``nikon``);
- anything else matches file and folder names (``holiday``, ``img_1234``).

Results are ranked by the models' confidence in the weakest matching term (a word's probability, the bird
model's score; a photo the user marked "bird" counts as certain), then by date taken, newest first (photos with
no date last), then by id. A query with no word and no "bird" in it has nothing to rank by (everything: the app's
opening view ``""``; only exclusions: ``not bird``, ``-dog``; only dates, cameras or names): newest first, then
by id.

The app's folder list narrows any query to the photos under a folder, at any depth (``folder=``: not typed, so
a path with spaces or quotes needs no escaping).

Results come a page at a time (``Searcher.page``; ``ids_and_scores`` as two lists), and ``Searcher.count`` says how
many there are: the first page of even "not bird" over 100,000 photos is read from an index in display order and
stops at its last row, so the app shows it at once, then the count, then fetches the rest in the background.
``search`` returns them all (the CLI, tests).
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import os
import re
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import select, text

from photobird.library.db.spelling import Spelling, contains, spelling
from photobird.library.schema import Person, PhotoState, Word
from photobird.library.store import Library
from photobird.models.words import BIRD_WORD, Lexicon, WordKind, load_lexicon

#: The probability a word needs to count as "in the photo": an ImageNet word's summed probability, and the
#: point every everyday head is calibrated to (``training/train_labels.py``; see training/README.md).
LABEL_THRESHOLD = 0.3

#: Words that also find every photo with a face in it.
FACE_WORDS = frozenset({"person", "people"})

#: The most words a phrase of the lexicon or of a place has ("hen of the woods mushroom", "united states of
#: america"): the parser tries phrases this long first.
MAX_PHRASE = 6
MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m} | {
    m.lower(): i for i, m in enumerate(calendar.month_abbr) if m
}
MONTHS["sept"] = 9


class TermKind(StrEnum):
    """What a term of a query is matched against."""

    LABEL = "label"  # a word the models found in the photo, ranked by their confidence
    PLACE = "place"  # where the photo was taken (from GPS): certain, so it does not rank
    PERSON = "person"  # a person the user named: the photos with their faces; certain, so it does not rank
    BIRD = "bird"  # the bird model and the user's bird labels
    DATE = "date"
    CAMERA = "camera"
    NAME = "name"  # file and folder names
    FOLDER = "folder"  # the photos under a folder (the app's folder list), not typed: ``Searcher``'s ``folder``


@dataclass(frozen=True)
class Term:
    kind: TermKind
    value: str = ""
    negated: bool = False
    date_range: tuple[dt.datetime, dt.datetime] | None = None
    month: int | None = None


class Hit(NamedTuple):
    photo_id: int
    score: float


@dataclass
class ParsedQuery:
    terms: list[Term] = field(default_factory=list)

    @property
    def positive(self) -> list[Term]:
        return [t for t in self.terms if not t.negated]

    @property
    def negative(self) -> list[Term]:
        return [t for t in self.terms if t.negated]


def parse(
    query: str,
    lexicon: Lexicon | None = None,
    cameras: frozenset[str] = frozenset(),
    library_words: frozenset[str] = frozenset(),
    people: frozenset[str] = frozenset(),
) -> ParsedQuery:
    """Turn what the user typed into terms (pure: no database). ``library_words``: words only this library has
    (places); ``people``: the names of its people, whole and word by word, lower case."""
    lexicon = lexicon if lexicon is not None else load_lexicon()
    tokens = re.findall(r'-?"[^"]*"|\S+', query.lower())
    parsed = ParsedQuery()
    i = 0
    negate_next = False
    while i < len(tokens):
        tok = tokens[i]
        negated = negate_next
        negate_next = False
        if tok in ("not", "-") and i + 1 < len(tokens):
            negate_next = True
            i += 1
            continue
        if tok.startswith("-") and len(tok) > 1:
            negated, tok = True, tok[1:]
        if re.fullmatch(r"person:\d+", tok):  # a person by id (an unnamed one: the People view's click)
            parsed.terms.append(Term(TermKind.PERSON, tok, negated))
            i += 1
            continue
        if tok.startswith('"') and tok.endswith('"') and len(tok) >= 2:  # a quoted phrase: names only
            parsed.terms.append(Term(TermKind.NAME, tok.strip('"'), negated))
            i += 1
            continue
        # a month, optionally followed by a year
        if tok in MONTHS:
            month = MONTHS[tok]
            if i + 1 < len(tokens) and re.fullmatch(r"\d{4}", tokens[i + 1]):
                year = int(tokens[i + 1])
                start = dt.datetime(year, month, 1)
                end = dt.datetime(year + (month == 12), month % 12 + 1, 1)
                parsed.terms.append(Term(TermKind.DATE, tok, negated, date_range=(start, end)))
                i += 2
            else:
                parsed.terms.append(Term(TermKind.DATE, tok, negated, month=month))
                i += 1
            continue
        if re.fullmatch(r"(18[3-9]\d|19\d\d|2[01]\d\d)", tok):
            year = int(tok)
            parsed.terms.append(
                Term(TermKind.DATE, tok, negated, date_range=(dt.datetime(year, 1, 1), dt.datetime(year + 1, 1, 1)))
            )
            i += 1
            continue
        # the longest run of tokens (up to ``MAX_PHRASE``) that names something the models know or a place
        matched = None
        for n in range(min(MAX_PHRASE, len(tokens) - i), 0, -1):
            phrase = " ".join([tok, *tokens[i + 1 : i + n]])
            if n > 1 and any(t.startswith("-") for t in tokens[i + 1 : i + n]):
                continue
            if phrase in people:
                matched = (phrase, n)
                break
            word = lexicon.resolve(phrase, library_words)
            if word:
                matched = (word, n)
                break
        if matched:
            word, n = matched
            if word in people:
                kind = TermKind.PERSON
            elif word == BIRD_WORD:
                kind = TermKind.BIRD
            elif word in library_words and not lexicon.knows(word):
                kind = TermKind.PLACE
            else:
                kind = TermKind.LABEL
            parsed.terms.append(Term(kind, word, negated))
            i += n
            continue
        if tok in cameras:
            parsed.terms.append(Term(TermKind.CAMERA, tok, negated))
        else:
            parsed.terms.append(Term(TermKind.NAME, tok, negated))
        i += 1
    return parsed


# --------------------------------------------------------------------------------------------------------------
# SQL
#
# A page (what the GUI shows first) is one SELECT over the photo rows ``p``, *driven* by a way in that comes in
# the order results are shown, so that SQLite stops at the LIMIT: the photos themselves, newest first
# (ix_photos_state_taken), when no term ranks them; else a ranked term's rows in confidence order (a word:
# ix_photo_labels_word_p_taken, ties newest first; "bird": the user's own birds merged with
# ix_bird_scores_model_score_photo); or, when it is the smallest way in, the few photos whose names contain a rare
# text (the trigram index) or a place's photos. Every other term is a check on each row walked. Several ranked
# words rank by the weakest, an order no index has: those are read from the smallest and sorted.
#
# A count, or every result at once, reads all the matches instead: there a ranked term is a set of photo ids read
# from its covering index (built once, then probed), the photos table is read only for a date, camera or name
# condition, "indexed" is "not among the (few) photos that are not", and "not bird" is all the indexed photos
# less the birds.

#: What the GUI asks for first: a few screens of thumbnails.
PAGE_SIZE = 200
#: A name term whose text is in fewer photo names than this can drive a query from the trigram index
#: (``photo_names``); a more common one is checked on each photo walked, and finds a page of matches quickly.
NAME_INDEX_MAX = 2000
#: A folder with fewer photos than this drives a query from the photos' path index; a larger one is checked on each
#: photo walked (a page of a folder with half the library in it is found in the first rows, newest first).
FOLDER_INDEX_MAX = 2000
_INDEXED = f"p.state = '{PhotoState.INDEXED}'"
#: The photos that are not indexed (pending, failed, missing): usually few; through ix_photos_state.
_NOT_INDEXED = f"SELECT id FROM photos WHERE state < '{PhotoState.INDEXED}' OR state > '{PhotoState.INDEXED}'"
#: The camera makes in the library, one index lookup each (a "loose index scan": the least make, then the least
#: after it, and so on), where ``SELECT DISTINCT`` reads every photo's (40 ms among a million, every few seconds).
_CAMERA_MAKES = (
    "WITH RECURSIVE m(make) AS (SELECT min(camera_make) FROM photos UNION ALL "
    "SELECT (SELECT min(camera_make) FROM photos WHERE camera_make > m.make) FROM m WHERE m.make IS NOT NULL) "
    "SELECT make FROM m WHERE make IS NOT NULL"
)
_USER_LABEL = "(SELECT u.label FROM user_labels u WHERE u.content_hash = p.content_hash)"
_USER_DECIDED = "u.label IN ('bird', 'not-bird')"


def _user_decided_ids(sp: Spelling) -> str:
    return f"SELECT q.id FROM user_labels u {sp.join} photos q ON q.content_hash = u.content_hash WHERE {_USER_DECIDED}"


def folder_range(folder: str) -> tuple[bytes, bytes]:
    """The stored paths (``FsPath``: the exact bytes) of the photos under ``folder``, at any depth, are the ones
    ``lo <= path < hi``: byte order is exact for any encoding, and "/photos/2019-old" is not under "/photos/2019"
    ("-" sorts before "/", and ``hi`` is "/photos/2019" followed by the byte after "/")."""
    sep = os.fsencode(os.sep)
    lo = os.fsencode(folder).rstrip(sep) + sep
    return lo, lo[:-1] + bytes([lo[-1] + 1])


def _and(conds: list[str]) -> str:
    return " AND ".join(conds) or "TRUE"


class _Binds:
    """Named parameters of one statement."""

    def __init__(self, sp: Spelling) -> None:
        self.params: dict[str, Any] = {}
        self.sp = sp  # how the statement's engine spells what engines spell differently

    def __call__(self, value: Any) -> str:
        name = f"v{len(self.params)}"
        self.params[name] = value
        return ":" + name


@dataclass(frozen=True)
class _Arm:
    """One way into a term's photos: ``FROM source`` (which joins ``photos p``), its conditions, the confidence
    of each row, and its photo's id and date taken, as the source's index has them where it has (a page in the
    index's order is its first rows)."""

    source: str
    where: tuple[str, ...]
    conf: str
    id: str = "p.id"
    taken: str = "p.taken_at"


@dataclass
class _Compiled:
    """A term as SQL on the photo row ``p``."""

    term: Term
    member: str  # true when the photo matches
    conf: str = "1.0"  # its confidence in the photo (NULL when it does not match)
    ranked: bool = False  # the confidence varies (a word, "bird"); otherwise it is 1
    arms: list[_Arm] = field(default_factory=list)  # how a query can be driven from it
    ids: str | None = None  # SELECT of the ids of the photos it matches (in any state), from indexes
    exact: bool = True  # ``arms`` and ``ids`` give exactly its photos (else ``member`` must check them too)
    estimate: str | None = None  # SELECT of about how many photos it matches (cheap)
    #: ``estimate`` that stops counting at ``{cap}`` (a page needs to know only whether a term is that large).
    estimate_upto: str | None = None
    size: int | None = None
    #: For a word: the join that gives its probability for the photo ``p`` (``{a}``: an alias), one lookup
    #: that both checks the photo has the word and ranks it, where ``member`` and ``conf`` would take two.
    join: str | None = None
    #: For a word: ``NOT member`` as the engine's planner reads an anti-join (``member`` is never NULL).
    absent: str | None = None
    #: ``member`` as one lookup per photo, for a page whose photos are walked in order and checked until it
    #: is full (``Spelling.probe``); None where ``member`` is that already.
    probe: str | None = None


@dataclass
class _Plan:
    """A parsed query compiled against the library as it is now."""

    positive: list[_Compiled]
    negative: list[_Compiled]
    driver: _Compiled | None  # what the query is driven from (None: the photos, newest first)
    binds: _Binds

    @property
    def ranked_others(self) -> list[_Compiled]:
        return [t for t in self.positive if t.ranked and t is not self.driver]


class Searcher:
    """Compiles parsed queries against one library; cheap to keep around (the GUI keeps one)."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self._cameras: tuple[float, frozenset[str], tuple[str, ...]] | None = None
        self._words: tuple[float, frozenset[str]] | None = None
        self._has_names: bool | None = None

    def _camera_makes(self) -> tuple[frozenset[str], tuple[str, ...]]:
        """(first words of the camera makes in the library, the makes), cached for a few seconds: searches are
        typed."""
        now = time.monotonic()
        if self._cameras is None or now - self._cameras[0] > 10:
            with self.library.connect() as c:
                makes = tuple(m for (m,) in c.execute(text(_CAMERA_MAKES)))
            self._cameras = (now, frozenset(m.lower().split()[0] for m in makes if m.strip()), makes)
        return self._cameras[1], self._cameras[2]

    def cameras(self) -> frozenset[str]:
        """First words of the camera makes in the library (cached for a few seconds: searches are typed)."""
        return self._camera_makes()[0]

    def library_words(self) -> frozenset[str]:
        """Words only this library has (its places), cached for a few seconds like the cameras."""
        now = time.monotonic()
        if self._words is None or now - self._words[0] > 10:
            with self.library.session() as s:
                words = frozenset(s.scalars(select(Word.word).where(Word.kind == WordKind.PLACE.value)))
            self._words = (now, words)
        return self._words[1]

    def people(self) -> dict[str, list[int]]:
        """Each way of naming a person (the whole name, and each of its words), lower case, to the people it names.
        Read at every search (a handful of rows): a person named a moment ago is found by the next search."""
        names: dict[str, list[int]] = {}
        with self.library.session() as s:
            for pid, name in s.execute(select(Person.id, Person.name).where(Person.name.is_not(None))):
                lowered = name.lower()
                for key in {lowered, *lowered.split()}:
                    names.setdefault(key, []).append(pid)
        return names

    def parse(self, query: str, folder: str | None = None) -> ParsedQuery:
        """``folder``: only the photos under it (at any depth), as if the query said so."""
        parsed = parse(
            query, cameras=self.cameras(), library_words=self.library_words(), people=frozenset(self.people())
        )
        if folder is not None:
            parsed.terms.append(Term(TermKind.FOLDER, folder))
        return parsed

    # the public calls -------------------------------------------------------------------------------------------

    def page(self, query: str, offset: int = 0, limit: int | None = PAGE_SIZE, folder: str | None = None) -> list[Hit]:
        """Results ``offset`` to ``offset + limit`` in rank order (``limit=None``: all the rest); ``folder``: only
        the photos under that folder, at any depth (the app's folder list)."""
        ids, scores = self.ids_and_scores(query, offset, limit, folder)
        return list(map(Hit, ids, scores))

    def ids_and_scores(
        self, query: str, offset: int = 0, limit: int | None = PAGE_SIZE, folder: str | None = None
    ) -> tuple[list[int], list[float]]:
        """``page`` as two plain lists, what the GUI's grid keeps: for 100,000 results, no object per result
        (building 100,000 tuples costs more than the query, mostly in the garbage collector)."""
        parsed = self.parse(query, folder)
        ids: list[int] = []
        scores: list[float] = []
        with self.library.connect() as c:
            spelling(c).searching(c, page=limit is not None)
            sql, params = self._rows_sql(c, parsed, offset, limit)
            add_id, add_score = ids.append, scores.append
            for row in spelling(c).rows(c, sql, params):
                add_id(row[0])
                add_score(row[1])
        return ids, scores

    def count(self, query: str, folder: str | None = None) -> int:
        """How many photos match: ``len(search(query, folder=folder))``, without fetching them."""
        parsed = self.parse(query, folder)
        with self.library.connect() as c:
            spelling(c).searching(c, page=False)
            return self._count(c, parsed)

    def search(self, query: str, limit: int | None = None, folder: str | None = None) -> list[Hit]:
        """Every match (or the first ``limit``), in rank order."""
        return self.page(query, 0, limit, folder)

    def explain(
        self, query: str, offset: int = 0, limit: int | None = PAGE_SIZE, folder: str | None = None
    ) -> list[str]:
        """The database's plan for ``page(query, offset, limit, folder)`` (SQLite's ``EXPLAIN QUERY PLAN``,
        PostgreSQL's ``EXPLAIN``), a line per step."""
        parsed = self.parse(query, folder)
        with self.library.connect() as c:
            spelling(c).searching(c, page=limit is not None)
            sql, params = self._rows_sql(c, parsed, offset, limit)
            return [row[-1] for row in c.execute(text(spelling(c).explain(sql)), params)]

    # compiling --------------------------------------------------------------------------------------------------

    def _has_name_index(self, c: Any) -> bool:
        if self._has_names is None:
            self._has_names = spelling(c).has_name_index(c)
        return self._has_names

    def _plan(self, c: Any, parsed: ParsedQuery, *, sets: bool, page: int | None = None) -> _Plan:
        """``sets``: for a query that reads every match (a count, all the results), not one that stops early;
        ``page``: else how many rows it stops after."""
        model = c.execute(text("SELECT id, threshold FROM model_versions WHERE active = TRUE LIMIT 1")).first()
        wanted = sorted({t.value for t in parsed.terms if t.kind in (TermKind.LABEL, TermKind.PLACE)})
        word_ids: dict[str, int] = {}
        if wanted:
            word_ids = {w: i for w, i in c.execute(select(Word.word, Word.id).where(Word.word.in_(wanted)))}
        b = _Binds(spelling(c))
        positive = [self._term(c, t, b, model, word_ids, sets) for t in parsed.positive]
        negative = [self._term(c, t, b, model, word_ids, sets) for t in parsed.negative]
        ways_in = [t for t in positive if t.arms]
        # a page decides between driving from a term and walking in order by whether page * photos < size**2:
        # its sizes are counted up to the least size that passes (a million photos' "dog" is 120,000 rows to
        # count, where 14,000 decide)
        cap = None
        if page is not None and ways_in:
            photos = int(c.execute(text("SELECT max(id) FROM photos")).scalar() or 0)
            cap = math.isqrt(page * photos) + 1

        def sized(t: _Compiled) -> int:
            if t.size is None:
                counting = t.estimate_upto.format(cap=b(cap)) if cap and t.estimate_upto else t.estimate
                t.size = int(c.execute(text(counting or "SELECT 0"), b.params).scalar() or 0)
            return t.size

        driver = None
        if len(ways_in) == 1:
            driver = ways_in[0]
        elif ways_in:  # drive from the smallest...
            driver = min(ways_in, key=sized)
            ranked = [t for t in positive if t.ranked]
            # ...unless the one ranked term, walked in confidence order, fills the page sooner: when the others
            # are independent of it, about one row in (photos / smallest) passes them ("italy dog")
            one_ranked = len(ranked) == 1 and ranked[0].arms and ranked[0] is not driver
            if cap is not None and one_ranked and sized(driver) >= cap:
                driver = ranked[0]
        # nothing ranks the photos (a place, a person, a camera, a name): they are shown newest first, and walking
        # the photos by date, checking each, passes about (photos / size) of them per match, where driving from
        # the term sorts every one of its photos ("paris" among a million: 4,000 rows, not 50,000)
        unranked = driver is not None and not any(t.ranked for t in positive)
        if cap is not None and unranked and (driver.estimate or driver.size is not None) and sized(driver) >= cap:
            driver = None
        return _Plan(positive, negative, driver, b)

    @staticmethod
    def _label(term: Term, b: _Binds, word_ids: dict[str, int]) -> _Compiled:
        w, t = b(word_ids.get(term.value, -1)), b(LABEL_THRESHOLD)
        label = f"photo_labels l WHERE l.photo_id = p.id AND l.word_id = {w} AND l.p >= {t}"
        ranked = term.kind == TermKind.LABEL
        return _Compiled(
            term,
            member=f"EXISTS (SELECT 1 FROM {label})",
            absent=f"NOT EXISTS (SELECT 1 FROM {label})",
            probe=b.sp.probe(f"SELECT 1 FROM {label}"),
            conf=f"(SELECT l.p FROM {label})" if ranked else "1.0",
            ranked=ranked,
            arms=[
                _Arm(
                    f"photo_labels d {b.sp.join} photos p ON p.id = d.photo_id",
                    (f"d.word_id = {w}", f"d.p >= {t}"),
                    "d.p" if ranked else "1.0",
                    "d.photo_id",
                    "d.taken_at",
                )
            ],
            ids=f"SELECT photo_id AS id FROM photo_labels WHERE word_id = {w} AND p >= {t}",
            estimate=f"SELECT count(*) FROM photo_labels WHERE word_id = {w} AND p >= {t}",
            estimate_upto=(
                f"SELECT count(*) FROM (SELECT 1 FROM photo_labels WHERE word_id = {w} AND p >= {t} LIMIT {{cap}}) AS f"
            ),
            join=(
                f"photo_labels {{a}} ON {{a}}.photo_id = p.id AND {{a}}.word_id = {w} AND {{a}}.p >= {t}"
                if ranked
                else None
            ),
        )

    @staticmethod
    def _with_faces(label: _Compiled, b: _Binds) -> _Compiled:
        """A people word: the photos with a face first (certain), then those the word heads see people in; the two
        arms never overlap."""
        has_face = "EXISTS (SELECT 1 FROM faces f WHERE f.photo_id = p.id)"
        face_ids = "SELECT DISTINCT photo_id AS id FROM faces"
        return _Compiled(
            label.term,
            member=f"({has_face} OR {label.member})",
            conf=f"(CASE WHEN {has_face} THEN 1.0 ELSE {label.conf} END)",
            ranked=True,
            arms=[
                _Arm(f"({face_ids}) d {b.sp.join} photos p ON p.id = d.id", (), "1.0"),
                *(_Arm(a.source, (*a.where, f"NOT {has_face}"), a.conf, a.id, a.taken) for a in label.arms),
            ],
            ids=f"{face_ids} UNION {label.ids}",
            estimate=f"SELECT (SELECT count(*) FROM ({face_ids}) AS f) + ({label.estimate})",
        )

    def _term(self, c: Any, term: Term, b: _Binds, model: Any, word_ids: dict[str, int], sets: bool) -> _Compiled:
        if term.kind == TermKind.LABEL and term.value in FACE_WORDS:
            return self._with_faces(self._label(term, b, word_ids), b)
        if term.kind in (TermKind.LABEL, TermKind.PLACE):
            return self._label(term, b, word_ids)
        if term.kind == TermKind.PERSON:
            named = self.people().get(term.value)
            if named is None:
                named = [int(term.value.partition(":")[2])] if term.value.startswith("person:") else [-1]
            people = ", ".join(b(pid) for pid in named)
            ids = f"SELECT DISTINCT photo_id AS id FROM faces WHERE person_id IN ({people})"
            faces = f"SELECT 1 FROM faces f WHERE f.photo_id = p.id AND f.person_id IN ({people})"
            return _Compiled(
                term,
                member=f"EXISTS ({faces})",
                probe=b.sp.probe(faces),
                arms=[_Arm(f"({ids}) d {b.sp.join} photos p ON p.id = d.id", (), "1.0")],
                ids=ids,
                estimate=f"SELECT count(*) FROM ({ids}) AS f",
            )
        if term.kind == TermKind.BIRD:
            return self._bird(term, b, model, sets)
        if term.kind == TermKind.FOLDER:
            return self._folder(c, term, b)
        if term.kind == TermKind.DATE:
            if term.date_range:
                lo, hi = (b(b.sp.date(d)) for d in term.date_range)
                return _Compiled(
                    term,
                    f"(p.taken_at >= {lo} AND p.taken_at < {hi})",
                    ids=f"SELECT id FROM photos WHERE taken_at >= {lo} AND taken_at < {hi}",
                )
            return _Compiled(term, f"{b.sp.month('p.taken_at')} = {b(term.month)}")
        if term.kind == TermKind.CAMERA:
            # the makes that start with the word, exactly as stored: ix_photos_camera_make can find them
            makes = [m for m in self._camera_makes()[1] if m.lower().startswith(term.value)]
            if not makes:
                return _Compiled(term, "FALSE")
            names = ", ".join(b(m) for m in makes)
            # (a page walks the photos by date and checks the make: "+" keeps SQLite off the make index there;
            # reading every match, the make's photos come from the index)
            compiled = _Compiled(
                term,
                f"{'p.camera_make' if sets else b.sp.unindexed('p.camera_make')} IN ({names})",
                ids=f"SELECT id FROM photos WHERE camera_make IN ({names})",
                estimate=f"SELECT count(*) FROM photos WHERE camera_make IN ({names})",
            )
            if sets:
                compiled.arms = [_Arm(f"({compiled.ids}) d {b.sp.join} photos p ON p.id = d.id", (), "1.0")]
            return compiled
        pat = b(contains(term.value))
        compiled = _Compiled(term, f"(p.name LIKE {pat} ESCAPE '\\' OR p.dir LIKE {pat} ESCAPE '\\')")
        if not term.negated and len(term.value) >= 3 and self._has_name_index(c):
            # a rare text: the trigram index has its few photos (the LIKE above keeps the exact meaning)
            found_ids, value, exact = b.sp.name_index(term.value)
            found = c.execute(
                text(f"SELECT count(*) FROM ({found_ids.format(q=':q')} LIMIT :n) AS f"),
                {"q": value, "n": NAME_INDEX_MAX},
            ).scalar()
            if found < NAME_INDEX_MAX:
                ids = found_ids.format(q=b(value))
                compiled.arms = [_Arm(f"({ids}) d {b.sp.join} photos p ON p.id = d.id", (), "1.0")]
                compiled.ids, compiled.exact, compiled.size = ids, exact, int(found)
        return compiled

    @staticmethod
    def _folder(c: Any, term: Term, b: _Binds) -> _Compiled:
        """The photos under a folder: a range of the unique index on their paths, which drives the query when the
        folder is small (a page of it would otherwise walk the whole library, newest first, to find it)."""
        lo, hi = folder_range(term.value)
        lo_p, hi_p = b(lo), b(hi)
        compiled = _Compiled(
            term,
            f"(p.path >= {lo_p} AND p.path < {hi_p})",
            ids=f"SELECT id FROM photos WHERE path >= {lo_p} AND path < {hi_p}",
        )
        found = c.execute(
            text("SELECT count(*) FROM (SELECT 1 FROM photos WHERE path >= :lo AND path < :hi LIMIT :n) AS f"),
            {"lo": lo, "hi": hi, "n": FOLDER_INDEX_MAX},
        ).scalar()
        if found < FOLDER_INDEX_MAX:
            compiled.arms = [_Arm(f"({compiled.ids}) d {b.sp.join} photos p ON p.id = d.id", (), "1.0")]
            compiled.size = int(found)
        return compiled

    @staticmethod
    def _bird(term: Term, b: _Binds, model: Any, sets: bool) -> _Compiled:
        """The user's own answer wins: their birds (confidence 1), then the model's birds among the photos they
        have not labelled; the two never overlap."""
        users = _Arm(
            f"user_labels d {b.sp.join} photos p ON p.content_hash = d.content_hash", ("d.label = 'bird'",), "1.0"
        )
        users_ids = (
            f"SELECT q.id AS id FROM user_labels d {b.sp.join} photos q ON q.content_hash = d.content_hash "
            "WHERE d.label = 'bird'"
        )
        users_n = "(SELECT count(*) FROM user_labels WHERE label = 'bird')"
        if model is None:
            member = "EXISTS (SELECT 1 FROM user_labels u WHERE u.content_hash = p.content_hash AND u.label = 'bird')"
            return _Compiled(
                term, member, f"(CASE WHEN {member} THEN 1.0 END)", True, [users], users_ids, True, f"SELECT {users_n}"
            )
        m, t = b(model[0]), b(model[1])
        score = f"bird_scores s WHERE s.photo_id = p.id AND s.model_id = {m} AND s.score >= {t}"
        undecided = (
            f"d.photo_id NOT IN ({_user_decided_ids(b.sp)})"  # built once: for a query that reads every bird
            if sets
            else f"NOT EXISTS (SELECT 1 FROM user_labels u WHERE u.content_hash = p.content_hash AND {_USER_DECIDED})"
        )
        by_model = _Arm(
            f"bird_scores d {b.sp.join} photos p ON p.id = d.photo_id",
            (f"d.model_id = {m}", f"d.score >= {t}", undecided),
            "d.score",
        )
        model_ids = (
            f"SELECT photo_id FROM bird_scores WHERE model_id = {m} AND score >= {t} "
            f"AND photo_id NOT IN ({_user_decided_ids(b.sp)})"
        )
        return _Compiled(
            term,
            member=(
                f"(CASE {_USER_LABEL} WHEN 'bird' THEN TRUE WHEN 'not-bird' THEN FALSE "
                f"ELSE EXISTS (SELECT 1 FROM {score}) END)"
            ),
            conf=(
                f"(CASE {_USER_LABEL} WHEN 'bird' THEN 1.0 WHEN 'not-bird' THEN NULL "
                f"ELSE (SELECT s.score FROM {score}) END)"
            ),
            ranked=True,
            arms=[users, by_model],
            ids=f"{users_ids} UNION ALL {model_ids}",
            estimate=f"SELECT (SELECT count(*) FROM bird_scores WHERE model_id = {m} AND score >= {t}) + {users_n}",
            estimate_upto=(
                f"SELECT (SELECT count(*) FROM (SELECT 1 FROM bird_scores WHERE model_id = {m} AND score >= {t} "
                f"LIMIT {{cap}}) AS f) + {users_n}"
            ),
        )

    @staticmethod
    def _conditions(plan: _Plan, *, sets: bool, page: bool, joined: tuple[_Compiled, ...] = ()) -> list[str]:
        """What each photo the driver yields must also satisfy (``joined`` terms are checked by their join).
        ``sets``: an excluded word or "bird" as a set of ids, built once, for a query that reads every match,
        rather than a check per row, for a page: building the set of a million photos' "person" (350,000) costs
        more than checking the few thousand rows a page goes through. ``page``: the other terms are checked
        photo by photo as the driver yields them (``probe``)."""
        conds = [_INDEXED]
        if plan.driver is not None and not plan.driver.exact:
            conds.append(plan.driver.member)
        conds += [
            t.probe if page and t.probe else t.member for t in plan.positive if t is not plan.driver and t not in joined
        ]
        anti_joins = plan.binds.sp.anti_joins
        for t in plan.negative:
            if sets and t.ranked and not anti_joins:
                conds.append(f"p.id NOT IN ({t.ids})")
            elif anti_joins and t.absent:
                conds.append(t.absent)
            else:  # (NULL is "no": a photo with no date or camera is not "in 2019", so it stays in "-2019")
                conds.append(f"NOT coalesce({t.member}, FALSE)")
        return conds

    def _rows_sql(self, c: Any, parsed: ParsedQuery, offset: int, limit: int | None) -> tuple[str, dict[str, Any]]:
        sets = limit is None
        plan = self._plan(c, parsed, sets=sets, page=None if limit is None else offset + limit)
        sp = plan.binds.sp
        if plan.driver is None:  # the photos, newest first: SQLite walks ix_photos_state_taken in order
            conds = self._conditions(plan, sets=sets, page=limit is not None)
            sql = f"SELECT p.id, 1.0 FROM photos p WHERE {_and(conds)} ORDER BY {sp.newest_first('p.taken_at')}, p.id"
        else:  # each arm walks its index in confidence order; SQLite merges them
            # the other words: joined, one lookup each for "has it" and "how surely"
            joined = tuple(t for t in plan.ranked_others if t.join)
            joins = "".join(f" {sp.join} {t.join.format(a=f'o{i}')}" for i, t in enumerate(joined))  # type: ignore[union-attr]
            others = [f"o{i}.p" for i in range(len(joined))] + [t.conf for t in plan.ranked_others if not t.join]
            conds = self._conditions(plan, sets=sets, page=limit is not None, joined=joined)
            order = f" ORDER BY score DESC, {sp.newest_first('taken_at')}, id"
            # (PostgreSQL merges arms in order only when each is cut to the page: it would join every match first)
            each = None if limit is None or len(plan.driver.arms) < 2 or not sp.cuts_each_arm else offset + limit
            selects = []
            for arm in plan.driver.arms:
                score = sp.least([arm.conf, *others]) if others else arm.conf
                select_ = (
                    f"SELECT {arm.id} AS id, {score} AS score, {arm.taken} AS taken_at "
                    f"FROM {arm.source}{joins} WHERE {_and([*arm.where, *conds])}"
                )
                selects.append(select_ if each is None else f"({select_}{order} LIMIT {plan.binds(each)})")
            sql = " UNION ALL ".join(selects) + order
        if limit is not None or offset:
            sql += sp.limit(None if limit is None else plan.binds(int(limit)), plan.binds(int(offset)))
        return sql, plan.binds.params

    def _count(self, c: Any, parsed: ParsedQuery) -> int:
        plan = self._plan(c, parsed, sets=True)
        driver = plan.driver
        b = plan.binds

        def scalar(sql: str) -> int:
            return int(c.execute(text(sql), b.params).scalar() or 0)

        # tests against sets of ids, (operator, SELECT of ids), and conditions that need the photo's row
        sets = [("NOT IN", t.ids) for t in plan.negative if t.ids]
        row = [f"NOT coalesce({t.member}, FALSE)" for t in plan.negative if not t.ids]

        def tested(column: str) -> list[str]:
            return [f"{column} {op} ({ids})" for op, ids in sets]

        if driver is None:
            if not plan.positive and not row:  # all the indexed photos, less those the excluded terms match
                n = scalar(f"SELECT count(*) FROM photos p WHERE {_INDEXED}")
                if sets and n:
                    union = " UNION ".join(f"SELECT id FROM ({ids}) AS s{i}" for i, (_, ids) in enumerate(sets))
                    n -= scalar(f"SELECT count(*) FROM ({union}) n WHERE n.id NOT IN ({_NOT_INDEXED})")
                return n
            # (dates and the like: SQLite finds them through ix_photos_state_taken)
            row += [t.member for t in plan.positive]
            return scalar(f"SELECT count(*) FROM photos p WHERE {_and([_INDEXED, *row, *tested('p.id')])}")
        for t in plan.positive:
            if t is not driver and t.ids and t.exact:
                sets.append(("IN", t.ids))
            elif t is not driver or not t.exact:
                row.append(t.member)
        if row:
            return scalar(
                f"SELECT count(*) FROM ({driver.ids}) n {b.sp.join} photos p ON p.id = n.id "
                f"WHERE {_and([_INDEXED, *row, *tested('n.id')])}"
            )
        return scalar(
            f"SELECT count(*) FROM ({driver.ids}) n WHERE {_and([f'n.id NOT IN ({_NOT_INDEXED})', *tested('n.id')])}"
        )


def search(library: Library, query: str, limit: int | None = None) -> list[Hit]:
    return Searcher(library).search(query, limit)
