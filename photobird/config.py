"""Where PhotoBird keeps and finds things.

Every path the app uses comes from here, so an environment variable can redirect it (tests point the library
at a temporary directory and never touch the user's home) and nothing else has to know about platforms.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "PhotoBird"

#: The repository (or installed source tree) root: photobird/ lives directly below it.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    """Shipped model weights, the words file, icons and the sample photos.

    ``PHOTOBIRD_RESOURCES`` overrides it, for packaged installs that put data elsewhere.
    """
    env = os.environ.get("PHOTOBIRD_RESOURCES")
    return Path(env) if env else PROJECT_ROOT / "resources"


def models_dir() -> Path:
    return resources_dir() / "models"


def sample_photos_dir() -> Path:
    return resources_dir() / "sample"


def shared_data_dir() -> Path:
    """The shared datasets (CIFAR-10, real photos, EXIF samples): ``../shared/data`` beside the repository.

    Only training scripts, benchmarks and tests read it; the app itself never needs it.
    """
    env = os.environ.get("PHOTOBIRD_DATA")
    return Path(env) if env else PROJECT_ROOT.parent / "shared" / "data"


def cifar_archive() -> Path:
    env = os.environ.get("PHOTOBIRD_CIFAR")
    return Path(env) if env else shared_data_dir() / "cifar10" / "cifar10-jpg.tar.gz"


def real_photos_dir() -> Path:
    return shared_data_dir() / "real-photos"


def default_library_dir() -> Path:
    """The user's library folder: ``PHOTOBIRD_LIBRARY``, else the platform's per-user data directory."""
    env = os.environ.get("PHOTOBIRD_LIBRARY")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "library"


def cache_dir() -> Path:
    """Recomputable things (decoded CIFAR arrays, base-data embeddings). ``PHOTOBIRD_CACHE`` overrides it."""
    env = os.environ.get("PHOTOBIRD_CACHE")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
