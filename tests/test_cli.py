"""The command line over a real library, as the README tells a user to run it, on the 250 real photos."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from photobird import config
from photobird.models import real_photos


def run(library: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHOTOBIRD_LIBRARY": str(library)}
    return subprocess.run(
        [sys.executable, "-m", "photobird", *args], env=env, capture_output=True, text=True, check=True
    )


def test_folders_add_index_search_bird_label_info(tmp_path: Path) -> None:
    library = tmp_path / "library"
    photos = config.real_photos_dir()
    truth = {str(photos / r["file"]): r["is_bird"] == "1" for r in real_photos.rows()}

    run(library, "folders", "add", str(photos))
    summary = json.loads(run(library, "index", "--json").stdout.strip().splitlines()[-1])
    assert set(summary) >= {"indexed", "unchanged", "removed", "failed", "seconds"}
    assert summary["indexed"] == len(truth) and summary["failed"] == 0

    hits = [json.loads(line) for line in run(library, "search", "bird", "--json").stdout.splitlines()]
    assert all(set(h) >= {"path", "score", "labels"} for h in hits)
    found = {h["path"] for h in hits}
    birds = {p for p, is_bird in truth.items() if is_bird}
    assert found == birds  # all 16 birds and nothing else, as the backbone's bird classes find on photos
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)

    # the user corrects one: "not bird" wins over the model, and info says so
    one = sorted(birds)[0]
    run(library, "label", one, "not-bird")
    again = {json.loads(line)["path"] for line in run(library, "search", "birds", "--json").stdout.splitlines()}
    assert again == birds - {one}
    info = json.loads(run(library, "info", one, "--json").stdout)
    assert info["user_label"] == "not-bird" and info["path"] == one

    # an unchanged library indexes nothing again
    summary = json.loads(run(library, "index", "--json").stdout.strip().splitlines()[-1])
    assert summary["indexed"] == 0 and summary["unchanged"] == len(truth)
    assert json.loads(run(library, "errors", "--json").stdout or "[]") == []
