"""Kill an indexing process mid-run (SIGKILL), restart it: nothing committed is lost, nothing is duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from photobird.library import catalogue, scan
from photobird.library.db.engines import DATABASE_ENV, EngineKind
from photobird.library.index import index
from photobird.library.schema import Photo, PhotoState
from photobird.library.store import Library

from .conftest import copy_real, reopened

pytestmark = pytest.mark.both_engines


def snapshot(lib: Library) -> dict[str, dict]:
    """The catalogue's content by path, for comparing two libraries."""
    out = {}
    with lib.session() as s:
        ids = list(s.scalars(select(Photo.id)))
    for pid in ids:
        info = catalogue.info(lib, pid)
        out[info["path"]] = info
    return out


def indexed_count(lib: Library) -> int:
    try:
        with lib.connect() as c:
            return c.scalar(select(func.count()).select_from(Photo).where(Photo.state == PhotoState.INDEXED)) or 0
    except OperationalError:  # (SQLite: the indexer's write lock held a moment too long)
        return 0


def test_sigkill_mid_run_then_resume_equals_clean_run(tmp_path: Path, library: Library, models) -> None:
    photos = tmp_path / "photos"
    first = copy_real(photos / "first", 2, 4)
    lib = library
    scan.add_folder(lib, photos)
    index(lib, models)
    labelled = {}
    for name, label in zip(sorted(first)[:3], ["bird", "not-bird", "bird"], strict=True):
        pid = catalogue.photo_id_for_path(lib, photos / "first" / name)
        catalogue.set_user_label(lib, [pid], label)
        labelled[name] = label
    # many more photos arrive
    rows = copy_real(photos / "more", 16, 200)  # enough that a run spans several commits
    more = {n for n in rows if n not in first}
    assert len(more) >= 40

    env = {**os.environ, "PHOTOBIRD_LIBRARY": str(lib.root)}
    env.pop(DATABASE_ENV, None)
    if lib.kind is EngineKind.POSTGRESQL:
        env[DATABASE_ENV] = lib.url.render_as_string(hide_password=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "photobird", "index"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    start = time.monotonic()
    base = indexed_count(lib)
    while indexed_count(lib) < base + 10:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() - start < 300, "indexing made no progress"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after = reopened(lib)  # as the next process opens it
    killed_at = indexed_count(after)
    assert killed_at < base + len(more), "the run finished before it could be killed"

    if after.kind is EngineKind.SQLITE:
        with after.connect() as c:
            assert c.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    for name, label in labelled.items():
        pid = catalogue.photo_id_for_path(after, photos / "first" / name)
        assert catalogue.info(after, pid)["user_label"] == label

    # restart in a fresh process: it resumes and finishes
    subprocess.run([sys.executable, "-m", "photobird", "index"], env=env, check=True, capture_output=True)

    clean = Library(tmp_path / "clean")
    scan.add_folder(clean, photos)
    index(clean, models)
    for name, label in labelled.items():  # the same labels, given to the clean library
        catalogue.set_user_label(clean, [catalogue.photo_id_for_path(clean, photos / "first" / name)], label)

    a, b = snapshot(after), snapshot(clean)
    assert set(a) == set(b)
    for path in a:
        x, y = a[path], b[path]
        for key in ("state", "content_hash", "width", "height", "format", "user_label", "is_bird", "folder"):
            assert x[key] == y[key], (path, key)
        assert x["bird"] == pytest.approx(y["bird"], abs=1e-3)
        strong = {w for w, p in y["labels"].items() if p > 0.1}
        assert strong <= set(x["labels"]), path
        for w in strong:
            assert x["labels"][w] == pytest.approx(y["labels"][w], abs=1e-3)
    after.close()
    clean.close()
