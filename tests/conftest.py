"""Shared fixtures. Tests never touch the user's home: every data path points into a temporary directory."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from photobird import config

#: A real PostgreSQL server for the tests that need one (``postgres_server``, ``postgres_url``).
pytest_plugins = ("tests.postgres",)


@pytest.fixture(autouse=True)
def _isolated_paths(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("PHOTOBIRD_LIBRARY", str(home / "library"))
    monkeypatch.delenv("PHOTOBIRD_DATABASE", raising=False)  # the library folder's own catalogue, unless asked
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


def _trash_at(monkeypatch: pytest.MonkeyPatch, data_home: Path) -> Path:
    """Point the desktop trash (send2trash's freedesktop.org home trash, ``$XDG_DATA_HOME/Trash``) at
    ``data_home``. send2trash reads ``XDG_DATA_HOME`` once, when it is imported, so the test's own value is
    set on the module; the real send2trash code still does the moving."""
    import send2trash
    import send2trash.plat_other as freedesktop

    assert send2trash.send2trash is freedesktop.send2trash, "this test expects the freedesktop.org trash"
    monkeypatch.setattr(freedesktop, "XDG_DATA_HOME", os.fsencode(data_home))
    monkeypatch.setattr(freedesktop, "HOMETRASH_B", os.fsencode(data_home / "Trash"))
    return data_home / "Trash"


@pytest.fixture
def trash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary trash for this test: files moved there land in ``<it>/files``."""
    return _trash_at(monkeypatch, tmp_path / "data-home")


@pytest.fixture
def broken_trash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A trash that cannot be made (its parent is a file, as on a broken or full home): every move fails."""
    blocker = tmp_path / "data-home-is-a-file"
    blocker.write_text("not a folder")
    return _trash_at(monkeypatch, blocker)
