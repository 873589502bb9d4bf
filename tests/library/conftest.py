from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from photobird import config
from photobird.library.store import Library
from photobird.models.runner import Models


@pytest.fixture(scope="session")
def models() -> Models:
    """The real shipped networks, loaded once for the whole test session."""
    return Models(device="cpu", threads=2)


@pytest.fixture
def library(tmp_path: Path) -> Library:
    lib = Library(tmp_path / "library")
    yield lib
    lib.close()


def real_rows() -> list[dict[str, str]]:
    path = config.real_photos_dir() / "labels.csv"
    return list(csv.DictReader(open(path)))


def copy_real(dst: Path, n_birds: int, n_other: int) -> dict[str, bool]:
    """Copy some real photos into ``dst``; returns file name -> is bird."""
    dst.mkdir(parents=True, exist_ok=True)
    rows = real_rows()
    birds = [r for r in rows if r["is_bird"] == "1"][:n_birds]
    others = [r for r in rows if r["is_bird"] == "0"][:n_other]
    out = {}
    for r in birds + others:
        shutil.copy2(config.real_photos_dir() / r["file"], dst / r["file"])
        out[r["file"]] = r["is_bird"] == "1"
    return out
