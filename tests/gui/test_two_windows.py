"""Two app windows on one library, and ``photobird label`` in a terminal, all marking photos at once.

Each window has its own ``Library`` (as two app processes would), so they meet only in the catalogue file and
the indexer lock: the first window watches the library, the second cannot take the lock and says who holds it,
and still browses, searches and labels. Each actor marks its own photos in rounds, all three mark one shared
photo every round, and nobody waits for anybody: the end state is unambiguous (each photo's last mark, and for
the shared photo one mark both windows agree on), and no row is lost or doubled.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt
from sqlalchemy import func, select

from photobird.gui.grid import BRIEF_ROLE
from photobird.gui.main_window import MainWindow
from photobird.library import catalogue, scan
from photobird.library.schema import LabelView, Photo, UserLabel
from photobird.library.search import search
from photobird.library.store import Library
from tests.gui.test_main_window import TIMEOUT, grid_ids, open_window, wait_up_to_date
from tests.library.conftest import copy_real

ROUNDS = 4
MARKS = ("bird", "not-bird")
KEYS = {"bird": Qt.Key.Key_B, "not-bird": Qt.Key.Key_N}


def mark(qtbot, win: MainWindow, ids: list[int], label: str) -> None:
    """Select ``ids`` in the window's grid and press B or N, as a user does (the window must be the active one
    for its keys to reach it)."""
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=10_000)
    win.grid.setFocus()
    selection = win.grid.selectionModel()
    selection.setCurrentIndex(
        win.model.index(win.model.row_of(ids[0])), QItemSelectionModel.SelectionFlag.ClearAndSelect
    )
    for pid in ids[1:]:
        selection.select(win.model.index(win.model.row_of(pid)), QItemSelectionModel.SelectionFlag.Select)
    assert sorted(win.grid.selected_ids()) == sorted(ids)
    qtbot.keyClick(win.grid, KEYS[label])


def shown_marks(win: MainWindow) -> dict[int, str | None] | None:
    """Each photo's mark as the window's grid shows it (None until every cell has been read)."""
    briefs = [win.model.index(row).data(BRIEF_ROLE) for row in range(len(win.model.ids))]
    if any(b is None for b in briefs):
        return None
    return {pid: b.user_label for pid, b in zip(win.model.ids, briefs, strict=True)}


def duplicates(library: Library) -> dict[str, int]:
    """Rows that should be one but are several, per table keyed by path or by content."""
    keyed = {
        "photos by path": (Photo.path,),
        "photos by content": (Photo.content_hash,),
        "user labels by content": (UserLabel.content_hash,),
        "label views by content and view": (LabelView.content_hash, LabelView.embedder_id, LabelView.view),
    }
    out = {}
    with library.session() as s:
        for name, key in keyed.items():
            doubled = select(*key).group_by(*key).having(func.count() > 1).subquery()
            out[name] = s.scalar(select(func.count()).select_from(doubled)) or 0
    return out


def test_two_windows_and_the_command_line_label_at_once(qtbot, tmp_path: Path, library, settings) -> None:
    photos = tmp_path / "photos"
    copy_real(photos, 6, 8)
    scan.add_folder(library, photos)
    first = open_window(qtbot, library, settings)
    wait_up_to_date(qtbot, first)
    # its own, as another app process has; opened as that process would find it, without checking the catalogue
    # file again: here the check's reading of the file past SQLite would drop the first window's SQLite locks
    # (POSIX locks belong to the process), which another process does not share
    second_library = Library(library.root, migrate=False)
    second = open_window(qtbot, second_library, settings)
    # the second window cannot take the indexer lock: it says who keeps the library up to date
    qtbot.waitUntil(lambda: "is watching the library" in second.status_text.text(), timeout=TIMEOUT)
    assert str(os.getpid()) in second.status_text.text()
    with second_library.session() as s:
        ids = sorted(s.scalars(select(Photo.id)))
    assert len(ids) == 14
    for win in (first, second):
        qtbot.waitUntil(lambda win=win: sorted(win.model.ids) == ids and shown_marks(win) is not None, timeout=20_000)
    own_first, own_second, own_cli, shared = ids[0:3], ids[3:6], ids[6:9], ids[9]
    paths = {pid: catalogue.info(library, pid)["path"] for pid in ids}

    said: list[subprocess.CompletedProcess[str]] = []

    def command_line() -> None:  # the terminal's rounds, at the same time as the windows'
        for r in range(ROUNDS):
            said.append(
                subprocess.run(
                    [sys.executable, "-m", "photobird", "--library", str(library.root), "label"]
                    + [paths[pid] for pid in [*own_cli, shared]]
                    + [MARKS[r % 2]],
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
            )

    terminal = threading.Thread(target=command_line)
    terminal.start()
    for r in range(ROUNDS):
        mark(qtbot, first, [*own_first, shared], MARKS[r % 2])
        mark(qtbot, second, [*own_second, shared], MARKS[(r + 1) % 2])
    qtbot.waitUntil(lambda: not terminal.is_alive(), timeout=TIMEOUT)
    assert [out.returncode for out in said] == [0] * ROUNDS, [out.stderr for out in said]

    # the last mark each actor made is the one kept; the shared photo has one of the marks
    expected: dict[int, str | None] = dict.fromkeys(ids)
    expected |= dict.fromkeys(own_first + own_cli, MARKS[(ROUNDS - 1) % 2])
    expected |= dict.fromkeys(own_second, MARKS[ROUNDS % 2])

    def stored() -> dict[int, str | None]:
        return {pid: catalogue.info(library, pid)["user_label"] for pid in ids}

    def but_shared(marks: dict[int, str | None]) -> dict[int, str | None]:
        return {pid: m for pid, m in marks.items() if pid != shared}

    qtbot.waitUntil(lambda: but_shared(stored()) == but_shared(expected), timeout=20_000)
    expected[shared] = stored()[shared]
    assert expected[shared] in MARKS
    # both windows show every mark, their own and the others', once they have noticed the catalogue changed
    for win in (first, second):
        qtbot.waitUntil(lambda win=win: shown_marks(win) == expected, timeout=20_000)
    assert duplicates(library) == dict.fromkeys(duplicates(library), 0)
    for win in (first, second):  # nothing failed in the background on the way
        assert not win.problem.failures, [f.message for f in win.problem.failures]

    # the second window still searches what the catalogue holds now
    second.search_box.setText("bird")
    qtbot.waitUntil(lambda: grid_ids(second) == [h.photo_id for h in search(second_library, "bird")], timeout=20_000)
    assert (shared in grid_ids(second)) == (expected[shared] == "bird")  # the user's mark wins
    second.close()
    first.close()
    second_library.close()
