"""Several ``photobird index`` processes on one PostgreSQL catalogue share the work (each claims its own photos,
``db.claims``): together they leave the catalogue a single SQLite indexer leaves, no photo twice, none lost, also
when one of them is killed mid-run.

Real processes, a real server, the real networks: the shared real photos plus a thousand small generated ones.
"""

from __future__ import annotations

import os
import select as io_select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from bench.generated_photos import generate
from photobird.library import scan
from photobird.library.db import locks
from photobird.library.schema import (
    BirdScore,
    Embedding,
    Face,
    ModelVersion,
    Photo,
    PhotoAnalysis,
    PhotoLabel,
    PhotoLooks,
    Word,
)
from photobird.library.store import Library, LibraryBusy, LockMode

from .conftest import copy_real, real_rows

pytestmark = pytest.mark.slow

GENERATED = 1000
#: The victim's connections are named, so the test can see when it holds a claim and has committed one.
VICTIM = "photobird-victim"


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("indexers") / "photos"
    rows = real_rows()
    copy_real(root / "real", sum(r["is_bird"] == "1" for r in rows), sum(r["is_bird"] == "0" for r in rows))
    generate(root / "generated", GENERATED)
    return root


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PHOTOBIRD_DATABASE", "PHOTOBIRD_LIBRARY")}
    return {**env, "PHOTOBIRD_DEVICE": "cpu"}


def _indexer(library: Path, database: str | None = None) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "photobird", "--library", str(library)]
    if database:
        command += ["--database", database]
    return subprocess.Popen(
        [*command, "index"], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )


@dataclass
class Results:
    """A catalogue's results by path, for comparing catalogues whose ids differ."""

    photos: dict[str, tuple[str, str | None]]  # path -> (state, content hash)
    labels: dict[str, dict[str, float]]  # path -> word -> probability
    bird: dict[str, float]  # path -> the active model's score
    faces: dict[str, int]  # path -> how many faces
    analysed: dict[str, int]  # analyzer -> how many photos it went through


def results(lib: Library) -> Results:
    with lib.session() as s:
        photos = {p: (str(st), h) for p, st, h in s.execute(select(Photo.path, Photo.state, Photo.content_hash))}
        labels: dict[str, dict[str, float]] = {}
        for path, word, p in s.execute(
            select(Photo.path, Word.word, PhotoLabel.p).join(Photo, Photo.id == PhotoLabel.photo_id).join(Word)
        ):
            labels.setdefault(path, {})[word] = p
        bird = dict(
            s.execute(
                select(Photo.path, BirdScore.score)
                .join(Photo, Photo.id == BirdScore.photo_id)
                .join(ModelVersion, ModelVersion.id == BirdScore.model_id)
                .where(ModelVersion.active.is_(True))
            ).all()
        )
        faces = dict(
            s.execute(
                select(Photo.path, func.count(Face.id)).join(Face, Face.photo_id == Photo.id).group_by(Photo.path)
            ).all()
        )
        analysed = dict(s.execute(select(PhotoAnalysis.analyzer, func.count()).group_by(PhotoAnalysis.analyzer)).all())
    return Results(photos, labels, bird, faces, analysed)


def duplicates(lib: Library) -> dict[str, tuple[int, int]]:
    """For each table whose rows must be one per key: (rows, distinct keys)."""
    keys = {
        "photos": (Photo, [Photo.path]),
        "embeddings": (Embedding, [Embedding.photo_id]),
        "bird_scores": (BirdScore, [BirdScore.photo_id, BirdScore.model_id]),
        "photo_labels": (PhotoLabel, [PhotoLabel.photo_id, PhotoLabel.word_id]),
        "photo_analyses": (PhotoAnalysis, [PhotoAnalysis.photo_id, PhotoAnalysis.analyzer]),
        "photo_looks": (PhotoLooks, [PhotoLooks.photo_id]),
        "faces": (Face, [Face.photo_id, Face.left, Face.top, Face.right, Face.bottom]),
        "words": (Word, [Word.word]),
    }
    out = {}
    with lib.session() as s:
        for name, (table, cols) in keys.items():
            distinct_keys = select(*cols).distinct().subquery()  # (SQLite counts no DISTINCT of several columns)
            out[name] = (
                s.scalar(select(func.count()).select_from(table)),
                s.scalar(select(func.count()).select_from(distinct_keys)),
            )
    return out


@pytest.fixture(scope="module")
def reference(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Results:
    """What one indexer leaves in an SQLite catalogue (once for the module: it is the slow part)."""
    root = tmp_path_factory.mktemp("reference") / "library"
    with Library(root) as lib:
        scan.add_folder(lib, photos)
    proc = _indexer(root)
    _, err = proc.communicate(timeout=1800)
    assert proc.returncode == 0, err.decode()
    with Library(root) as lib:
        assert all(rows == keys for rows, keys in duplicates(lib).values())
        return results(lib)


def _same(got: Results, want: Results) -> None:
    assert got.photos == want.photos  # every photo, indexed, with the same content
    assert len(want.photos) == len(real_rows()) + GENERATED
    assert got.faces == want.faces
    assert got.analysed == want.analysed == {"faces": len(want.photos), "looks": len(want.photos)}
    assert set(got.bird) == set(want.bird)
    for path, score in want.bird.items():
        assert got.bird[path] == pytest.approx(score, abs=1e-3), path
    assert set(got.labels) == set(want.labels)
    for path, words in want.labels.items():
        strong = {w: p for w, p in words.items() if p > 0.1}
        assert set(strong) <= set(got.labels[path]), path
        for w, p in strong.items():
            assert got.labels[path][w] == pytest.approx(p, abs=1e-3), (path, w)


def _shared(tmp_path: Path, photos: Path, postgres_url: str) -> Library:
    lib = Library(tmp_path / "setup", database=postgres_url)
    scan.add_folder(lib, photos)
    return lib


def _finish(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        _, err = proc.communicate(timeout=1800)
        assert proc.returncode == 0, err.decode()


def test_two_indexers_equal_one(tmp_path: Path, photos: Path, postgres_url: str, reference: Results) -> None:
    lib = _shared(tmp_path, photos, postgres_url)
    _finish([_indexer(tmp_path / f"library{i}", postgres_url) for i in range(2)])
    assert all(rows == keys for rows, keys in duplicates(lib).values()), duplicates(lib)
    _same(results(lib), reference)
    lib.close()


def _victim_transactions(lib: Library) -> set[str]:
    """The victim's open writing transactions that wait between statements: its claims."""
    with lib.connect() as c:
        return set(
            c.scalars(
                text(
                    "SELECT backend_xid::text FROM pg_stat_activity WHERE application_name = :name "
                    "AND state = 'idle in transaction' AND backend_xid IS NOT NULL"
                ),
                {"name": VICTIM},
            )
        )


def test_four_indexers_one_killed_mid_run(tmp_path: Path, photos: Path, postgres_url: str, reference: Results) -> None:
    lib = _shared(tmp_path, photos, postgres_url)
    victim_url = f"{postgres_url}?application_name={VICTIM}"
    procs = [_indexer(tmp_path / f"library{i}", postgres_url) for i in range(3)]
    victim = _indexer(tmp_path / "victim", victim_url)
    # killed once a claim it held is committed (its work is in) and it holds another (its work in hand)
    seen: set[str] = set()
    start = time.monotonic()
    while True:
        assert victim.poll() is None, f"the victim ended before it was killed: {victim.stderr.read().decode()}"
        assert time.monotonic() - start < 900, "the victim never committed a claim"
        now = _victim_transactions(lib)
        if now and seen - now:
            break
        seen |= now
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    _finish(procs)
    assert all(rows == keys for rows, keys in duplicates(lib).values()), duplicates(lib)
    _same(results(lib), reference)
    lib.close()


def test_one_watcher_at_a_time_and_the_next_takes_over(tmp_path: Path, postgres_url: str) -> None:
    first = Library(tmp_path / "first", database=postgres_url)
    second = Library(tmp_path / "second", database=postgres_url)
    with first.indexer_lock(LockMode.WATCHING):
        with pytest.raises(LibraryBusy) as busy, second.indexer_lock(LockMode.WATCHING):
            pass
        assert busy.value.takes_over
        assert str(busy.value).startswith("Another computer (or another PhotoBird on this one) is watching")
        assert "this one takes over when it stops" in str(busy.value)
        with second.indexer_lock(LockMode.INDEXING), first.indexer_lock(LockMode.INDEXING):
            pass  # indexers run alongside the watcher, and alongside each other
    # the first stopped: the second's turn
    with second.indexer_lock(LockMode.WATCHING), pytest.raises(LibraryBusy), first.indexer_lock(LockMode.WATCHING):
        pass
    first.close()
    second.close()


def _watching(lib: Library, name: str) -> bool:
    """Whether the process whose connections are named ``name`` holds the watchers' lock."""
    key = int(locks.Key.WATCHING)
    with lib.connect() as c:
        return bool(
            c.scalar(
                text(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.granted "
                    "AND l.locktype = 'advisory' AND l.classid::bigint = :high AND l.objid::bigint = :low "
                    "AND a.application_name = :name"
                ),
                {"high": key >> 32, "low": key & 0xFFFFFFFF, "name": name},
            )
        )


def _ended(proc: subprocess.Popen[bytes], timeout: float = 120) -> int:
    """``proc``'s exit status once it ends; if it has not ended in ``timeout`` seconds, the test fails with
    what each of its threads was doing (the CLI prints that on SIGUSR1)."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(3)
        proc.kill()
        _, stderr = proc.communicate()
        pytest.fail(f"it did not end within {timeout:.0f} s of being stopped; its threads:\n{stderr.decode()}")


def test_a_second_watch_says_who_watches_and_takes_over(tmp_path: Path, postgres_url: str) -> None:
    lib = Library(tmp_path / "setup", database=postgres_url)
    (tmp_path / "photos").mkdir()
    scan.add_folder(lib, tmp_path / "photos")

    def watcher(name: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "photobird", "--library", str(tmp_path / name)]
        command += ["--database", f"{postgres_url}?application_name={name}", "index", "--watch"]
        # (Ctrl+C as at a terminal: a test run started in the background, as by nohup, passes SIGINT on ignored,
        # and Python leaves an ignored SIGINT ignored, so the watcher would never hear it)
        return subprocess.Popen(
            command,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )

    first = watcher("first")
    second = None
    try:
        start = time.monotonic()
        while not _watching(lib, "first"):
            assert first.poll() is None, first.stderr.read().decode()
            assert time.monotonic() - start < 120, "the first watcher never started watching"
            time.sleep(0.1)
        second = watcher("second")
        # it says so and waits (nothing else comes on its stderr before its turn)
        assert io_select.select([second.stderr], [], [], 120)[0], "the second watcher said nothing"
        said = second.stderr.readline().decode()
        assert said.startswith(
            "photobird: Another computer (or another PhotoBird on this one) is watching the catalogue"
        )
        assert said.rstrip().endswith("this one takes over when it stops.")
        assert not _watching(lib, "second")
        first.send_signal(signal.SIGINT)
        assert _ended(first) == 0
        start = time.monotonic()
        while not _watching(lib, "second"):
            assert second.poll() is None, second.stderr.read().decode()
            assert time.monotonic() - start < 60, "the second watcher never took over"
            time.sleep(0.1)
        second.send_signal(signal.SIGINT)
        assert _ended(second) == 0
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    lib.close()
