"""Shared fixtures. Tests never touch the user's home: every data path points into a temporary directory."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from photobird import config


@pytest.fixture(autouse=True)
def _isolated_paths(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("PHOTOBIRD_LIBRARY", str(home / "library"))
    # decoded CIFAR arrays are worth keeping between tests of one session
    monkeypatch.setenv("PHOTOBIRD_CACHE", str(_session_cache(tmp_path_factory)))
    monkeypatch.setenv("PHOTOBIRD_DEVICE", os.environ.get("PHOTOBIRD_TEST_DEVICE", "cpu"))


_CACHE: Path | None = None


def _session_cache(factory: pytest.TempPathFactory) -> Path:
    global _CACHE
    if _CACHE is None:
        _CACHE = factory.mktemp("cache")
    return _CACHE


def shared_data() -> Path:
    return config.shared_data_dir()


def real_photos() -> Path:
    path = config.real_photos_dir()
    if not (path / "labels.csv").is_file():
        pytest.fail(f"shared data not found at {path}; set PHOTOBIRD_DATA")
    return path


@pytest.fixture
def make_read_only() -> Iterator[Callable[[Path], None]]:
    """Makes a folder and everything in it read-only for this process, as a library on a read-only share or
    owned by another user is; undone after the test.

    Root ignores permission bits (``os.access`` says yes and writes succeed), so as root the folder and its files
    are made immutable (``chattr +i``) instead, which even root cannot write through; where that is not possible
    the test is skipped, saying why.
    """
    as_root = os.geteuid() == 0
    done: list[Path] = []

    def make(folder: Path) -> None:
        if as_root:
            try:
                out = subprocess.run(["chattr", "-R", "+i", str(folder)], capture_output=True, text=True)
            except OSError as e:
                pytest.skip(f"running as root, and chattr (to make {folder} immutable) cannot run: {e}")
            if out.returncode:
                pytest.skip(f"running as root, and {folder} cannot be made immutable: {out.stderr.strip()}")
        else:
            for path in [folder, *folder.rglob("*")]:
                path.chmod(path.stat().st_mode & ~0o222)
        done.append(folder)

    yield make
    for folder in done:
        if as_root:
            subprocess.run(["chattr", "-R", "-i", str(folder)], check=True)
        else:
            for path in [folder, *folder.rglob("*")]:
                path.chmod(path.stat().st_mode | 0o200)
