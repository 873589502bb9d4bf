"""Shared fixtures. Tests never touch the user's home: every data path points into a temporary directory."""

from __future__ import annotations

import os
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
