"""Another computer's PhotoBird window on a shared PostgreSQL catalogue, for ``test_two_computers.py``. Run as
``python -m tests.gui.second_computer FOLDER DATABASE SETTINGS MARK WAIT``: it opens the real window on its own
library folder (so its own thumbnail cache, empty), waits until the grid shows the catalogue's photos with their
thumbnails, marks the photo at path MARK "bird" through the window's own action (what the B key does), then waits
until the grid shows the photo at path WAIT marked "not-bird" by the other window, and prints what it saw as one
JSON object. Exits 1 with the step it was stuck at, after ``GIVE_UP_S``.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QItemSelectionModel, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from photobird.gui.grid import BRIEF_ROLE
from photobird.gui.main_window import MainWindow
from photobird.library import catalogue
from photobird.library.store import Library

GIVE_UP_S = 240


def main() -> int:
    folder, database, settings, mark_path, wait_path = sys.argv[1:6]
    app = QApplication([])
    library = Library(folder, database=database)
    win = MainWindow(library, device="cpu", settings=QSettings(settings, QSettings.Format.IniFormat))
    win.show()
    mark_id = catalogue.photo_id_for_path(library, mark_path)
    wait_id = catalogue.photo_id_for_path(library, wait_path)
    seen: dict[str, object] = {"step": "showing the photos"}
    started = time.monotonic()

    def briefs() -> dict[int, object] | None:
        out = {pid: win.model.index(row).data(BRIEF_ROLE) for row, pid in enumerate(win.model.ids)}
        return None if not out or any(b is None for b in out.values()) else out

    def tick() -> None:
        shown = briefs()
        if seen["step"] == "showing the photos" and shown is not None and mark_id in shown and wait_id in shown:
            hashes = [b.content_hash for b in shown.values()]
            seen["photos"] = len(shown)
            seen["thumbnails_in_own_cache"] = sum(library.thumb_path(h).is_file() for h in hashes)
            row = win.model.row_of(mark_id)
            win.grid.selectionModel().setCurrentIndex(
                win.model.index(row), QItemSelectionModel.SelectionFlag.ClearAndSelect
            )
            win.label_selection("bird")
            seen["step"] = "waiting for the other window's mark"
        elif (
            seen["step"] == "waiting for the other window's mark" and shown and shown[wait_id].user_label == "not-bird"
        ):
            seen["step"] = "done"
            seen["failures"] = [f.message for f in win.problem.failures]
            app.exit(0)
        if seen["step"] != "done" and time.monotonic() - started > GIVE_UP_S:
            app.exit(1)

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(200)
    code = app.exec()
    timer.stop()
    win.close()
    library.close()
    print(json.dumps(seen))
    return code


if __name__ == "__main__":
    sys.exit(main())
