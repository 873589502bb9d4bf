"""Faces and people in a real catalogue (SQLite and PostgreSQL): grouping, the user's decisions and how they
survive, and searching by name. The faces here are written as the analyzer writes them, with made-up descriptors whose
distances are known, so each rule is checked on its own; tests/library/test_face_analysis.py runs the real
networks on real photos."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from sqlalchemy import select

from photobird.library import people
from photobird.library.schema import Face, FaceAssignment, Folder, Person, Photo, PhotoState
from photobird.library.search import search
from photobird.library.store import Library, SettingKey
from photobird.models.faces.found import FoundFace

pytestmark = pytest.mark.both_engines

RNG = np.random.default_rng(3)
CENTRES = {who: v / np.linalg.norm(v) for who, v in (("anna", RNG.normal(size=128)), ("bob", RNG.normal(size=128)))}


def descriptor(who: str) -> np.ndarray:
    """A face of ``who`` (near their centre), or of a stranger (anything else: far from everyone)."""
    centre = CENTRES.get(who)
    if centre is None:
        centre = RNG.normal(size=128)
        centre /= np.linalg.norm(centre)
    noise = RNG.normal(size=128)
    return (centre + 0.2 * noise / np.linalg.norm(noise)).astype(np.float32)


BOXES = [(0.1, 0.1, 0.3, 0.4), (0.6, 0.1, 0.8, 0.4)]


def add_photo(lib: Library, name: str, faces: list[str], content: str | None = None) -> int:
    """An indexed photo row with faces of these people (one box each, left to right)."""
    content_hash = hashlib.sha256((content or name).encode()).hexdigest()
    with lib.session() as s:
        folder = s.scalar(select(Folder).where(Folder.path == "/photos"))
        if folder is None:
            folder = Folder(path="/photos")
            s.add(folder)
            s.flush()
        photo = Photo(
            folder_id=folder.id,
            path=f"/photos/{name}",
            name=name,
            dir="/photos",
            size=1,
            mtime_ns=1,
            content_hash=content_hash,
            state=PhotoState.INDEXED,
            width=1000,
            height=800,
        )
        s.add(photo)
        s.flush()
        found = [FoundFace(BOXES[i], 0.99, descriptor(who)) for i, who in enumerate(faces)]
        people.write_faces(s, photo.id, content_hash, found)
        return photo.id


@pytest.fixture
def lib(library: Library) -> Library:
    """The test's library (SQLite, then PostgreSQL)."""
    return library


def person_of(lib: Library, photo_id: int, index: int = 0) -> int | None:
    with lib.session() as s:
        faces = s.scalars(select(Face).where(Face.photo_id == photo_id).order_by(Face.left)).all()
        return faces[index].person_id


def test_faces_are_grouped_into_people_and_strangers_wait(lib: Library) -> None:
    anna = [add_photo(lib, f"a{i}.jpg", ["anna"]) for i in range(4)]
    bob = [add_photo(lib, f"b{i}.jpg", ["bob"]) for i in range(3)]
    strangers = [add_photo(lib, f"stranger{i}.jpg", ["x"]) for i in range(3)]
    assert people.regroup(lib) == 7
    assert len({person_of(lib, p) for p in anna}) == 1
    assert len({person_of(lib, p) for p in bob}) == 1
    assert person_of(lib, anna[0]) != person_of(lib, bob[0])
    assert [person_of(lib, p) for p in strangers] == [None, None, None]
    listed = people.people(lib)
    assert [(p.photos, p.name) for p in listed] == [(4, None), (3, None)]  # most photos first
    # incrementally: a new photo of Anna joins her; nothing else moves
    later = add_photo(lib, "later.jpg", ["anna"])
    assert people.regroup(lib) == 1
    assert person_of(lib, later) == person_of(lib, anna[0])


def test_a_name_is_a_search_word(lib: Library) -> None:
    anna = [add_photo(lib, f"a{i}.jpg", ["anna"]) for i in range(3)]
    both = add_photo(lib, "ab.jpg", ["anna", "bob"])
    bob = [add_photo(lib, f"b{i}.jpg", ["bob"]) for i in range(2)]
    nobody = add_photo(lib, "landscape.jpg", [])
    people.regroup(lib)
    people.name_person(lib, person_of(lib, anna[0]), "Anna Smith")
    people.name_person(lib, person_of(lib, bob[0]), "Bob")
    ids = lambda q: sorted(h.photo_id for h in search(lib, q))  # noqa: E731
    assert ids("anna") == sorted([*anna, both])
    assert ids("Anna Smith") == sorted([*anna, both])
    assert ids("anna -bob") == sorted(anna)
    assert ids("bob anna") == [both]
    assert ids(f"person:{person_of(lib, bob[0])}") == sorted([both, *bob])
    # "people" and "person" find every photo with a face, before any the word heads see people in
    assert ids("people") == sorted([*anna, both, *bob])
    assert nobody not in ids("person")
    assert people.people(lib)[0].name == "Anna Smith"  # named first


def test_names_survive_redetection_and_the_photo_coming_back(lib: Library) -> None:
    anna = [add_photo(lib, f"a{i}.jpg", ["anna"]) for i in range(3)]
    people.regroup(lib)
    pid = person_of(lib, anna[0])
    people.name_person(lib, pid, "Anna")
    # analysed again (a new detector): boxes move a little, the face keeps its person
    with lib.session() as s:
        h = s.scalar(select(Photo.content_hash).where(Photo.id == anna[0]))
        shifted = FoundFace((0.11, 0.12, 0.31, 0.41), 0.98, descriptor("anna"))
        people.write_faces(s, anna[0], h, [shifted])
    assert person_of(lib, anna[0]) == pid
    # the photo leaves the library and comes back (a new row): the user's decision finds its face again
    with lib.session() as s:
        s.delete(s.get(Photo, anna[1]))
    back = add_photo(lib, "renamed.jpg", ["anna"], content="a1.jpg")
    assert person_of(lib, back) == pid
    assert sorted(h.photo_id for h in search(lib, "anna")) == sorted([anna[0], anna[2], back])


def test_merge_move_and_not_this_person(lib: Library) -> None:
    anna = [add_photo(lib, f"a{i}.jpg", ["anna"]) for i in range(3)]
    bob = [add_photo(lib, f"b{i}.jpg", ["bob"]) for i in range(3)]
    people.regroup(lib)
    a, b = person_of(lib, anna[0]), person_of(lib, bob[0])
    people.name_person(lib, b, "Bob")
    people.merge_people(lib, a, b)  # the kept person takes the other's name when it has none
    merged = people.people(lib)
    assert [(p.id, p.name, p.photos) for p in merged] == [(a, "Bob", 6)]
    with lib.session() as s:
        assert s.get(Person, b) is None
        face = s.scalar(select(Face).where(Face.photo_id == anna[0]))
    # "not this person": the face leaves, and grouping never puts it back
    people.move_face(lib, face.id, None)
    assert person_of(lib, anna[0]) is None
    people.regroup(lib)
    assert person_of(lib, anna[0]) != a
    # and it comes back when the user says so; a user's placement is marked as theirs
    people.move_face(lib, face.id, a)
    with lib.session() as s:
        moved = s.get(Face, face.id)
        assert (moved.person_id, moved.assignment) == (a, FaceAssignment.USER)
    with pytest.raises(people.PeopleError, match="no person 999"):
        people.move_face(lib, face.id, 999)
    with pytest.raises(people.PeopleError, match="themselves"):
        people.merge_people(lib, a, a)
    with pytest.raises(people.PeopleError, match="empty"):
        people.name_person(lib, a, "   ")


def test_grouping_after_a_run_that_stopped_before_it(lib: Library) -> None:
    """Faces written by a run that was cancelled (or crashed) before grouping are grouped by the next run."""
    for i in range(3):
        add_photo(lib, f"a{i}.jpg", ["anna"])
    assert people.regroup_new(lib) == 3
    assert people.regroup_new(lib) == 0  # nothing new: no work
    assert lib.get_setting(SettingKey.FACES_GROUPED_THROUGH) > 0


def test_turning_faces_off_deletes_every_face_and_name(lib: Library) -> None:
    anna = [add_photo(lib, f"a{i}.jpg", ["anna"]) for i in range(2)]
    people.regroup(lib)
    people.name_person(lib, person_of(lib, anna[0]), "Anna")
    people.forget_faces(lib)
    assert people.faces(lib) == [] and people.people(lib) == []
    assert search(lib, "anna") == []
