"""Noticing commits made elsewhere: another Library (another process's view) or another connection."""

from __future__ import annotations

import subprocess
import sys

from photobird.library.changes import CatalogueWatch
from photobird.library.store import Library


def test_a_commit_elsewhere_is_noticed_once(library: Library) -> None:
    watch = CatalogueWatch(library)
    assert not watch.changed()
    library.set_setting("example", 1)  # another connection of this process
    assert watch.changed()
    assert not watch.changed()  # only once per commit
    code = "import sys; from photobird.library.store import Library; Library(sys.argv[1]).set_setting('x', 2)"
    subprocess.run([sys.executable, "-c", code, str(library.root)], check=True)  # another process
    assert watch.changed()
    library.settings()  # reading commits nothing
    assert not watch.changed()
    watch.close()
    watch.close()
