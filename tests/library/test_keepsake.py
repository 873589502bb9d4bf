"""The keepsake beside the catalogue and rebuilding a damaged catalogue from it: every change of what the user
decided is kept, atomically; a damaged catalogue is refused in one sentence; a repair brings back every label
and name (real networks on real photos, real SQLite files damaged as disks and copies damage them). What the
keepsake keeps is checked on both engines; a damaged catalogue and its repair are the folder's own file's."""

from __future__ import annotations

import enum
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from photobird.learn.train import set_threshold
from photobird.library import catalogue, keepsake, people, repair, scan
from photobird.library.db import postgres
from photobird.library.db.engines import EngineKind
from photobird.library.index import index
from photobird.library.schema import Face, FaceVerdict, ModelVersion, Photo, UserLabel
from photobird.library.search import Searcher
from photobird.library.store import CATALOGUE, KEEPSAKE, CatalogueDamaged, Library, LibraryError, SettingKey
from photobird.models.faces.analyzer import FaceAnalyzer
from photobird.models.runner import Models
from tests.library.conftest import copy_real, environment, make_catalogue, reopened
from tests.library.test_face_analysis import copy_lfw, lfw
from tests.library.test_people import add_photo

pytestmark = pytest.mark.both_engines
#: Why the tests of a damaged catalogue and its repair run on SQLite alone.
DAMAGED_FILE = "a damaged catalogue here is the library folder's SQLite file, damaged as disks and copies damage it"


class Damage(enum.StrEnum):
    """What happens to catalogue files: a copy or a full disk cuts one short, a bad sector or a stray write
    overwrites part of one, another program writes over one, one is emptied or lost."""

    TRUNCATED = "truncated to half its size"
    GARBAGE = "garbage over its middle"
    NOT_A_DATABASE = "not a database at all"
    EMPTIED = "emptied"
    DELETED = "deleted"


def damage(root: Path, how: Damage) -> None:
    """Damage the catalogue of a closed library (its log checkpointed into it)."""
    path = root / CATALOGUE
    size = path.stat().st_size
    if how is Damage.TRUNCATED:
        os.truncate(path, size // 2)
    elif how is Damage.GARBAGE:  # the middle half: every table big enough to span it loses pages
        with open(path, "r+b") as f:
            f.seek(size // 4)
            f.write(os.urandom(size // 2))
    elif how is Damage.NOT_A_DATABASE:
        path.write_bytes(b"Dear diary, today I overwrote a catalogue.\n" * 100)
    elif how is Damage.EMPTIED:
        os.truncate(path, 0)
    else:
        path.unlink()


def damage_tables(root: Path, *tables: str) -> None:
    """Overwrite the first page of some tables (or indexes) with garbage (the rest of the catalogue stays readable)."""
    path = root / CATALOGUE
    with sqlite3.connect(path) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        roots = [conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (t,)).fetchone()[0] for t in tables]
    conn.close()
    with open(path, "r+b") as f:
        for page in roots:
            f.seek((page - 1) * page_size)
            f.write(b"\xa5" * page_size)


def one_sentence(message: str) -> None:
    assert "\n" not in message and message.endswith(".") and message.count(". ") == 0, message


def kept(lib: Library) -> keepsake.Keepsake:
    found = keepsake.load(lib.root)
    assert found is not None, "no keepsake written"
    return found


# --------------------------------------------------------------------------------------------------------------
# every change is kept


def test_labels_folders_settings_and_models_are_kept_after_each_change(tmp_path: Path, library: Library) -> None:
    lib = library
    photos = tmp_path / "photos"
    photos.mkdir()
    scan.add_folder(lib, photos)
    assert kept(lib).folders == [str(photos)]
    pid = add_photo(lib, "a.jpg", [])
    with lib.session() as s:
        h = s.get(Photo, pid).content_hash
    catalogue.set_user_label(lib, [pid], "bird")
    assert kept(lib).labels == {h: "bird"}
    catalogue.set_user_label(lib, [pid], None)  # clearing (what Undo does)
    assert kept(lib).labels == {}
    lib.set_setting(SettingKey.FACES, False)
    lib.set_setting(SettingKey.FACES_GROUPED_THROUGH, 7)  # bookkeeping of this catalogue's rows: not kept
    assert kept(lib).settings == {"faces": False}
    with lib.session() as s:
        s.add(ModelVersion(name="v1", file="v1.pt", sha256="0" * 64, embedder_key="k", threshold=0.5, active=True))
    set_threshold(lib, _version(lib, "v1"), 0.25)  # the user moved the slider and kept it
    assert [(v["name"], v["threshold"]) for v in kept(lib).versions] == [("v1", 0.25)]
    assert kept(lib).active == "v1"
    scan.remove_folder(lib, photos)
    assert kept(lib).folders == ["/photos"]  # the one ``add_photo`` made


def _version(lib: Library, name: str) -> ModelVersion:
    with lib.session() as s:
        return s.scalar(select(ModelVersion).where(ModelVersion.name == name))


def test_names_merges_moves_and_forgetting_are_kept(library: Library) -> None:
    lib = library
    ids = [add_photo(lib, f"a{i}.jpg", ["anna"]) for i in range(3)] + [add_photo(lib, "b.jpg", ["bob", "bob"])]
    people.regroup(lib)
    anna = people.faces(lib, [ids[0]])[0].person
    bob = people.faces(lib, [ids[3]])[0].person
    assert anna is not None and bob is not None and anna != bob
    people.name_person(lib, anna, "Anna")
    assert kept(lib).people == {anna: "Anna"}
    assert {d["person"] for d in kept(lib).decisions} == {anna} and len(kept(lib).decisions) == 3
    people.merge_people(lib, anna, bob)
    assert kept(lib).people == {anna: "Anna"} and len(kept(lib).decisions) == 5
    face = people.faces(lib, [ids[1]])[0]
    people.move_face(lib, face.id, None)  # "not Anna"
    verdicts = [(d["person"], d["verdict"]) for d in kept(lib).decisions if tuple(d["box"]) == face.box]
    assert (anna, FaceVerdict.IS_NOT) in verdicts
    people.forget_faces(lib)  # the user turned faces off: names go, as they asked
    assert kept(lib).people == {} and kept(lib).decisions == []


def test_the_keepsake_is_written_in_one_piece(tmp_path: Path, library: Library) -> None:
    """A keepsake is a plain JSON object with its format, and nothing is left beside it."""
    scan.add_folder(library, tmp_path)
    data = json.loads((library.root / KEEPSAKE).read_text())
    assert data["format"] == keepsake.FORMAT and data["folders"] == [str(tmp_path)]
    assert not list(library.root.glob(f".{KEEPSAKE}*"))


def test_a_folder_whose_catalogue_is_on_a_server_says_where_to_open_it(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keepsake of a catalogue on a server names the server (never its password); the folder opened without
    it says, in one sentence, how to open it (rather than call the catalogue missing and ask for a repair, which
    would start a new one in the folder). A folder's own catalogue opens as before."""
    scan.add_folder(library, library.root.parent)
    written = (library.root / KEEPSAKE).read_text()
    library.close()
    monkeypatch.delenv("PHOTOBIRD_DATABASE", raising=False)
    if library.kind is EngineKind.SQLITE:
        assert "database" not in json.loads(written)
        Library(library.root).close()
        return
    where = postgres.where(library.url)
    assert kept(library).database == where and library.url.password not in written
    with pytest.raises(LibraryError) as refused:
        Library(library.root)
    assert not isinstance(refused.value, CatalogueDamaged)
    one_sentence(str(refused.value))
    assert str(refused.value) == (
        f"The catalogue of the library at {library.root} is on a PostgreSQL server, not in its folder: open it "
        f"with --database {where} (or set PHOTOBIRD_DATABASE to that address)."
    )
    assert not (library.root / CATALOGUE).exists()
    with reopened(library) as again:  # and opened with it, it is all there
        assert scan.list_folders(again)[0].path == str(library.root.parent)


def test_repair_leaves_a_catalogue_on_a_server_to_the_server(library: Library) -> None:
    """``photobird repair`` rebuilds the folder's SQLite file: a catalogue on a server is refused in one
    sentence that says what to do instead (a sound folder's catalogue has nothing to repair)."""
    scan.add_folder(library, library.root.parent)
    if library.kind is EngineKind.SQLITE:
        assert repair.repair(library.root) is None
        return
    database = library.url.render_as_string(hide_password=False)
    with pytest.raises(LibraryError) as refused:
        repair.repair(library.root, database)
    one_sentence(str(refused.value))
    assert str(refused.value) == (
        f"The catalogue of the library at {library.root} is on the PostgreSQL server at "
        f"{postgres.where(library.url)}, and photobird repair rebuilds only a library folder's own file: restore a "
        "damaged catalogue on a server from the server's backups with PostgreSQL's own tools (pg_restore)."
    )
    assert scan.list_folders(library)[0].path == str(library.root.parent)  # untouched
    assert not list(library.root.glob(f"{CATALOGUE}*"))


def test_people_grouped_after_a_restore_are_numbered_past_the_restored_ones(library: Library) -> None:
    """A restore writes the people with their ids (the decisions name them): a person grouping finds next gets
    a new id, on PostgreSQL too (whose own numbering of new rows does not look at ids written)."""
    restored = keepsake.restore(library, keepsake.Keepsake(people={1: "Anna", 2: None}), lambda _: True)
    assert restored.named_people == 1
    ids = [add_photo(library, f"b{i}.jpg", ["bob"]) for i in range(3)]
    assert people.regroup(library) == 3
    bob = people.faces(library, [ids[0]])[0].person
    assert bob is not None and bob > 2


WRITER = """
import resource, signal, sys
from photobird.library import keepsake
from photobird.library.store import Library
lib = Library(sys.argv[1])
if sys.argv[2] == "killed":
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # (Python ignores it: a write past the limit then fails)
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
try:
    keepsake.save(lib)
except keepsake.KeepsakeError as e:
    print(e)
    sys.exit(5)
"""


@pytest.mark.parametrize("how", ["killed", "refused"])
def test_a_writer_stopped_half_way_leaves_the_old_keepsake(library: Library, how: str) -> None:
    """A process that dies while it writes the keepsake (a file size limit stops it 64 KB into the file), or
    whose write fails there (a full disk), leaves the keepsake it was replacing whole; the next write succeeds
    and clears what the dead one left."""
    lib = library
    cat = make_catalogue(lib, 50)
    keepsake.save(lib)
    old = (lib.root / KEEPSAKE).read_bytes()
    with lib.session() as s:  # many more labels, not yet kept: the next keepsake is far bigger than 64 KB
        s.execute(UserLabel.__table__.insert(), [{"content_hash": f"e{i:063x}", "label": "bird"} for i in range(9000)])
    lib.close()
    out = subprocess.run(
        [sys.executable, "-c", WRITER, str(lib.root), how], env=environment(lib), capture_output=True, text=True
    )
    if how == "killed":
        assert out.returncode == -signal.SIGXFSZ, out.stderr
        assert list(lib.root.glob(f".{KEEPSAKE}.*.tmp")), "the writer died before it wrote anything"
    else:
        assert out.returncode == 5, out.stderr
        one_sentence(out.stdout.strip())
        assert "could not be written" in out.stdout and not list(lib.root.glob(f".{KEEPSAKE}.*.tmp"))
    assert (lib.root / KEEPSAKE).read_bytes() == old
    assert keepsake.load(lib.root).labels == cat.user
    with reopened(lib) as lib:
        keepsake.save(lib)
        assert len(kept(lib).labels) == len(cat.user) + 9000
        assert not list(lib.root.glob(f".{KEEPSAKE}.*.tmp"))


# --------------------------------------------------------------------------------------------------------------
# a damaged catalogue is refused in one sentence


@pytest.mark.sqlite_only(DAMAGED_FILE)
@pytest.mark.parametrize("how", list(Damage))
def test_a_damaged_catalogue_is_refused_in_one_sentence(tmp_path: Path, how: Damage) -> None:
    lib = Library(tmp_path / "library")
    cat = make_catalogue(lib, 600)
    photo = next(p for p in cat.photos if p["state"] == "indexed")
    catalogue.set_user_label(lib, [photo["id"]], "bird")  # writes the keepsake
    lib.close()
    damage(lib.root, how)
    with pytest.raises(CatalogueDamaged) as refused:
        Library(lib.root)
    message = str(refused.value)
    one_sentence(message)
    assert f"The catalogue of the library at {lib.root} is " in message
    assert "your labels and names are safe in keepsake.json" in message
    assert f"photobird --library {lib.root} repair" in message


@pytest.mark.sqlite_only(DAMAGED_FILE)
def test_without_a_keepsake_the_sentence_promises_nothing(tmp_path: Path) -> None:
    lib = Library(tmp_path / "library")
    make_catalogue(lib, 600)
    lib.close()
    damage(lib.root, Damage.GARBAGE)
    with pytest.raises(CatalogueDamaged) as refused:
        Library(lib.root)
    one_sentence(str(refused.value))
    assert "safe" not in str(refused.value) and "repair" in str(refused.value)


@pytest.mark.sqlite_only(DAMAGED_FILE)
def test_in_a_big_catalogue_the_read_that_meets_the_damage_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catalogue too big to read whole at every opening opens on a sound header; the first read of a damaged
    page raises the same sentence, not SQLite's error (through a session, and through a search's connection)."""
    lib = Library(tmp_path / "library")
    make_catalogue(lib, 600)
    lib.close()
    damage_tables(lib.root, "photo_labels", "ix_photo_labels_word_p_taken")  # the words, and their index
    monkeypatch.setattr("photobird.library.db.sqlite.CHECK_WHOLE_BYTES", 0)
    lib = Library(lib.root)
    assert catalogue.user_labels(lib)  # the tables that are sound are read
    with pytest.raises(CatalogueDamaged):
        catalogue.word_counts(lib)
    with pytest.raises(CatalogueDamaged):
        Searcher(lib).search("dog")
    lib.close()


# --------------------------------------------------------------------------------------------------------------
# repair


@pytest.fixture(scope="module")
def faces() -> FaceAnalyzer:
    return FaceAnalyzer(Models(device="cpu", with_head=False, with_labels=False).device)


def state_by_file(lib: Library) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """Each photo's label, and the name of each photo's face (the photos here have one face at most)."""
    with lib.session() as s:
        ids = dict(s.execute(select(Photo.path, Photo.id)).all())
    briefs = catalogue.briefs(lib, ids.values())
    labels = {Path(b.path).name: b.user_label for b in briefs.values()}
    return labels, {Path(f.path).name: f.name for f in people.faces(lib)}


@pytest.mark.sqlite_only(DAMAGED_FILE)
def test_repair_brings_back_every_label_and_name(tmp_path: Path, models: Models, faces: FaceAnalyzer) -> None:
    photos = tmp_path / "photos"
    truth = copy_lfw(photos, lfw(2, 2))
    birds = copy_real(photos, 1, 1)
    lib = Library(tmp_path / "library")
    scan.add_folder(lib, photos)
    index(lib, models, faces=faces)
    ids = {Path(p).name: i for p, i in _photo_ids(lib).items()}
    for name, is_bird in birds.items():
        catalogue.set_user_label(lib, [ids[name]], "bird" if is_bird else "not-bird")
    catalogue.set_user_label(lib, [ids[sorted(truth)[0]]], "not-bird")
    found = {Path(f.path).name: f for f in people.faces(lib)}
    subjects = sorted(set(truth.values()))
    first = [n for n in sorted(truth) if truth[n] == subjects[0]]
    second = [n for n in sorted(truth) if truth[n] == subjects[1]]
    people.name_person(lib, found[first[0]].person, "Anna")
    people.name_person(lib, found[second[0]].person, "Bob")
    people.move_face(lib, found[second[1]].id, found[first[0]].person)  # the user says this one is Anna
    before = state_by_file(lib)
    assert before[1] == {first[0]: "Anna", first[1]: "Anna", second[0]: "Bob", second[1]: "Anna"}
    lib.close()

    damage(lib.root, Damage.TRUNCATED)
    with pytest.raises(CatalogueDamaged):
        Library(lib.root)
    repaired = repair.repair(lib.root)
    assert repaired is not None and repaired.source is repair.Source.KEEPSAKE
    assert (repaired.restored.folders, repaired.restored.labels, repaired.restored.named_people) == (1, 3, 2)
    assert repaired.photos == len(truth) + len(birds)
    assert repaired.set_aside[0].name.startswith(f"{CATALOGUE}.damaged-")
    assert all(p.exists() for p in repaired.set_aside)
    assert any(line.startswith("Restored 1 folder, 3 labels, 2 named people") for line in repaired.report())

    lib = Library(lib.root)
    index(lib, models, faces=faces)
    assert state_by_file(lib) == before
    with lib.session() as s:  # the faces were found again, not copied from anywhere
        assert s.scalar(select(func.count()).select_from(Face)) == len(truth)
    assert repair.repair(lib.root) is None  # sound now: nothing to do
    lib.close()


def _photo_ids(lib: Library) -> dict[str, int]:
    with lib.session() as s:
        return dict(s.execute(select(Photo.path, Photo.id)).all())


@pytest.mark.sqlite_only(DAMAGED_FILE)
@pytest.mark.parametrize("keepsake_file", ["none", "damaged"])
def test_without_a_usable_keepsake_repair_salvages_what_it_can(tmp_path: Path, keepsake_file: str) -> None:
    """A library damaged before it wrote a keepsake (or with the keepsake damaged too): the tables that can still
    be read come back, and the repair says which could not."""
    lib = Library(tmp_path / "library")
    cat = make_catalogue(lib, 300)
    lib.close()
    if keepsake_file == "damaged":
        (lib.root / KEEPSAKE).write_text('{"format": 1, "labels": {"abc"')
    damage_tables(lib.root, "photos", "face_decisions")
    with pytest.raises(CatalogueDamaged):
        Library(lib.root)
    repaired = repair.repair(lib.root)
    assert repaired is not None and repaired.source is repair.Source.SALVAGED
    assert repaired.lost == ["face decisions"]
    assert repaired.restored.labels == len(cat.user) and repaired.restored.folders == 1
    assert repaired.restored.versions == 0  # their weights files are not in the library: not usable
    if keepsake_file == "damaged":
        assert repaired.keepsake_problem and "cannot be read" in repaired.keepsake_problem
        assert any(p.name.startswith(f"{KEEPSAKE}.damaged-") for p in repaired.set_aside)
    lib = Library(lib.root)
    assert catalogue.user_labels(lib) == cat.user
    assert [f.path for f in scan.list_folders(lib)] == ["/photos"]
    assert kept(lib).labels == cat.user  # and kept again
    lib.close()
