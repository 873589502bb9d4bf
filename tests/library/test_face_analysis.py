"""The faces phase with the real networks on real photos: it runs after the main index and only where needed,
what the user decided survives everything, a SIGKILL loses nothing, and bad photos do not stop it."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select, text

from photobird import config
from photobird.library import catalogue, people, scan
from photobird.library import index as index_mod
from photobird.library.db.engines import EngineKind
from photobird.library.index import Indexer, index
from photobird.library.schema import AnalyzerKind, Embedding, Face, PhotoAnalysis, PhotoLabel
from photobird.library.search import search
from photobird.library.store import Library, SettingKey
from photobird.models.faces.analyzer import FaceAnalyzer
from photobird.models.runner import Models
from tests.library.conftest import Libraries, environment

pytestmark = pytest.mark.both_engines

FACES_DEV = config.shared_data_dir() / "faces-dev"


@pytest.fixture(scope="module")
def faces() -> FaceAnalyzer:
    return FaceAnalyzer(Models(device="cpu", with_head=False, with_labels=False).device)


def lfw(n_people: int, per_person: int, strangers: int = 0) -> list[tuple[str, str]]:
    """(file, person) of some faces-dev photos: ``per_person`` of each of ``n_people`` people, and strangers."""
    if not (FACES_DEV / "labels.csv").is_file():
        pytest.skip(f"shared faces-dev photos not found at {FACES_DEV}; set PHOTOBIRD_DATA")
    with open(FACES_DEV / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    by_person: dict[str, list[str]] = {}
    for r in rows:
        if r["person"]:
            by_person.setdefault(r["person"], []).append(r["file"])
    chosen = [(name, p) for p in sorted(by_person)[:n_people] for name in sorted(by_person[p])[:per_person]]
    return chosen + [(r["file"], "") for r in rows if not r["person"]][:strangers]


def copy_lfw(dst: Path, chosen: list[tuple[str, str]]) -> dict[str, str]:
    dst.mkdir(parents=True, exist_ok=True)
    for name, _ in chosen:
        shutil.copy2(FACES_DEV / name, dst / name)
    return dict(chosen)


def person_by_file(lib: Library) -> dict[str, int | None]:
    """The person of each photo's most central face (LFW centres its subject)."""
    out: dict[str, tuple[float, int | None]] = {}
    for f in people.faces(lib):
        cx, cy = (f.box[0] + f.box[2]) / 2 - 0.5, (f.box[1] + f.box[3]) / 2 - 0.5
        d = cx * cx + cy * cy
        name = Path(f.path).name
        if name not in out or d < out[name][0]:
            out[name] = (d, f.person)
    return {n: p for n, (_, p) in out.items()}


def test_faces_join_a_library_indexed_before_them_without_touching_it(
    tmp_path: Path, library: Library, models: Models, faces: FaceAnalyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = tmp_path / "photos"
    truth = copy_lfw(photos, lfw(2, 3, strangers=2))
    lib = library
    scan.add_folder(lib, photos)
    lib.set_setting(SettingKey.FACES, False)  # a library from before faces: the main index only
    index(lib, models, faces=faces)
    with lib.session() as s:
        assert s.scalar(select(func.count()).select_from(Face)) == 0
        before = (
            sorted((e.photo_id, e.vector) for e in s.scalars(select(Embedding))),
            sorted(s.execute(select(PhotoLabel.photo_id, PhotoLabel.word_id, PhotoLabel.p)).all()),
        )
    # faces arrive: only the faces phase runs; no photo goes through the main index's decode or networks again
    calls = {"read": 0, "analyze": 0}
    real_read, real_analyze = index_mod.read_one, Models.analyze

    def counted_read(*a, **k):
        calls["read"] += 1
        return real_read(*a, **k)

    def counted_analyze(self, batch):
        calls["analyze"] += 1
        return real_analyze(self, batch)

    monkeypatch.setattr(index_mod, "read_one", counted_read)
    monkeypatch.setattr(Models, "analyze", counted_analyze)
    lib.set_setting(SettingKey.FACES, True)
    summary = index(lib, models, faces=faces)
    assert calls == {"read": 0, "analyze": 0}
    assert (summary.indexed, summary.analysed) == (0, len(truth))
    with lib.session() as s:
        after = (
            sorted((e.photo_id, e.vector) for e in s.scalars(select(Embedding))),
            sorted(s.execute(select(PhotoLabel.photo_id, PhotoLabel.word_id, PhotoLabel.p)).all()),
        )
        analysed = s.scalar(select(func.count()).select_from(PhotoAnalysis).where(PhotoAnalysis.analyzer == "faces"))
    assert after == before
    assert analysed == len(truth)
    # each of the two people is one person, the strangers nobody
    found = person_by_file(lib)
    assert set(found) == set(truth)
    for person in {p for p in truth.values() if p}:
        assert len({found[n] for n, p in truth.items() if p == person}) == 1
    assert all(found[n] is None for n, p in truth.items() if not p)
    # a second run has nothing to do
    assert index(lib, models, faces=faces).analysed == 0


def test_names_merges_and_moves_survive_restart_reanalysis_and_moved_files(
    tmp_path: Path, new_library: Libraries, models: Models, faces: FaceAnalyzer
) -> None:
    photos = tmp_path / "photos"
    truth = copy_lfw(photos, lfw(3, 3))
    lib = new_library(tmp_path / "lib")
    scan.add_folder(lib, photos)
    index(lib, models, faces=faces)
    found = person_by_file(lib)
    subjects = sorted({p for p in truth.values()})
    first = [n for n in sorted(truth) if truth[n] == subjects[0]]
    second = [n for n in sorted(truth) if truth[n] == subjects[1]]
    a, b = found[first[0]], found[second[0]]
    assert a is not None and b is not None and a != b
    people.name_person(lib, a, "Anna")
    people.merge_people(lib, a, b)  # the user says these two are one (they are not: the user wins)
    moved = next(f for f in people.faces(lib) if Path(f.path).name == second[1] and f.person == a)
    people.move_face(lib, moved.id, None)  # and then: not this one
    expected = sorted(n for n in [*first, *second] if n != second[1])

    def anna() -> list[str]:
        return sorted(Path(catalogue.info(lib, h.photo_id)["path"]).name for h in search(lib, "anna"))

    assert anna() == expected
    lib.close()
    # restart, re-analysis by a new version of the face analyzer, moved and renamed files
    lib = new_library(tmp_path / "lib")
    assert anna() == expected
    with lib.session() as s:
        s.execute(PhotoAnalysis.__table__.update().values(version="an-older-analyzer"))
    (photos / "sub").mkdir()
    for n in first[:2]:
        os.rename(photos / n, photos / "sub" / f"renamed-{n}")
    summary = index(lib, models, faces=faces)
    assert summary.analysed == len(truth)
    renamed = {f"renamed-{n}" for n in first[:2]}
    assert anna() == sorted((set(expected) - set(first[:2])) | renamed)
    with lib.session() as s:
        assert s.scalar(select(func.count()).select_from(Face)) == len(people.faces(lib))
    lib.close()


def faces_analysed(lib: Library) -> int:
    """How many photos the faces phase has analysed, as committed (by another process) so far."""
    with lib.session() as s:
        q = select(func.count()).select_from(PhotoAnalysis).where(PhotoAnalysis.analyzer == AnalyzerKind.FACES)
        return s.scalar(q)


def test_sigkill_in_the_faces_phase_then_resume(
    tmp_path: Path, new_library: Libraries, models: Models, faces: FaceAnalyzer
) -> None:
    photos = tmp_path / "photos"
    truth = copy_lfw(photos, lfw(10, 6, strangers=60))
    lib = new_library(tmp_path / "lib")
    scan.add_folder(lib, photos)
    lib.set_setting(SettingKey.FACES, False)
    index(lib, models, faces=faces)  # searchable; faces next, in a process that gets killed
    lib.set_setting(SettingKey.FACES, True)
    env = environment(lib)
    proc = subprocess.Popen(
        [sys.executable, "-m", "photobird", "index"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    start = time.monotonic()
    while faces_analysed(lib) < 10:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() - start < 300, "the faces phase made no progress"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = faces_analysed(lib)
    assert killed_at < len(truth), "the faces phase finished before it could be killed"
    if lib.kind is EngineKind.SQLITE:  # (the folder's file, its writer killed mid-write, is sound)
        with lib.session() as s:
            assert s.scalar(text("PRAGMA integrity_check")) == "ok"
    subprocess.run([sys.executable, "-m", "photobird", "index"], env=env, check=True, capture_output=True)
    assert faces_analysed(lib) == len(truth)
    # the same faces as a clean run: none lost, none twice
    clean = new_library(tmp_path / "clean")
    scan.add_folder(clean, photos)
    index(clean, models, faces=faces)

    def boxes(library: Library) -> list[tuple[str, list[int]]]:
        return sorted((Path(f.path).name, f.pixel_box()) for f in people.faces(library))

    assert boxes(lib) == boxes(clean)
    assert len(people.people(lib)) == len(people.people(clean))


def _face(name: str) -> Image.Image:
    return Image.open(FACES_DEV / name).convert("RGB")


def test_bad_photos_do_not_stop_the_faces_phase(
    tmp_path: Path, library: Library, models: Models, faces: FaceAnalyzer
) -> None:
    (name, _), *_ = lfw(1, 1)
    face = _face(name)
    photos = tmp_path / "photos"
    photos.mkdir()
    # a crowd: the same face 10 x 10 times on one photo, each about 40 pixels tall
    crowd = Image.new("RGB", (1000, 1000))
    tile = face.resize((100, 100))
    for i in range(10):
        for j in range(10):
            crowd.paste(tile, (i * 100, j * 100))
    crowd.save(photos / "crowd.jpg", quality=90)
    # a face cut by the photo's left edge
    face.crop((60, 0, 250, 250)).save(photos / "edge.jpg")
    Image.new("RGB", (5, 5), (200, 150, 120)).save(photos / "tiny.png")
    Image.new("RGB", (1, 2000), (200, 150, 120)).save(photos / "sliver.png")
    face.resize((6000, 6000)).save(photos / "huge.jpg", quality=80)  # 36 megapixels
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (600, 800, 3), dtype=np.uint8)).save(photos / "noise.png")
    (photos / "broken.jpg").write_bytes((FACES_DEV / name).read_bytes()[:2000])
    lib = library
    scan.add_folder(lib, photos)
    summary = Indexer(lib, models, faces=faces).run()
    while True:
        try:
            next(summary)
        except StopIteration as stop:
            result = stop.value
            break
    assert result.analysed == 6  # every photo the main index could read (not the broken one)
    counts = {n: 0 for n in ("crowd.jpg", "edge.jpg", "tiny.png", "sliver.png", "huge.jpg", "noise.png")}
    for f in people.faces(lib):
        counts[Path(f.path).name] += 1
    assert counts["crowd.jpg"] >= 90
    assert counts["edge.jpg"] == 1 and counts["huge.jpg"] == 1
    assert counts["tiny.png"] == counts["sliver.png"] == counts["noise.png"] == 0
    huge = next(f for f in people.faces(lib) if Path(f.path).name == "huge.jpg")
    assert huge.pixel_box()[2] - huge.pixel_box()[0] > 1500  # the box is in the photo's own pixels


def test_a_copy_of_a_photo_gets_its_faces_without_analysing_it(
    tmp_path: Path, library: Library, models: Models, faces: FaceAnalyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = tmp_path / "photos"
    truth = copy_lfw(photos, lfw(1, 3))
    lib = library
    scan.add_folder(lib, photos)
    index(lib, models, faces=faces)
    (person,) = {p for p in person_by_file(lib).values()}
    people.name_person(lib, person, "Anna")
    (photos / "backup").mkdir()
    for name in truth:
        shutil.copy2(photos / name, photos / "backup" / name)
    calls = []
    real = FaceAnalyzer.analyze
    monkeypatch.setattr(FaceAnalyzer, "analyze", lambda self, image: calls.append(1) or real(self, image))
    summary = index(lib, models, faces=faces)
    assert calls == [] and summary.analysed == len(truth)
    by_path = {f.path: f for f in people.faces(lib)}
    for name in truth:
        original, copy = by_path[str(photos / name)], by_path[str(photos / "backup" / name)]
        assert (copy.box, copy.score, copy.person, copy.name) == (original.box, original.score, person, "Anna")
    assert len(search(lib, "anna")) == 2 * len(truth)
