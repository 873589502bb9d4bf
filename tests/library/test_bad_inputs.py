"""A corpus of bad files: indexing finishes, and each file is either indexed or listed with a reason."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photobird import config
from photobird.library import catalogue, scan
from photobird.library.index import Indexer, index
from photobird.library.search import search
from photobird.library.store import Library

from .conftest import copy_real

pytestmark = pytest.mark.both_engines


def jpeg(w: int, h: int, seed: int = 0) -> bytes:
    arr = (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def build_corpus(root: Path) -> dict[str, str]:
    """Writes the bad-input corpus; returns file name -> what it is."""
    root.mkdir(parents=True)
    what: dict[str, str] = {}

    def put(name: str, data: bytes, desc: str) -> None:
        (root / name).write_bytes(data)
        what[name] = desc

    good = jpeg(800, 600)
    put("truncated.jpg", good[: len(good) // 3], "truncated JPEG")
    put("zero.jpg", b"", "zero-byte file")
    put("text.jpg", b"this is a text file, not a photo\n" * 20, "text named .jpg")
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG", optimize=True)
    put("bomb.png", bomb.getvalue(), "decompression bomb")
    for f in sorted((config.shared_data_dir() / "exif-samples" / "jpg" / "invalid").glob("*.jpg")):
        put(f"invalid-{f.name}", f.read_bytes(), "invalid EXIF sample")
    cmyk = io.BytesIO()
    Image.new("CMYK", (300, 200), (0, 200, 200, 0)).save(cmyk, "JPEG")
    put("cmyk.jpg", cmyk.getvalue(), "CMYK JPEG")
    png16 = io.BytesIO()
    Image.fromarray((np.arange(200 * 300, dtype=np.uint32).reshape(200, 300) % 65535).astype(np.uint16)).save(
        png16, "PNG"
    )
    put("sixteen-bit.png", png16.getvalue(), "16-bit PNG")
    frames = [Image.new("RGB", (64, 48), c) for c in ((200, 0, 0), (0, 200, 0), (0, 0, 200))]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    put("animated.gif", gif.getvalue(), "animated GIF")
    put("unreadable.jpg", jpeg(100, 80, 1), "unreadable file")
    os.chmod(root / "unreadable.jpg", 0)
    (root / "loop").symlink_to(root, target_is_directory=True)
    what["loop"] = "symlink loop"
    (root / "dangling.jpg").symlink_to(root / "does-not-exist.jpg")
    what["dangling.jpg"] = "broken symbolic link"
    odd = os.fsencode(str(root)) + b"/caf\xe9-latin1-name.jpg"  # not valid UTF-8
    with open(odd, "wb") as f:
        f.write(jpeg(120, 90, 2))
    what[os.fsdecode(b"caf\xe9-latin1-name.jpg")] = "non-UTF-8 file name"
    put("huge-dimensions.png", _huge_png(), "huge dimensions (header only)")
    return what


def _huge_png() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (30000, 30000)).save(buf, "PNG", optimize=True)
    return buf.getvalue()


def test_bad_corpus_never_crashes_and_every_file_is_accounted_for(tmp_path: Path, library: Library, models) -> None:
    root = tmp_path / "bad"
    what = build_corpus(root)
    copy_real(root, 1, 1)  # and two good photos among them
    (root / "deleted-before-read.jpg").write_bytes(jpeg(200, 150, 3))
    (root / "being-written.jpg").write_bytes(jpeg(1600, 1200, 4)[:20000])
    scan.add_folder(library, root)

    # a file deleted between scan and read, and one still being written while indexing runs
    gen = Indexer(library, models, workers=1, batch_size=2).run()

    def writer() -> None:
        data = jpeg(1600, 1200, 4)
        with open(root / "being-written.jpg", "ab") as f:
            for i in range(20000, len(data), 4000):
                f.write(data[i : i + 4000])
                f.flush()
                time.sleep(0.01)

    t = None
    for p in gen:
        if p.phase == "indexing" and t is None:
            (root / "deleted-before-read.jpg").unlink()
            t = threading.Thread(target=writer)
            t.start()
    assert t is not None

    errors = dict(catalogue.errors(library))
    indexed = {Path(b.path).name for b in catalogue.briefs(library, [h.photo_id for h in search(library, "")]).values()}
    for name, desc in what.items():
        if name == "loop":
            continue
        path = str(root / name)
        assert name in indexed or path in errors, f"{desc} ({name}) neither indexed nor listed as an error"
        if path in errors:
            assert errors[path], desc
    assert "truncated" in errors[str(root / "truncated.jpg")]
    assert "empty" in errors[str(root / "zero.jpg")]
    assert "not an image" in errors[str(root / "text.jpg")]
    assert "bomb" in errors[str(root / "bomb.png")] or "too large" in errors[str(root / "bomb.png")]
    assert "broken symbolic link" in errors[str(root / "dangling.jpg")]
    for name in ("cmyk.jpg", "sixteen-bit.png", "animated.gif", os.fsdecode(b"caf\xe9-latin1-name.jpg")):
        assert name in indexed, name
    assert catalogue.photo_id_for_path(library, root / "deleted-before-read.jpg") is None  # gone is gone
    # the half-written file: either it was caught while growing (listed) or read once complete (indexed)
    assert "being-written.jpg" in indexed or str(root / "being-written.jpg") in errors

    # once it is complete, the next run picks it up
    t.join()
    summary = index(library, models)
    assert summary.failed >= 0
    assert (
        catalogue.info(library, catalogue.photo_id_for_path(library, root / "being-written.jpg"))["state"] == "indexed"
    )


def test_cli_errors_lists_reasons(tmp_path: Path) -> None:
    root = tmp_path / "bad"
    root.mkdir()
    (root / "text.jpg").write_text("nope")
    (root / "zero.png").write_bytes(b"")
    shutil.copy2(next(config.real_photos_dir().glob("*.JPEG")), root / "good.jpg")
    lib = tmp_path / "lib"
    env = {**os.environ, "PHOTOBIRD_LIBRARY": str(lib)}
    run = [sys.executable, "-m", "photobird"]
    subprocess.run([*run, "folders", "add", str(root)], check=True, env=env, capture_output=True)
    out = subprocess.run([*run, "index", "--json"], check=True, env=env, capture_output=True, text=True)
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["indexed"] == 1 and summary["failed"] == 2
    out = subprocess.run([*run, "errors", "--json"], check=True, env=env, capture_output=True, text=True)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert {Path(r["path"]).name for r in rows} == {"text.jpg", "zero.png"}
    assert all(r["error"] for r in rows)


def test_cli_label_refuses_a_file_that_failed_to_index(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    good = jpeg(800, 600)
    (root / "truncated.jpg").write_bytes(good[: len(good) // 3])
    shutil.copy2(next(config.real_photos_dir().glob("*.JPEG")), root / "good.jpg")
    env = {**os.environ, "PHOTOBIRD_LIBRARY": str(tmp_path / "lib")}
    run = [sys.executable, "-m", "photobird"]
    subprocess.run([*run, "folders", "add", str(root)], check=True, env=env, capture_output=True)
    subprocess.run([*run, "index"], check=True, env=env, capture_output=True)

    out = subprocess.run(
        [*run, "label", str(root / "truncated.jpg"), str(root / "good.jpg"), "bird"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    refused = out.stderr.strip().splitlines()
    assert len(refused) == 1 and str(root / "truncated.jpg") in refused[0] and "truncated" in refused[0], refused
    assert out.stdout.strip() == "Marked 1 photo bird."
    stats = subprocess.run([*run, "stats", "--json"], check=True, env=env, capture_output=True, text=True)
    assert json.loads(stats.stdout)["user_bird"] == 1  # the good photo only: the training set has no broken file

    out = subprocess.run([*run, "label", str(root / "good.jpg"), "clear"], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "Cleared the mark of 1 photo."
