"""Retraining the bird head on a user's labels: honest counts, inactive versions, switching, guard rails."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps
from sqlalchemy import delete, func, insert, select, text

from photobird import config
from photobird.learn import data as data_mod
from photobird.learn import head as head_mod
from photobird.learn import metrics
from photobird.learn.train import NotEnoughLabels, TrainConfig, in_holdout, readiness, train
from photobird.library import catalogue, scan, versions
from photobird.library.db.engines import EngineKind
from photobird.library.index import index
from photobird.library.schema import BirdScore, Embedding, Photo, PhotoState, UserLabel
from photobird.library.search import search
from photobird.library.store import Library
from photobird.models import files, real_photos
from photobird.models.runner import Models
from tests.library.conftest import Libraries, environment

pytestmark = pytest.mark.both_engines

QUICK = TrainConfig(recipe=head_mod.HeadRecipe(epochs=8), base_limit=1000, folds=3, inner_folds=2)


@pytest.fixture(scope="module")
def models() -> Models:
    return Models(device="cpu", threads=2)


def variants(src: Path, dst: Path, stem: str) -> list[Path]:
    """A photo and three edited copies (mirrored, cropped, brightened): different pictures to the library."""
    im = Image.open(src).convert("RGB")
    w, h = im.size
    out = []
    for i, v in enumerate(
        [
            im,
            ImageOps.mirror(im),
            im.crop((w // 10, h // 10, w - w // 10, h - h // 10)),
            ImageEnhance.Brightness(im).enhance(1.25),
        ]
    ):
        p = dst / f"{stem}-{i}.jpg"
        v.save(p, "JPEG", quality=90)
        out.append(p)
    return out


@pytest.fixture(scope="module")
def labelled_library(
    tmp_path_factory: pytest.TempPathFactory, models: Models, module_libraries: Libraries
) -> tuple[Library, dict[str, bool]]:
    """A library of 64 bird and 64 other photos (the real photos and edited copies), all labelled."""
    root = tmp_path_factory.mktemp("labelled")
    photos = root / "photos"
    photos.mkdir()
    rows = real_photos.rows()
    truth: dict[str, bool] = {}
    birds = [r for r in rows if r["is_bird"] == "1"]
    others = [r for r in rows if r["is_bird"] == "0"][:16]
    for r in birds + others:
        for p in variants(config.real_photos_dir() / r["file"], photos, Path(r["file"]).stem):
            truth[str(p)] = r["is_bird"] == "1"
    lib = module_libraries(root / "library")
    scan.add_folder(lib, photos)
    index(lib, models)
    for path, is_bird in truth.items():
        catalogue.set_user_label(lib, [catalogue.photo_id_for_path(lib, path)], "bird" if is_bird else "not-bird")
    return lib, truth


def test_readiness_explains_what_is_needed() -> None:
    r = readiness(3, 20)
    assert not r.ready and "5 more photos marked bird" in r.message
    assert readiness(8, 8).ready
    assert readiness(50, 50).more_birds == 0


def test_too_few_labels_is_refused_with_an_explanation(tmp_path: Path, library: Library, models: Models) -> None:
    lib = library
    photos = tmp_path / "photos"
    photos.mkdir()
    rows = real_photos.rows()[:6]
    for r in rows:
        (photos / r["file"]).write_bytes((config.real_photos_dir() / r["file"]).read_bytes())
    scan.add_folder(lib, photos)
    index(lib, models)
    catalogue.set_user_label(lib, [catalogue.photo_id_for_path(lib, photos / rows[0]["file"])], "bird")
    with pytest.raises(NotEnoughLabels, match="needs at least"):
        train(lib, models, QUICK)
    assert len(versions.list_versions(lib)) == 1  # nothing saved but the shipped head


def test_holdout_is_fixed_and_stratified_enough() -> None:
    hashes = [f"{i:064x}" for i in range(4000)]
    share = np.mean([in_holdout(h, 0.3) for h in hashes])
    assert 0.27 < share < 0.33
    assert [in_holdout(h, 0.3) for h in hashes[:50]] == [in_holdout(h, 0.3) for h in hashes[:50]]


def test_train_reports_honest_counts_and_saves_an_inactive_version(labelled_library, models: Models) -> None:
    lib, truth = labelled_library
    before_active = versions.active_version(lib)
    result = train(lib, models, QUICK)
    assert result.mode == "hold-out"  # 64 of each class: a fixed hold-out
    ev = result.evaluation
    assert 0 < len(ev.hashes) < len(truth)
    assert all(in_holdout(h, 0.3) for h in ev.hashes)

    # independent recount: truth from the test's own records, scores from the two model files
    y = np.array([truth[p] for p in ev.paths])
    assert (y == ev.is_bird).all()
    emb = np.stack([np.frombuffer(embedding_of(lib, pid), dtype="<f2") for pid in ev.photo_ids]).astype(np.float32)
    new = versions.get_version(lib, result.version)
    new_head = files.load(lib.models_dir / new.file, expect_sha256=new.sha256)
    old_head = versions.load_head(lib, before_active)
    after = metrics.confusion(y, models.score(emb, new_head), new.threshold)
    before = metrics.confusion(y, models.score(emb, old_head), before_active.threshold)
    assert (result.after.tp, result.after.fp, result.after.fn, result.after.tn) == (
        after.tp,
        after.fp,
        after.fn,
        after.tn,
    )
    assert (result.before.tp, result.before.fp, result.before.fn, result.before.tn) == (
        before.tp,
        before.fp,
        before.fn,
        before.tn,
    )
    out = result.as_json()
    assert out["held_out"] == len(ev.hashes) and out["after"]["tp"] == after.tp
    assert set(out) >= {"version", "held_out", "before", "after", "threshold"}

    # stored, inactive; the active model and the scores did not change
    assert not new.active and versions.active_version(lib).id == before_active.id
    trained_on = set(new.info["labels_seen"]["trained_on"])
    assert trained_on.isdisjoint(ev.hashes)  # the new model never saw the held-out photos


def embedding_of(lib: Library, photo_id: int) -> bytes:
    with lib.session() as s:
        return s.scalar(select(Embedding.vector).where(Embedding.photo_id == photo_id))


def test_models_use_switches_rescores_and_search_follows(labelled_library, models: Models) -> None:
    lib, _ = labelled_library
    result = train(lib, models, QUICK)
    out = subprocess.run(
        [sys.executable, "-m", "photobird", "models", "use", result.version],
        env=environment(lib),
        capture_output=True,
        text=True,
        check=True,
    )
    assert "re-scored" in out.stdout
    active = versions.active_version(lib)
    assert active.name == result.version
    head = versions.load_head(lib, active)
    # every indexed photo's stored score is the new head's score of its stored embedding
    with lib.session() as s:
        rows = s.execute(
            select(BirdScore.photo_id, BirdScore.score, Embedding.vector)
            .join(Embedding, Embedding.photo_id == BirdScore.photo_id)
            .where(BirdScore.model_id == active.id)
        ).all()
        n_photos = s.scalar(select(func.count()).select_from(Photo).where(Photo.state == PhotoState.INDEXED))
    assert len(rows) == n_photos
    emb = np.stack([np.frombuffer(v, dtype="<f2") for _, _, v in rows]).astype(np.float32)
    np.testing.assert_allclose([s for _, s, _ in rows], models.score(emb, head), atol=1e-5)
    # search follows the active model (user labels still win, so clear them for this check)
    labels = catalogue.user_labels(lib)
    with lib.session() as s:
        s.execute(delete(UserLabel))
    try:
        by_model = {pid for pid, score, _ in rows if score >= active.threshold}
        assert {h.photo_id for h in search(lib, "bird")} == by_model
    finally:
        with lib.session() as s:
            s.execute(insert(UserLabel), [{"content_hash": h, "label": label} for h, label in labels.items()])
    # and back to the shipped one
    shipped = next(v for v in versions.list_versions(lib) if v.file.startswith("shipped:"))
    versions.activate(lib, models, shipped)
    assert versions.active_version(lib).id == shipped.id


def test_kfold_when_labels_are_few(tmp_path: Path, labelled_library, new_library: Libraries, models: Models) -> None:
    _lib, truth = labelled_library
    small = new_library(tmp_path / "small")
    folder = Path(next(iter(truth))).parent
    scan.add_folder(small, folder)
    index(small, models)
    birds = [p for p, b in truth.items() if b][:12]
    others = [p for p, b in truth.items() if not b][:12]
    for p in birds + others:
        catalogue.set_user_label(small, [catalogue.photo_id_for_path(small, p)], "bird" if p in birds else "not-bird")
    result = train(small, models, QUICK)
    assert result.mode == "k-fold"
    assert len(result.evaluation.hashes) == 24  # every labelled photo scored by a model that did not see it
    c = result.after
    assert c.tp + c.fn == 12 and c.fp + c.tn == 12


def test_killed_training_leaves_model_and_labels_untouched(labelled_library) -> None:
    lib, _ = labelled_library
    active = versions.active_version(lib)
    labels = catalogue.user_labels(lib)
    n_versions = len(versions.list_versions(lib))
    proc = subprocess.Popen(
        [sys.executable, "-m", "photobird", "train", "--keep", "--progress"],
        env=environment(lib),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until it is really training
        if line.startswith("{") and json.loads(line)["phase"] == "training" and json.loads(line)["done"] >= 2:
            break
    else:
        pytest.fail("training never started")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if lib.kind is EngineKind.SQLITE:  # (the folder's file, its writer killed mid-write, is sound)
        with lib.session() as s:
            assert s.scalar(text("PRAGMA integrity_check")) == "ok"
    assert versions.active_version(lib).id == active.id
    assert catalogue.user_labels(lib) == labels
    assert len(versions.list_versions(lib)) in (n_versions, n_versions + 1)  # at most a new inactive one
    assert all(not v.active or v.id == active.id for v in versions.list_versions(lib))


def test_views_are_embedded_once(labelled_library, models: Models) -> None:
    lib, _ = labelled_library
    lab = data_mod.labelled(lib, models)
    assert data_mod.missing_views(lib, models, lab.hashes) == []  # training embedded them
    views = data_mod.stored_views(lib, models, lab.hashes[:3])
    assert all(v.shape == (len(data_mod.VIEWS), models.embedding_dim) for v in views.values())
