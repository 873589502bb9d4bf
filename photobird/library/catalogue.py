"""Reading and correcting the catalogue: what is known about a photo, user labels, errors, statistics.

The CLI and the app read the catalogue through these functions (never with SQL of their own), so both always
show the same thing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select

from photobird.library import keepsake, people, scan
from photobird.library.db.size import catalogue_bytes
from photobird.library.db.upsert import upsert
from photobird.library.schema import (
    BirdScore,
    Folder,
    ModelVersion,
    Photo,
    PhotoAnalysis,
    PhotoEdit,
    PhotoLabel,
    PhotoState,
    UserLabel,
    Word,
    utcnow,
)
from photobird.library.search import FACE_WORDS, LABEL_THRESHOLD, Searcher
from photobird.library.store import Library
from photobird.media.exif import camera_name
from photobird.models.words import BIRD_WORD, WordKind, load_lexicon

USER_LABELS = ("bird", "not-bird")


class CatalogueError(Exception):
    pass


@dataclass(frozen=True)
class PhotoBrief:
    """What the grid needs for one photo."""

    id: int
    path: str
    content_hash: str | None
    state: str
    bird: float | None  # the active model's score
    is_bird: bool | None  # the active model's verdict at its threshold
    user_label: str | None
    taken_at: Any
    width: int | None
    height: int | None
    offline: bool  # on a drive that is not connected: kept, searchable, not readable now


def _abspath(path: str | Path) -> str:
    return os.path.abspath(os.path.expanduser(os.fsdecode(path)))


def photo_id_for_path(library: Library, path: str | Path) -> int | None:
    with library.session() as s:
        return s.scalar(select(Photo.id).where(Photo.path == _abspath(path)))


def _active_model(s: Any) -> ModelVersion | None:
    return s.scalar(select(ModelVersion).where(ModelVersion.active.is_(True)))


def briefs(library: Library, ids: Iterable[int]) -> dict[int, PhotoBrief]:
    ids = list(ids)
    out: dict[int, PhotoBrief] = {}
    with library.session() as s:
        model = _active_model(s)
        offline = scan.offline_folder_ids(s)
        for i in range(0, len(ids), 900):
            chunk = ids[i : i + 900]
            q = (
                select(
                    Photo.id,
                    Photo.folder_id,
                    Photo.path,
                    Photo.content_hash,
                    Photo.state,
                    BirdScore.score,
                    UserLabel.label,
                    Photo.taken_at,
                    Photo.width,
                    Photo.height,
                )
                .outerjoin(
                    BirdScore, (BirdScore.photo_id == Photo.id) & (BirdScore.model_id == (model.id if model else -1))
                )
                .outerjoin(UserLabel, UserLabel.content_hash == Photo.content_hash)
                .where(Photo.id.in_(chunk))
            )
            for pid, fid, path, h, state, score, label, taken, w, hgt in s.execute(q):
                verdict = None if score is None or model is None else score >= model.threshold
                out[pid] = PhotoBrief(pid, path, h, state, score, verdict, label, taken, w, hgt, fid in offline)
    return out


def labels_of(
    library: Library, photo_id: int, min_p: float = LABEL_THRESHOLD, shown_only: bool = True
) -> dict[str, float]:
    """The searchable words of a photo, most probable first.

    By default only those worth showing, and only at the probability a search needs, so every word shown is
    one that finds this photo when searched: not hidden generic ancestors ("vertebrate"), not a synonym of a
    word shown beside it ("television" beside "tv"), and "bird" when the bird search finds the photo (the
    active bird model, or the user's own mark).
    """
    with library.session() as s:
        rows = s.execute(
            select(Word.word, PhotoLabel.p, Word.hidden)
            .join(Word, Word.id == PhotoLabel.word_id)
            .where(PhotoLabel.photo_id == photo_id, PhotoLabel.p >= min_p)
            .order_by(PhotoLabel.p.desc(), Word.word)
        ).all()
    if not shown_only:
        return {w: round(p, 4) for w, p, _ in rows}
    lexicon = load_lexicon()
    present = {w for w, _, _ in rows}
    out = {
        w: round(p, 4)
        for w, p, hidden in rows
        if not hidden and lexicon.is_shown(w) and lexicon.synonym_of.get(w) not in present
    }
    brief = briefs(library, [photo_id]).get(photo_id)
    if brief is not None and (brief.user_label == "bird" or (brief.user_label != "not-bird" and brief.is_bird)):
        out = {BIRD_WORD: 1.0 if brief.user_label == "bird" else round(brief.bird or 0.0, 4), **out}
    return out


def info(library: Library, photo_id: int) -> dict[str, Any]:
    """Everything the catalogue knows about one photo (``photobird info --json``)."""
    with library.session() as s:
        p = s.get(Photo, photo_id)
        if p is None:
            raise CatalogueError(f"no photo with id {photo_id}")
        folder = s.get(Folder, p.folder_id)
        state = scan.folder_state(s, folder.id, folder.path, folder.device) if folder else None
        model = _active_model(s)
        score = s.scalar(
            select(BirdScore.score).where(BirdScore.photo_id == p.id, BirdScore.model_id == (model.id if model else -1))
        )
        label = (
            s.scalar(select(UserLabel.label).where(UserLabel.content_hash == p.content_hash))
            if p.content_hash
            else None
        )
        # clockwise degrees the user turned the picture (by content, like the label)
        rotation = (
            s.scalar(select(PhotoEdit.rotation).where(PhotoEdit.content_hash == p.content_hash))
            if p.content_hash
            else None
        )
    return {
        "id": p.id,
        "path": p.path,
        "folder": folder.path if folder else None,
        "state": p.state,
        "offline": state is scan.FolderState.OFFLINE,  # on a drive that is not connected: kept, not readable now
        "error": p.error,
        "size": p.size,
        "content_hash": p.content_hash,
        "format": p.format,
        "width": p.width,
        "height": p.height,
        "taken_at": p.taken_at.isoformat() if p.taken_at else None,
        "camera_make": p.camera_make,
        "camera_model": p.camera_model,
        "camera": camera_name(p.camera_make, p.camera_model),
        # when EXIF has no date: the file's own time, which is what a file manager shows
        "file_time": dt.datetime.fromtimestamp(p.mtime_ns / 1e9).isoformat(timespec="seconds"),
        "gps": {"latitude": p.latitude, "longitude": p.longitude} if p.latitude is not None else None,
        "orientation": p.orientation,
        "indexed_at": p.indexed_at.isoformat() if p.indexed_at else None,
        "user_label": label,
        "rotation": rotation or 0,
        "bird": score,
        "is_bird": None if score is None or model is None else bool(score >= model.threshold),
        "model": {"version": model.name, "threshold": model.threshold} if model else None,
        "labels": labels_of(library, p.id),
        "place": p.place,
        "thumbnail": str(library.thumb_path(p.content_hash))
        if p.content_hash and p.state == PhotoState.INDEXED
        else None,
        "faces": [
            {"id": f.id, "box": list(f.box), "pixels": f.pixel_box(), "person": f.person, "name": f.name}
            for f in people.faces(library, [p.id])
        ],
    }


def _hash_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Refusal:
    """A photo that was not labelled, and why (one line for the user)."""

    path: str
    reason: str


@dataclass(frozen=True)
class LabelResult:
    labelled: int
    refused: list[Refusal]
    #: The mark each labelled photo had before (None: none), so the change can be undone.
    before: dict[int, str | None] = field(default_factory=dict)


@keepsake.kept
def set_user_label(library: Library, photo_ids: Iterable[int], label: str | None) -> LabelResult:
    """Mark photos as "bird" / "not-bird", or clear the mark (None). Saved at once; keyed by content.

    A photo that failed to index (a truncated or unreadable file) is refused a mark, with the reason, and the
    others are still marked: the bird model is retrained on what the networks saw of a picture, and they saw
    nothing of this one. Clearing is always allowed, so an old mark can be taken back.
    """
    if label is not None and label not in USER_LABELS:
        raise CatalogueError(f"label must be one of {', '.join(USER_LABELS)} (or cleared), not {label!r}")
    ids = list(photo_ids)
    n = 0
    refused: list[Refusal] = []
    before: dict[int, str | None] = {}
    with library.session() as s:
        for pid in ids:
            p = s.get(Photo, pid)
            if p is None:
                continue
            if label is not None and p.state == PhotoState.FAILED:
                refused.append(Refusal(p.path, f"it could not be indexed ({p.error or 'unknown error'})"))
                continue
            h = p.content_hash
            if h is None:  # not indexed yet: hash the file now so the label has something to belong to
                try:
                    h = _hash_file(p.path)
                except OSError as e:
                    refused.append(Refusal(p.path, f"it cannot be read ({e.strerror or e})"))
                    continue
                p.content_hash = h
            before[pid] = s.scalar(select(UserLabel.label).where(UserLabel.content_hash == h))
            if label is None:
                s.execute(delete(UserLabel).where(UserLabel.content_hash == h))
            else:
                now = utcnow()
                upsert(
                    s,
                    UserLabel,
                    {"content_hash": h, "label": label, "updated_at": now},
                    key=["content_hash"],
                    changes={"label": label, "updated_at": now},
                )
            n += 1
    return LabelResult(n, refused, before)


def user_labels(library: Library) -> dict[str, str]:
    """content hash -> label, for every labelled picture."""
    with library.session() as s:
        return dict(s.execute(select(UserLabel.content_hash, UserLabel.label)).all())


def errors(library: Library) -> list[tuple[str, str]]:
    """(path, why) for each file that could not be indexed, then for each photo an analyzer that runs after
    indexing could not analyse (it stays searchable by what the others found): "faces: could not be ..."."""
    with library.session() as s:
        files = [
            (p, e or "unknown error")
            for p, e in s.execute(
                select(Photo.path, Photo.error).where(Photo.state == PhotoState.FAILED).order_by(Photo.path)
            )
        ]
        analyses = [
            (p, f"{kind}: {e}")
            for p, kind, e in s.execute(
                select(Photo.path, PhotoAnalysis.analyzer, PhotoAnalysis.error)
                .join(PhotoAnalysis, PhotoAnalysis.photo_id == Photo.id)
                .where(PhotoAnalysis.error.is_not(None), Photo.state == PhotoState.INDEXED)
                .order_by(Photo.path, PhotoAnalysis.analyzer)
            )
        ]
    return files + analyses


@dataclass(frozen=True)
class WordCount:
    """A word of the sidebar's "In your photos": how many photos a search for it finds, and one to show."""

    word: str
    kind: WordKind
    count: int
    cover_photo_id: int | None
    cover_hash: str | None


def word_counts(library: Library, limit: int = 60, min_p: float = LABEL_THRESHOLD) -> list[WordCount]:
    """The shown words of the library with how many photos each finds, most useful first, each with the photo
    that has it most surely (its thumbnail stands for the word, as Google Photos' "Things" and "Places" do).

    Most useful first: places, then the things and scenes by how many photos they find; a word every indexed
    photo has (nothing to narrow down) and one that finds a single photo go last.
    """
    with library.session() as s:
        indexed = s.scalar(select(func.count()).select_from(Photo).where(Photo.state == PhotoState.INDEXED)) or 0
        rows = s.execute(
            select(Word.id, Word.word, Word.kind, func.count(PhotoLabel.photo_id).label("n"))
            .join(PhotoLabel, PhotoLabel.word_id == Word.id)
            .join(Photo, Photo.id == PhotoLabel.photo_id)
            .where(PhotoLabel.p >= min_p, Word.hidden.is_(False), Photo.state == PhotoState.INDEXED)
            .group_by(Word.id, Word.word, Word.kind)
        ).all()
        lexicon = load_lexicon()
        present = {w for _, w, _, _ in rows}
        rows = [r for r in rows if lexicon.is_shown(r[1]) and lexicon.synonym_of.get(r[1]) not in present]
        # a people word also finds every photo with a face: counted as its search counts it
        rows = [(i, w, k, _search_count(library, w) if w in FACE_WORDS else n) for i, w, k, n in rows]
        birds = bird_count(library)

        def useful(r: Any) -> tuple[int, int, str]:
            kind, n = WordKind(r[2]), int(r[3])
            dull = n <= 1 or (indexed > 10 and n >= indexed)
            return (int(dull), 0 if kind == WordKind.PLACE else 1, -n), r[1]  # type: ignore[return-value]

        rows.sort(key=useful)
        out: list[WordCount] = []
        if birds:
            cover = s.execute(
                select(Photo.id, Photo.content_hash)
                .join(BirdScore, BirdScore.photo_id == Photo.id)
                .join(ModelVersion, (ModelVersion.id == BirdScore.model_id) & ModelVersion.active.is_(True))
                .where(Photo.state == PhotoState.INDEXED)
                .order_by(BirdScore.score.desc())
                .limit(1)
            ).first()
            out.append(WordCount(BIRD_WORD, WordKind.THING, birds, *(cover or (None, None))))
        for word_id, word, kind, n in rows[: max(0, limit - len(out))]:
            cover = s.execute(
                select(Photo.id, Photo.content_hash)
                .join(PhotoLabel, PhotoLabel.photo_id == Photo.id)
                .where(PhotoLabel.word_id == word_id, Photo.state == PhotoState.INDEXED)
                .order_by(PhotoLabel.p.desc(), Photo.id)
                .limit(1)
            ).first()
            out.append(WordCount(word, WordKind(kind), int(n), *(cover or (None, None))))
    return out


def _search_count(library: Library, query: str) -> int:
    return Searcher(library).count(query)


def bird_count(library: Library) -> int:
    """Photos a "bird" search finds (the active model at its threshold, the user's labels winning)."""
    return _search_count(library, BIRD_WORD)


@dataclass(frozen=True)
class Stats:
    folders: int
    photos: int
    indexed: int
    failed: int
    pending: int
    missing: int
    user_bird: int
    user_not_bird: int
    birds: int
    model: str | None
    catalogue_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def stats(library: Library) -> Stats:
    with library.session() as s:
        by_state = dict(s.execute(select(Photo.state, func.count()).group_by(Photo.state)).all())
        folders = s.scalar(select(func.count()).select_from(Folder)) or 0
        labels = dict(s.execute(select(UserLabel.label, func.count()).group_by(UserLabel.label)).all())
        model = _active_model(s)
        size = catalogue_bytes(s.connection(), library.db_path)
    return Stats(
        folders=folders,
        photos=sum(v for k, v in by_state.items() if k != PhotoState.MISSING),
        indexed=by_state.get(PhotoState.INDEXED, 0),
        failed=by_state.get(PhotoState.FAILED, 0),
        pending=by_state.get(PhotoState.PENDING, 0),
        missing=by_state.get(PhotoState.MISSING, 0),
        user_bird=labels.get("bird", 0),
        user_not_bird=labels.get("not-bird", 0),
        birds=bird_count(library),
        model=model.name if model else None,
        catalogue_bytes=size,
    )
