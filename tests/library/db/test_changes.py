"""Noticing commits made elsewhere, on either engine: another Library (another process's view) or another
connection."""

from __future__ import annotations

import subprocess
import sys

import pytest

from photobird.library.db.changes import CatalogueWatch
from photobird.library.db.engines import EngineKind
from photobird.library.store import Library

pytestmark = pytest.mark.both_engines


def test_a_commit_elsewhere_is_noticed_once(library: Library) -> None:
    watch = CatalogueWatch(library)
    assert not watch.changed()
    library.set_setting("example", 1)  # another connection of this process
    assert watch.changed()
    assert not watch.changed()  # only once per commit
    code = (
        "import sys; from photobird.library.store import Library; "
        "Library(sys.argv[1], database=sys.argv[2] or None).set_setting('x', 2)"
    )
    database = library.url.render_as_string(hide_password=False) if library.kind is EngineKind.POSTGRESQL else ""
    subprocess.run([sys.executable, "-c", code, str(library.root), database], check=True)  # another process
    assert watch.changed()
    library.settings()  # reading commits nothing
    assert not watch.changed()
    watch.close()
    watch.close()
