"""Say which system package is missing when Qt cannot open a window on Linux.

Qt 6 draws X11 windows through its ``xcb`` plugin, which needs a dozen system libraries (``libxcb-cursor0``
among them) that a stock Debian or Ubuntu desktop does not always have. When one is missing, Qt prints a
generic "could not load the Qt platform plugin" and aborts the process, so it cannot be caught; loading the
plugin ourselves first turns that into one sentence naming the library and the package to install.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
from pathlib import Path

from PySide6.QtCore import QLibraryInfo

#: What the README asks Linux users to install (the libraries Qt's xcb plugin needs beyond a basic X11 desktop).
XCB_PACKAGES = (
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-keysyms1",
    "libxcb-image0",
    "libxcb-render-util0",
    "libxcb-shape0",
    "libxcb-randr0",
    "libxcb-xkb1",
    "libxkbcommon-x11-0",
)


def xcb_plugin() -> Path:
    return Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms" / "libqxcb.so"


def uses_xcb(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether Qt will try the xcb plugin: on Linux, unless another platform is asked for or a Wayland
    session offers one."""
    if not sys.platform.startswith("linux"):
        return False
    platform = environ.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0]
    if platform:
        return platform == "xcb"
    return not environ.get("WAYLAND_DISPLAY")


def missing_library(plugin: Path) -> str | None:
    """The first library ``plugin`` needs that the system cannot load, or None when it loads."""
    try:
        ctypes.CDLL(str(plugin))
    except OSError as e:
        found = re.search(r"([\w.+-]+\.so[\w.]*): cannot open shared object file", str(e))
        return found.group(1) if found else str(e)
    return None


def debian_package(library: str) -> str:
    """Debian's name for the package of a shared library: ``libxcb-cursor.so.0`` -> ``libxcb-cursor0``,
    ``libxkbcommon-x11.so.0`` -> ``libxkbcommon-x11-0`` (a dash when the name ends in a digit)."""
    name, _, version = library.partition(".so.")
    version = version.split(".")[0]
    sep = "-" if name[-1:].isdigit() else ""
    return f"{name}{sep}{version}".lower()


def advice(library: str) -> str:
    return (
        f"PhotoBird cannot open a window: Qt's X11 plugin needs {library}, which is not installed. "
        f"On Debian or Ubuntu: sudo apt-get install {debian_package(library)} (Qt 6 needs all of: "
        f"{' '.join(XCB_PACKAGES)})."
    )


def check() -> str | None:
    """One sentence of advice when Qt is about to fail for want of a system library, else None."""
    plugin = xcb_plugin()
    if not uses_xcb() or not plugin.is_file():
        return None
    missing = missing_library(plugin)
    return advice(missing) if missing else None
