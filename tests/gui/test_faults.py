"""Faults the app must survive, as its window shows them: the disk holding the library fills up while it indexes
(the small disk and its fallback: ``tests/library/test_faults.py``)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from photobird import logs
from photobird.gui.main_window import MainWindow
from photobird.library import catalogue, scan
from photobird.library.store import Library
from tests.gui.test_main_window import TIMEOUT, wait_up_to_date
from tests.library.conftest import real_rows
from tests.library.test_faults import FULL, copy_rows, little_room, small_disk


def test_a_full_disk_stops_indexing_and_the_window_says_so_in_one_line(qtbot, tmp_path: Path, settings) -> None:
    photos = copy_rows(real_rows()[:80], tmp_path / "photos")
    with small_disk(tmp_path / "disk") as disk:
        library = Library(disk.path / "library")
        try:
            scan.add_folder(library, tmp_path / "photos")
            with little_room(disk, library, 800):
                win = MainWindow(library, device="cpu", settings=settings)
                qtbot.addWidget(win)
                win.show()
                qtbot.waitUntil(lambda: win.cancel_btn.text() == "Index", timeout=TIMEOUT)  # indexing ended
                said = win.status_text.text()
                print(said)
                assert said.startswith(FULL) and "\n" not in said, said
                assert not [word for word in ("DiskFull", "OSError", "Errno", "Traceback") if word in said], said
                assert catalogue.stats(library).indexed < len(photos)
            # room again: Index goes on from there
            qtbot.mouseClick(win.cancel_btn, Qt.MouseButton.LeftButton)
            wait_up_to_date(qtbot, win)
            assert catalogue.stats(library).indexed == len(photos)
            win.close()
        finally:
            library.close()
            logs.use_library(tmp_path)  # the window's log file is on the small disk: let it go
