"""A system library Qt's X11 plugin needs is missing: one sentence naming it and its package, not Qt's abort.

The plugin is loaded in a child process (loading it here would put the X11 plugin into the test process); the
missing library is real: a copy of Qt's own plugin that names a library no system has.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from photobird.gui import platform_check

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb plugin is Linux's")

PROBE = """
import json, sys
from pathlib import Path
from photobird.gui import platform_check
print(json.dumps([platform_check.missing_library(Path(p)) for p in sys.argv[1:]]))
"""


def probe(*plugins: Path) -> list[str | None]:
    out = subprocess.run([sys.executable, "-c", PROBE, *map(str, plugins)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_missing_library_is_named_with_its_package(tmp_path: Path) -> None:
    real = platform_check.xcb_plugin()
    assert real.is_file()
    # the plugin finds Qt's libraries at $ORIGIN/../../lib: the copy gets the same layout
    copy = tmp_path / "plugins" / "platforms" / real.name
    copy.parent.mkdir(parents=True)
    (tmp_path / "lib").symlink_to(real.parents[2] / "lib")
    data = real.read_bytes()
    assert data.count(b"libxcb-cursor.so.0\0") == 1
    copy.write_bytes(data.replace(b"libxcb-cursor.so.0\0", b"libxcb-cursor.so.9\0"))

    real_missing, copy_missing = probe(real, copy)
    assert copy_missing is not None
    if real_missing is None:  # this machine has every library the real plugin needs: the copy lacks exactly one
        assert copy_missing == "libxcb-cursor.so.9"
    advice = platform_check.advice(copy_missing)
    assert copy_missing in advice and "sudo apt-get install" in advice and "libxcb-cursor0" in advice


def test_debian_package_names() -> None:
    assert platform_check.debian_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert platform_check.debian_package("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert platform_check.debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert platform_check.debian_package("libGL.so.1") == "libgl1"


def test_only_when_qt_would_use_xcb() -> None:
    assert platform_check.uses_xcb({"DISPLAY": ":0"})
    assert platform_check.uses_xcb({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "wayland-0"})
    assert not platform_check.uses_xcb({"QT_QPA_PLATFORM": "offscreen"})
    assert not platform_check.uses_xcb({"WAYLAND_DISPLAY": "wayland-0"})


def test_the_readme_names_the_packages() -> None:
    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text().split())
    assert f"apt-get install {' '.join(platform_check.XCB_PACKAGES)}" in readme
