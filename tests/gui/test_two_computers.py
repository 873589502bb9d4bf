"""Two app windows on one PostgreSQL catalogue, as on two computers: two processes, each with its own library
folder (its own thumbnail cache), meeting only in the server's catalogue. A mark set in one window shows in the
other once that one notices the catalogue changed (it polls every second or two), both ways."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from photobird.library import catalogue, scan
from photobird.library.store import Library
from tests.gui.test_main_window import TIMEOUT, grid_ids, open_window, wait_up_to_date
from tests.gui.test_two_windows import mark, shown_marks
from tests.library.conftest import copy_real

ROOT = Path(__file__).resolve().parents[2]


def test_a_mark_set_on_one_computer_shows_on_the_other(qtbot, tmp_path: Path, settings, postgres_url: str) -> None:
    photos = tmp_path / "photos"
    copy_real(photos, 3, 3)
    first = Library(tmp_path / "first computer", database=postgres_url)
    try:
        scan.add_folder(first, photos)
        win = open_window(qtbot, first, settings)
        wait_up_to_date(qtbot, win)
        qtbot.waitUntil(lambda: len(grid_ids(win)) == 6 and shown_marks(win) is not None, timeout=TIMEOUT)
        ids = sorted(grid_ids(win))
        marked, awaited = ids[0], ids[1]  # marked on the other computer; marked here, awaited there
        paths = {pid: catalogue.info(first, pid)["path"] for pid in (marked, awaited)}
        command = ["-m", "tests.gui.second_computer", str(tmp_path / "second computer"), postgres_url]
        second = subprocess.Popen(
            [sys.executable, *command, str(tmp_path / "second.ini"), paths[marked], paths[awaited]],
            cwd=ROOT,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # the other window's mark shows here
            qtbot.waitUntil(lambda: (shown_marks(win) or {}).get(marked) == "bird", timeout=TIMEOUT)
            mark(qtbot, win, [awaited], "not-bird")  # and this one's shows there: it then exits
            out, err = second.communicate(timeout=TIMEOUT / 1000)
        finally:
            if second.poll() is None:
                second.kill()
        assert second.returncode == 0, (out, err)
        seen = json.loads(out.strip().splitlines()[-1])
        assert seen["step"] == "done" and seen["photos"] == 6 and not seen["failures"], seen
        # its thumbnails were made from the photos in its own folder: the first computer indexed them
        assert seen["thumbnails_in_own_cache"] == 6, seen
        qtbot.waitUntil(lambda: (shown_marks(win) or {}).get(awaited) == "not-bird", timeout=10_000)
        assert not win.problem.failures, [f.message for f in win.problem.failures]
        win.close()  # (before its database is dropped: its workers stop first)
    finally:
        first.close()
