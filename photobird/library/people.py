"""Faces and people in the catalogue: writing what the face analyzer found, grouping faces into people, and the
user's decisions (name, merge, move, "not this person"), which always win.

A face row belongs to a photo (it goes when the photo goes, and is re-made when the photo is analysed again);
what the user said about a face is a ``FaceDecision`` keyed by the picture's content hash and the face's box, so
it finds the face again after re-detection, a move, a rename, or the photo leaving the library and coming back.
Naming a person records a decision for each of their faces, so a name outlives every face row it was given on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from photobird.library import keepsake
from photobird.library.schema import (
    AnalyzerKind,
    Face,
    FaceAssignment,
    FaceDecision,
    FaceVerdict,
    Person,
    Photo,
    PhotoAnalysis,
    PhotoState,
    utcnow,
)
from photobird.library.store import Library, SettingKey
from photobird.media.decode import DecodeError, decode
from photobird.models.faces import group as grouping
from photobird.models.faces.found import FoundFace

#: Two boxes are the same face when they overlap this much (intersection over union).
SAME_BOX = 0.5
DESCRIPTOR_DIM = 128

Box = tuple[float, float, float, float]


class PeopleError(Exception):
    """A request about faces or people that cannot be done (no such person or face); one sentence."""


@dataclass(frozen=True)
class FaceInfo:
    id: int
    photo_id: int
    path: str
    box: Box  # fractions of the displayed photo
    width: int | None  # the displayed photo's size in pixels
    height: int | None
    score: float
    person: int | None
    name: str | None

    def pixel_box(self) -> list[int]:
        """The box in pixels of the photo as displayed (EXIF orientation applied)."""
        w, h = self.width or 0, self.height or 0
        left, top, right, bottom = self.box
        return [round(left * w), round(top * h), round(right * w), round(bottom * h)]


@dataclass(frozen=True)
class PersonInfo:
    id: int
    name: str | None
    faces: int
    photos: int
    #: The face shown for this person (their highest-scoring face).
    cover: int | None


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _box(row: Face | FaceDecision) -> Box:
    return (row.left, row.top, row.right, row.bottom)


def _best_match(box: Box, candidates: Sequence[tuple[Box, object]]) -> object | None:
    best, best_iou = None, SAME_BOX
    for other, value in candidates:
        overlap = iou(box, other)
        if overlap >= best_iou:
            best, best_iou = value, overlap
    return best


# ------------------------------------------------------------------------------------------------------------
# writing what the analyzer found


def write_faces(s: Session, photo_id: int, content_hash: str | None, found: Sequence[FoundFace]) -> None:
    """Replace a photo's faces by ``found``. A face found again (same place) keeps its person, and the user's
    decisions about this picture are applied, so re-analysis never loses a name or a move."""
    old = s.scalars(select(Face).where(Face.photo_id == photo_id)).all()
    carried = [(_box(f), (f.person_id, f.assignment)) for f in old if f.person_id is not None]
    s.execute(delete(Face).where(Face.photo_id == photo_id))
    decisions = (
        s.scalars(select(FaceDecision).where(FaceDecision.content_hash == content_hash)).all() if content_hash else []
    )
    rows = []
    for face in found:
        person, assignment = _best_match(face.box, carried) or (None, FaceAssignment.AUTO.value)  # type: ignore[misc]
        for d in decisions:
            if iou(face.box, _box(d)) < SAME_BOX:
                continue
            if d.verdict == FaceVerdict.IS:
                person, assignment = d.person_id, FaceAssignment.USER.value
            elif d.verdict == FaceVerdict.IS_NOT and person == d.person_id:
                person, assignment = None, FaceAssignment.AUTO.value
        left, top, right, bottom = face.box
        rows.append(
            {
                "photo_id": photo_id,
                "left": left,
                "top": top,
                "right": right,
                "bottom": bottom,
                "score": float(face.score),
                "descriptor": np.asarray(face.descriptor, dtype="<f4").tobytes(),
                "person_id": person,
                "assignment": assignment,
            }
        )
    if rows:
        s.execute(insert(Face), rows)


def regroup_new(library: Library) -> int:
    """Group faces written since the last grouping (by this run, or by a run cancelled before it grouped)."""
    with library.session() as s:
        newest = s.scalar(select(func.max(Face.id))) or 0
    if newest <= int(library.get_setting(SettingKey.FACES_GROUPED_THROUGH)):
        return 0
    joined = regroup(library)
    library.set_setting(SettingKey.FACES_GROUPED_THROUGH, newest)
    return joined


def copy_faces(s: Session, from_photo_id: int, to_photo_id: int) -> None:
    """A copy of a picture gets its faces, each in the same person (the same picture shows the same people)."""
    s.execute(delete(Face).where(Face.photo_id == to_photo_id))
    rows = [
        {
            "photo_id": to_photo_id,
            "left": f.left,
            "top": f.top,
            "right": f.right,
            "bottom": f.bottom,
            "score": f.score,
            "descriptor": f.descriptor,
            "person_id": f.person_id,
            "assignment": f.assignment,
        }
        for f in s.scalars(select(Face).where(Face.photo_id == from_photo_id))
    ]
    if rows:
        s.execute(insert(Face), rows)


# ------------------------------------------------------------------------------------------------------------
# grouping


def _vectors(blobs: Iterable[bytes]) -> np.ndarray:
    data = [np.frombuffer(b, dtype="<f4") for b in blobs]
    return np.stack(data) if data else np.zeros((0, DESCRIPTOR_DIM), dtype=np.float32)


def regroup(library: Library, threshold: float = grouping.SAME_PERSON) -> int:
    """Give the faces that belong to nobody a person: an existing one they are close to, or a new one made of
    several of them. Faces already in a person stay there. Returns how many faces found a person."""
    with library.session() as s:
        known = s.execute(
            select(Face.person_id, Face.descriptor).where(Face.person_id.is_not(None)).order_by(Face.id)
        ).all()
        waiting = s.execute(
            select(Face.id, Face.descriptor, Photo.content_hash)
            .join(Photo, Photo.id == Face.photo_id)
            .where(Face.person_id.is_(None), Photo.state == PhotoState.INDEXED)
            .order_by(Face.id.desc())
        ).all()
        if not waiting:
            return 0
        refusals: dict[str, list[tuple[Box, int]]] = {}
        hashes = {h for _, _, h in waiting if h}
        if hashes:
            for d in s.scalars(
                select(FaceDecision).where(
                    FaceDecision.verdict == FaceVerdict.IS_NOT, FaceDecision.content_hash.in_(hashes)
                )
            ):
                refusals.setdefault(d.content_hash, []).append((_box(d), d.person_id))
        forbidden: dict[int, set[int]] = {}
        if refusals:
            boxes = {f.id: _box(f) for f in s.scalars(select(Face).where(Face.id.in_([fid for fid, _, _ in waiting])))}
            for i, (fid, _, h) in enumerate(waiting):
                banned = {p for box, p in refusals.get(h or "", []) if iou(box, boxes[fid]) >= SAME_BOX}
                if banned:
                    forbidden[i] = banned
        result = grouping.group(
            _vectors(b for _, b, _ in waiting),
            _vectors(b for _, b in known),
            np.array([p for p, _ in known], dtype=np.int64),
            threshold,
            forbidden,
        )
        assigned = 0
        for i, person in enumerate(result.joined.tolist()):
            if person >= 0:
                s.execute(update(Face).where(Face.id == waiting[i][0]).values(person_id=person))
                assigned += 1
        for members in result.clusters:
            person = Person()
            s.add(person)
            s.flush()
            ids = [waiting[i][0] for i in members]
            s.execute(update(Face).where(Face.id.in_(ids)).values(person_id=person.id))
            assigned += len(ids)
        return assigned


# ------------------------------------------------------------------------------------------------------------
# reading


def faces(library: Library, photo_ids: Sequence[int] | None = None, person_id: int | None = None) -> list[FaceInfo]:
    """Every face (or those of some photos, or of one person), with its photo's path and size and its person's
    name."""
    with library.session() as s:
        q = (
            select(Face, Photo.path, Photo.width, Photo.height, Person.name)
            .join(Photo, Photo.id == Face.photo_id)
            .outerjoin(Person, Person.id == Face.person_id)
            .where(Photo.state == PhotoState.INDEXED)
            .order_by(Photo.path, Face.left)
        )
        if photo_ids is not None:
            q = q.where(Face.photo_id.in_(list(photo_ids)))
        if person_id is not None:
            q = q.where(Face.person_id == person_id)
        return [
            FaceInfo(f.id, f.photo_id, path, _box(f), w, h, f.score, f.person_id, name)
            for f, path, w, h, name in s.execute(q)
        ]


def people(library: Library) -> list[PersonInfo]:
    """People with at least one face: named ones first, then by how many photos they are in."""
    with library.session() as s:
        rows = s.execute(
            select(Person.id, Person.name, func.count(Face.id), func.count(func.distinct(Face.photo_id)))
            .join(Face, Face.person_id == Person.id)
            .join(Photo, Photo.id == Face.photo_id)
            .where(Photo.state == PhotoState.INDEXED)
            .group_by(Person.id, Person.name)
        ).all()
        best: dict[int, int] = {}
        for pid, fid, _score in s.execute(
            select(Face.person_id, Face.id, Face.score)
            .where(Face.person_id.in_([r[0] for r in rows]))
            .order_by(Face.score.desc(), Face.id)
        ):
            best.setdefault(pid, fid)
    result = [PersonInfo(pid, name, n_faces, n_photos, best.get(pid)) for pid, name, n_faces, n_photos in rows]
    return sorted(result, key=lambda p: (p.name is None, -p.photos, (p.name or "").lower(), p.id))


def face_crop(library: Library, face_id: int, side: int = 96) -> Image.Image | None:
    """A square picture of one face (with some of its surroundings), ``side`` pixels, decoded from the photo at
    the smallest size that gives the face that many pixels; None when the file cannot be read."""
    with library.session() as s:
        row = s.execute(
            select(Face, Photo.path, Photo.width, Photo.height)
            .join(Photo, Photo.id == Face.photo_id)
            .where(Face.id == face_id)
        ).first()
    if row is None:
        return None
    face, path, width, height = row
    fw, fh = max(face.right - face.left, 1e-3), max(face.bottom - face.top, 1e-3)
    w, h = width or 1000, height or 1000
    face_px = min(fw * w, fh * h)  # the face's side in the full-size photo
    min_side = int(min(max(side * 1.6 * min(w, h) / face_px, 64), 2048))
    try:
        image = decode(path, min_side=min_side).image
    except DecodeError:
        return None
    cx, cy = (face.left + face.right) / 2 * image.width, (face.top + face.bottom) / 2 * image.height
    half = max(fw * image.width, fh * image.height) * 0.8
    crop = image.crop((round(cx - half), round(cy - half), round(cx + half), round(cy + half)))
    return crop.resize((side, side), Image.BILINEAR)


# ------------------------------------------------------------------------------------------------------------
# the user's decisions


def _person(s: Session, person_id: int) -> Person:
    person = s.get(Person, person_id)
    if person is None:
        raise PeopleError(f"there is no person {person_id} (see: photobird people)")
    return person


def _decide(s: Session, face: Face, person_id: int, verdict: FaceVerdict) -> None:
    """Record the user's word on a face by its picture's content and box (replacing an earlier word on it)."""
    h = s.scalar(select(Photo.content_hash).where(Photo.id == face.photo_id))
    if h is None:
        return
    box = _box(face)
    for d in s.scalars(select(FaceDecision).where(FaceDecision.content_hash == h)):
        same_face = iou(box, _box(d)) >= SAME_BOX
        if same_face and (d.verdict == FaceVerdict.IS or d.person_id == person_id):
            s.delete(d)
    s.flush()
    s.add(
        FaceDecision(
            content_hash=h,
            left=box[0],
            top=box[1],
            right=box[2],
            bottom=box[3],
            person_id=person_id,
            verdict=verdict.value,
            updated_at=utcnow(),
        )
    )


@keepsake.kept
def name_person(library: Library, person_id: int, name: str) -> None:
    """Name (or rename) a person; their faces are confirmed as theirs, so the name outlives re-detection."""
    name = " ".join(name.split())
    if not name:
        raise PeopleError("a name cannot be empty")
    with library.session() as s:
        person = _person(s, person_id)
        person.name = name
        for face in s.scalars(select(Face).where(Face.person_id == person_id)):
            face.assignment = FaceAssignment.USER.value
            _decide(s, face, person_id, FaceVerdict.IS)


@keepsake.kept
def merge_people(library: Library, keep_id: int, other_id: int) -> None:
    """Put every face of ``other_id`` into ``keep_id`` (which keeps its name, or takes the other's if it has
    none) and remove ``other_id``."""
    if keep_id == other_id:
        raise PeopleError("a person cannot be merged with themselves")
    with library.session() as s:
        keep, other = _person(s, keep_id), _person(s, other_id)
        if keep.name is None:
            keep.name = other.name
        for face in s.scalars(select(Face).where(Face.person_id.in_([keep_id, other_id]))):
            face.person_id = keep_id
            face.assignment = FaceAssignment.USER.value
            _decide(s, face, keep_id, FaceVerdict.IS)
        s.execute(
            update(FaceDecision)
            .where(FaceDecision.person_id == other_id, FaceDecision.verdict == FaceVerdict.IS_NOT)
            .values(person_id=keep_id)
        )
        s.flush()
        s.delete(other)


@keepsake.kept
def move_face(library: Library, face_id: int, person_id: int | None) -> None:
    """Put a face in another person, or (``None``) take it out of its person: "not this person"."""
    with library.session() as s:
        face = s.get(Face, face_id)
        if face is None:
            raise PeopleError(f"there is no face {face_id} (see: photobird faces)")
        if person_id is None:
            if face.person_id is not None:
                _decide(s, face, face.person_id, FaceVerdict.IS_NOT)
            face.person_id = None
            face.assignment = FaceAssignment.USER.value
        else:
            _person(s, person_id)
            _decide(s, face, person_id, FaceVerdict.IS)
            face.person_id = person_id
            face.assignment = FaceAssignment.USER.value


@keepsake.kept
def forget_faces(library: Library) -> None:
    """Delete every face, person, name and decision (the user turned faces off)."""
    with library.session() as s:
        s.execute(delete(Face))
        s.execute(delete(FaceDecision))
        s.execute(delete(Person))
        s.execute(delete(PhotoAnalysis).where(PhotoAnalysis.analyzer == AnalyzerKind.FACES))
