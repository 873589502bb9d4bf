"""``photobird index --watch`` with a real watchdog observer: copies, moves and deletes reach the catalogue."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select, text

from photobird.library import scan
from photobird.library.db.engines import EngineKind
from photobird.library.schema import Photo, PhotoState
from photobird.library.store import Library
from tests.library.conftest import environment

pytestmark = pytest.mark.both_engines


def small_jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    arr = (rng.random((72, 96, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def catalogue_paths(lib: Library) -> set[str]:
    with lib.session() as s:
        return {os.fsdecode(p) for p in s.scalars(select(Photo.path).where(Photo.state == PhotoState.INDEXED))}


def disk_paths(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*.jpg")}


def wait_until_equal(lib: Library, root: Path, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if catalogue_paths(lib) == disk_paths(root):
            return time.monotonic() - start
        time.sleep(0.25)
    missing = disk_paths(root) - catalogue_paths(lib)
    extra = catalogue_paths(lib) - disk_paths(root)
    raise AssertionError(f"catalogue differs from disk after {timeout} s: {len(missing)} missing, {len(extra)} extra")


def test_watcher_follows_copies_moves_and_deletes(tmp_path: Path, library: Library) -> None:
    root = tmp_path / "photos"
    (root / "in").mkdir(parents=True)
    (root / "moved").mkdir()
    for i in range(5):
        (root / f"start-{i}.jpg").write_bytes(small_jpeg(10_000 + i))
    lib = library
    scan.add_folder(lib, root)
    proc = subprocess.Popen(
        [sys.executable, "-m", "photobird", "index", "--watch"],
        env=environment(lib),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_equal(lib, root, 120)

        # 500 files copied in (written in chunks, like a copy in progress)
        for i in range(500):
            data = small_jpeg(i)
            with open(root / "in" / f"photo-{i:03d}.jpg", "wb") as f:
                f.write(data[: len(data) // 2])
                f.flush()
                f.write(data[len(data) // 2 :])
        took_copy = wait_until_equal(lib, root, 300)

        # 100 moved (renamed into another folder), 100 deleted
        for i in range(100):
            os.rename(root / "in" / f"photo-{i:03d}.jpg", root / "moved" / f"renamed-{i:03d}.jpg")
        for i in range(100, 200):
            os.unlink(root / "in" / f"photo-{i:03d}.jpg")
        took_changes = wait_until_equal(lib, root, 120)
        assert proc.poll() is None, proc.stderr.read().decode()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    with lib.session() as s:
        if lib.kind is EngineKind.SQLITE:  # (the folder's file, written by another process, is sound)
            assert s.scalar(text("PRAGMA integrity_check")) == "ok"
        # deleted photos wait as "missing" for a while (so a move seen as delete + create keeps its results)
        rows = s.execute(
            select(func.count(), func.count(Photo.path.distinct())).where(Photo.state != PhotoState.MISSING)
        ).one()
    assert rows[0] == rows[1] == 5 + 400  # no duplicates, nothing left behind
    print(f"copy of 500 caught up in {took_copy:.1f} s, moves and deletes in {took_changes:.1f} s")
