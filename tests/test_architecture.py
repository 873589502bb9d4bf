"""The floors of the house: the core never imports Qt, and lower floors never import higher ones."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import photobird

PACKAGE = Path(photobird.__file__).parent


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def core_modules() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if "gui" not in p.relative_to(PACKAGE).parts]


def test_no_module_outside_gui_imports_qt() -> None:
    offenders = {
        str(p.relative_to(PACKAGE)): sorted(n for n in imports_of(p) if n.split(".")[0] in ("PySide6", "shiboken6"))
        for p in core_modules()
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_importing_the_whole_core_loads_no_qt() -> None:
    modules = sorted(
        "photobird." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
        for p in core_modules()
        if p.name != "__main__.py" and "migrations" not in p.parts
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


FLOORS = {"media": 1, "models": 1, "library": 2, "learn": 3}


def test_floors_import_only_floors_below() -> None:
    for p in core_modules():
        parts = p.relative_to(PACKAGE).parts
        if parts[0] not in FLOORS:
            continue
        mine = FLOORS[parts[0]]
        for name in imports_of(p):
            bits = name.split(".")
            if bits[0] != "photobird" or len(bits) < 2 or bits[1] not in FLOORS:
                continue
            other = FLOORS[bits[1]]
            allowed = other < mine or bits[1] == parts[0] or (parts[0] == "models" and bits[1] == "media")
            # learn/metrics.py is plain arithmetic shared with the training scripts
            allowed = allowed or name == "photobird.learn.metrics"
            assert allowed, f"{'/'.join(parts)} (floor {mine}) imports {name} (floor {other})"
