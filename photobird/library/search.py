"""Search the catalogue: a small query language turned into one SQL query. No image is looked at.

The language, as a user types it:

- words the models know: ``dog`` (every breed: labels carry their WordNet ancestors), ``golden retriever``,
  with plurals and common synonyms (``birds``, ``puppies``, ``aeroplane``, ``bike``);
- ``bird`` is answered by the bird model at its threshold, and the user's own labels win: a photo marked "not
  bird" never matches, one marked "bird" always does;
- ``-word`` or ``not word`` excludes; several terms must all match (AND);
- a year (``2019``) or a month (``june 2021``, ``june``) filters on the EXIF date taken;
- a camera make the library has seen (``canon``, ``nikon``);
- anything else matches file and folder names (``holiday``, ``img_1234``).

Results are ranked by the models' confidence in the weakest matching term, then by date.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy import (
    Float,
    and_,
    cast,
    extract,
    func,
    literal,
    not_,
    or_,
    select,
    union,
)
from sqlalchemy.sql import Select

from photobird.library.schema import BirdScore, ModelVersion, Photo, PhotoLabel, PhotoState, UserLabel, Word
from photobird.library.store import Library
from photobird.models.words import load_vocabulary, normalize_word

#: Default probability a backbone word needs to count as "in the photo" (see training/README.md).
LABEL_THRESHOLD = 0.3
BIRD_WORD = "bird"

SYNONYMS = {
    "puppy": "dog",
    "pup": "dog",
    "doggy": "dog",
    "doggie": "dog",
    "hound": "hound dog",
    "kitten": "cat",
    "kitty": "cat",
    "pussycat": "cat",
    "birdie": "bird",
    "birdy": "bird",
    "fowl": "bird",
    "aeroplane": "airplane",
    "plane": "airplane",
    "jet": "airplane",
    "aircraft": "aircraft",
    "bike": "bicycle",
    "motorbike": "motorcycle",
    "automobile": "car",
    "auto": "car",
    "tv": "television",
    "telly": "television",
    "cellphone": "cellular telephone",
    "mobile phone": "cellular telephone",
    "smartphone": "cellular telephone",
    "phone": "telephone",
    "sofa": "studio couch",
    "couch": "studio couch",
    "veggie": "vegetable",
    "veg": "vegetable",
    "ocean": "seashore",
    "beach": "seashore",
    "sea": "seashore",
    "bunny": "rabbit",
    "teddy": "teddy bear",
    "lorry": "truck",
    "ship": "ship",
    "boat": "boat",
}
IRREGULAR = {
    "geese": "goose",
    "mice": "mouse",
    "children": "child",
    "people": "person",
    "men": "man",
    "women": "woman",
    "teeth": "tooth",
    "feet": "foot",
    "oxen": "ox",
    "wolves": "wolf",
    "knives": "knife",
    "leaves": "leaf",
    "loaves": "loaf",
    "calves": "calf",
    "halves": "half",
    "shelves": "shelf",
    "fish": "fish",
    "sheep": "sheep",
    "deer": "deer",
    "cacti": "cactus",
    "fungi": "fungus",
}
MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m} | {
    m.lower(): i for i, m in enumerate(calendar.month_abbr) if m
}
MONTHS["sept"] = 9


@dataclass(frozen=True)
class Term:
    kind: str  # "label" | "bird" | "date" | "camera" | "name"
    value: str = ""
    negated: bool = False
    date_range: tuple[dt.datetime, dt.datetime] | None = None
    month: int | None = None


@dataclass(frozen=True)
class Hit:
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


@lru_cache(maxsize=1)
def known_words() -> frozenset[str]:
    return frozenset(load_vocabulary().words) | {BIRD_WORD}


def singular_forms(word: str) -> list[str]:
    """Candidate singulars of ``word``, most likely first (the caller keeps the first it knows)."""
    out = [word]
    if word in IRREGULAR:
        out.append(IRREGULAR[word])
    if word.endswith("ies") and len(word) > 4:
        out.append(word[:-3] + "y")
    if word.endswith("ves") and len(word) > 4:
        out += [word[:-3] + "f", word[:-3] + "fe"]
    if word.endswith("es") and len(word) > 3:
        out.append(word[:-2])
    if word.endswith("s") and not word.endswith("ss") and len(word) > 2:
        out.append(word[:-1])
    return out


def resolve_word(phrase: str, vocabulary: frozenset[str]) -> str | None:
    """The vocabulary word a typed phrase means (plural, synonym), or None."""
    phrase = normalize_word(phrase)
    words = phrase.split(" ")
    head, last = words[:-1], words[-1]
    for cand_last in singular_forms(last):
        cand = " ".join([*head, cand_last])
        cand = SYNONYMS.get(cand, cand)
        if cand in vocabulary:
            return cand
    return None


def parse(query: str, vocabulary: frozenset[str] | None = None, cameras: frozenset[str] = frozenset()) -> ParsedQuery:
    """Turn what the user typed into terms (pure: no database)."""
    vocabulary = vocabulary if vocabulary is not None else known_words()
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
        if tok.startswith('"') and tok.endswith('"') and len(tok) >= 2:  # a quoted phrase: names only
            parsed.terms.append(Term("name", tok.strip('"'), negated))
            i += 1
            continue
        # a month, optionally followed by a year
        if tok in MONTHS:
            month = MONTHS[tok]
            if i + 1 < len(tokens) and re.fullmatch(r"\d{4}", tokens[i + 1]):
                year = int(tokens[i + 1])
                start = dt.datetime(year, month, 1)
                end = dt.datetime(year + (month == 12), month % 12 + 1, 1)
                parsed.terms.append(Term("date", tok, negated, date_range=(start, end)))
                i += 2
            else:
                parsed.terms.append(Term("date", tok, negated, month=month))
                i += 1
            continue
        if re.fullmatch(r"(18[3-9]\d|19\d\d|2[01]\d\d)", tok):
            year = int(tok)
            parsed.terms.append(
                Term("date", tok, negated, date_range=(dt.datetime(year, 1, 1), dt.datetime(year + 1, 1, 1)))
            )
            i += 1
            continue
        # the longest run of tokens (up to 4) that names something the models know
        matched = None
        for n in range(min(4, len(tokens) - i), 0, -1):
            phrase = " ".join([tok, *tokens[i + 1 : i + n]])
            if n > 1 and any(t.startswith("-") for t in tokens[i + 1 : i + n]):
                continue
            word = resolve_word(phrase, vocabulary)
            if word:
                matched = (word, n)
                break
        if matched:
            word, n = matched
            parsed.terms.append(Term("bird" if word == BIRD_WORD else "label", word, negated))
            i += n
            continue
        if tok in cameras:
            parsed.terms.append(Term("camera", tok, negated))
        else:
            parsed.terms.append(Term("name", tok, negated))
        i += 1
    return parsed


# --------------------------------------------------------------------------------------------------------------
# SQL


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class Searcher:
    """Compiles parsed queries against one library; cheap to keep around (the GUI keeps one)."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self._cameras: tuple[float, frozenset[str]] | None = None

    def cameras(self) -> frozenset[str]:
        """First words of the camera makes in the library (cached for a few seconds: searches are typed)."""
        now = time.monotonic()
        if self._cameras is None or now - self._cameras[0] > 10:
            with self.library.session() as s:
                makes = s.scalars(select(Photo.camera_make).where(Photo.camera_make.is_not(None)).distinct())
                self._cameras = (now, frozenset(m.lower().split()[0] for m in makes if m.strip()))
        return self._cameras[1]

    def _term_query(self, term: Term, model: ModelVersion | None, word_ids: dict[str, int]) -> Select:
        """(photo_id, conf) of the photos a term matches."""
        if term.kind == "bird":
            user_bird = (
                select(Photo.id.label("photo_id"), literal(1.0, Float).label("conf"))
                .join(UserLabel, UserLabel.content_hash == Photo.content_hash)
                .where(UserLabel.label == "bird")
            )
            if model is None:
                return user_bird
            not_bird = (
                select(Photo.id)
                .join(UserLabel, UserLabel.content_hash == Photo.content_hash)
                .where(UserLabel.label == "not-bird")
            )
            by_model = select(BirdScore.photo_id.label("photo_id"), BirdScore.score.label("conf")).where(
                BirdScore.model_id == model.id, BirdScore.score >= model.threshold, BirdScore.photo_id.not_in(not_bird)
            )
            u = union(by_model, user_bird).subquery()
            return select(u.c.photo_id, func.max(u.c.conf).label("conf")).group_by(u.c.photo_id)
        if term.kind == "label":
            wid = word_ids.get(term.value, -1)
            return select(PhotoLabel.photo_id.label("photo_id"), PhotoLabel.p.label("conf")).where(
                PhotoLabel.word_id == wid, PhotoLabel.p >= LABEL_THRESHOLD
            )
        if term.kind == "date":
            if term.date_range:
                cond = and_(Photo.taken_at >= term.date_range[0], Photo.taken_at < term.date_range[1])
            else:
                cond = extract("month", Photo.taken_at) == term.month
            return select(Photo.id.label("photo_id"), literal(1.0, Float).label("conf")).where(cond)
        if term.kind == "camera":
            cond = func.lower(Photo.camera_make).like(term.value + "%")
            return select(Photo.id.label("photo_id"), literal(1.0, Float).label("conf")).where(cond)
        pat = _like(term.value)
        cond = or_(Photo.name.like(pat, escape="\\"), Photo.dir.like(pat, escape="\\"))
        return select(Photo.id.label("photo_id"), literal(1.0, Float).label("conf")).where(cond)

    def compile(self, parsed: ParsedQuery, limit: int | None = None) -> Select:
        with self.library.session() as s:
            model = s.scalar(select(ModelVersion).where(ModelVersion.active.is_(True)))
            wanted = [t.value for t in parsed.terms if t.kind == "label"]
            word_ids = dict(s.execute(select(Word.word, Word.id).where(Word.word.in_(wanted))).all()) if wanted else {}
        positives = parsed.positive
        if positives:
            subs = [self._term_query(t, model, word_ids).subquery(f"t{i}") for i, t in enumerate(positives)]
            first = subs[0]
            conf = first.c.conf
            q = select(Photo.id, first.c.conf).select_from(first).join(Photo, Photo.id == first.c.photo_id)
            for sub in subs[1:]:
                q = q.join(sub, sub.c.photo_id == Photo.id)
                conf = func.min(conf, sub.c.conf)
            q = q.with_only_columns(Photo.id, cast(conf, Float).label("score"))
        else:
            q = select(Photo.id, literal(1.0, Float).label("score"))
        q = q.where(Photo.state == PhotoState.INDEXED)
        for i, t in enumerate(parsed.negative):
            neg = self._term_query(t, model, word_ids).subquery(f"n{i}")
            q = q.where(not_(Photo.id.in_(select(neg.c.photo_id))))
        q = q.order_by(cast(q.selected_columns.score, Float).desc(), Photo.taken_at.desc(), Photo.id)
        if limit:
            q = q.limit(limit)
        return q

    def search(self, query: str, limit: int | None = None) -> list[Hit]:
        parsed = parse(query, cameras=self.cameras())
        q = self.compile(parsed, limit)
        with self.library.session() as s:
            return [Hit(int(pid), float(score)) for pid, score in s.execute(q)]


def search(library: Library, query: str, limit: int | None = None) -> list[Hit]:
    return Searcher(library).search(query, limit)
