"""File actions from the grid, driven as a user would: move to another folder, rename, copy the path, move to the
trash; the catalogue follows at once, marks stay, and Ctrl+Z puts a moved file back with its mark."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog

from photobird.library import catalogue, scan
from photobird.library.store import SettingKey
from tests.gui.test_main_window import TIMEOUT, open_window, wait_up_to_date
from tests.library.conftest import copy_real


def window_on_two_folders(qtbot, tmp_path: Path, library, settings):
    copy_real(tmp_path / "home", 1, 2)
    (tmp_path / "trips" / "2024").mkdir(parents=True)
    library.set_setting(SettingKey.FACES, False)
    scan.add_folder(library, tmp_path / "home")
    scan.add_folder(library, tmp_path / "trips")
    win = open_window(qtbot, library, settings)
    wait_up_to_date(qtbot, win)
    qtbot.waitUntil(lambda: len(win.model.ids) == 3, timeout=TIMEOUT)
    return win


def choose(win, photo_id: int) -> str:
    """Select one photo in the grid, as a click does; returns its path."""
    index = win.model.index(win.model.row_of(photo_id))
    win.grid.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
    win.grid.setFocus()
    return catalogue.info(win.library, photo_id)["path"]


def test_move_then_undo_puts_the_file_back_with_its_mark(qtbot, tmp_path: Path, library, settings, monkeypatch) -> None:
    win = window_on_two_folders(qtbot, tmp_path, library, settings)
    pid = win.model.ids[0]
    path = Path(choose(win, pid))
    qtbot.keyClick(win.grid, Qt.Key.Key_B)
    qtbot.waitUntil(lambda: catalogue.info(library, pid)["user_label"] == "bird", timeout=TIMEOUT)
    destination = tmp_path / "trips" / "2024"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(destination)))

    win.act_move.trigger()

    qtbot.waitUntil(lambda: catalogue.info(library, pid)["path"] == str(destination / path.name), timeout=TIMEOUT)
    assert (destination / path.name).is_file() and not path.exists()
    assert catalogue.info(library, pid)["user_label"] == "bird"
    qtbot.waitUntil(lambda: win.statusBar().currentMessage() == "1 photo moved. Ctrl+Z puts it back.", timeout=TIMEOUT)
    assert win.act_undo.text() == "Undo moving 1 photo"

    qtbot.keyClick(win.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)

    qtbot.waitUntil(lambda: catalogue.info(library, pid)["path"] == str(path), timeout=TIMEOUT)
    assert path.is_file() and not (destination / path.name).exists()
    assert catalogue.info(library, pid)["user_label"] == "bird"
    assert win.act_undo.text() == "Undo marking 1 photo"  # the next Ctrl+Z takes back the mark
    win.close()


def test_ctrl_z_takes_back_the_last_action_asked_for_not_the_last_to_end(
    qtbot, tmp_path: Path, library, settings, monkeypatch
) -> None:
    """A mark still finishing on its worker (its keepsake being saved) when the move asked after it is done: Ctrl+Z
    takes back the move first, then the mark, as they were asked for."""
    win = window_on_two_folders(qtbot, tmp_path, library, settings)
    pid = win.model.ids[0]
    path = Path(choose(win, pid))
    moved = threading.Event()
    real_set_user_label = catalogue.set_user_label

    def set_user_label_ending_late(*args, **kwargs):  # the real one, ending after the move has ended
        result = real_set_user_label(*args, **kwargs)
        moved.wait(TIMEOUT / 1000)
        return result

    monkeypatch.setattr(catalogue, "set_user_label", set_user_label_ending_late)
    qtbot.keyClick(win.grid, Qt.Key.Key_B)
    qtbot.waitUntil(lambda: catalogue.info(library, pid)["user_label"] == "bird", timeout=TIMEOUT)
    destination = tmp_path / "trips" / "2024"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(destination)))
    win.act_move.trigger()
    qtbot.waitUntil(lambda: win.statusBar().currentMessage() == "1 photo moved. Ctrl+Z puts it back.", timeout=TIMEOUT)
    moved.set()  # now the mark's worker ends
    qtbot.waitUntil(lambda: len(win._undo) == 2, timeout=TIMEOUT)
    assert win.act_undo.text() == "Undo moving 1 photo"
    qtbot.keyClick(win.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: catalogue.info(library, pid)["path"] == str(path), timeout=TIMEOUT)
    assert win.act_undo.text() == "Undo marking 1 photo"
    win.close()


def test_rename_copy_path_and_a_refused_name(qtbot, tmp_path: Path, library, settings, monkeypatch) -> None:
    win = window_on_two_folders(qtbot, tmp_path, library, settings)
    pid = win.model.ids[0]
    path = Path(choose(win, pid))
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("harbour at dawn", True)))
    qtbot.keyClick(win.grid, Qt.Key.Key_F2)
    renamed = path.with_name(f"harbour at dawn{path.suffix}")
    qtbot.waitUntil(lambda: catalogue.info(library, pid)["path"] == str(renamed), timeout=TIMEOUT)
    assert renamed.is_file() and not path.exists()

    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("a/b", True)))
    qtbot.keyClick(win.grid, Qt.Key.Key_F2)
    qtbot.waitUntil(lambda: win.statusBar().currentMessage().startswith("Not renamed: "), timeout=TIMEOUT)
    assert "cannot be a file name" in win.statusBar().currentMessage() and renamed.is_file()

    QApplication.clipboard().clear()
    win.act_copy_path.trigger()
    qtbot.waitUntil(lambda: QApplication.clipboard().text() == str(renamed), timeout=TIMEOUT)
    win.close()


def press_delete(qtbot, win, answer: str) -> None:
    """Delete in the grid, then one of the confirmation's buttons: "Move to the trash" or "Cancel"."""
    qtbot.keyClick(win.grid, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: win.confirmation is not None and win.confirmation.isVisible(), timeout=TIMEOUT)
    button = next(b for b in win.confirmation.buttons() if b.text().replace("&", "") == answer)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_delete_moves_to_the_trash_after_one_confirmation(qtbot, tmp_path: Path, library, settings, trash) -> None:
    win = window_on_two_folders(qtbot, tmp_path, library, settings)
    pid = win.model.ids[0]
    path = Path(choose(win, pid))
    press_delete(qtbot, win, "Move to the trash")
    qtbot.waitUntil(lambda: (trash / "files" / path.name).is_file(), timeout=TIMEOUT)
    assert not path.exists()
    qtbot.waitUntil(lambda: pid not in win.model.ids, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: win.statusBar().currentMessage() == "Moved 1 photo to the trash.", timeout=TIMEOUT)
    win.close()


def test_a_refused_trash_keeps_the_photo_and_says_why(qtbot, tmp_path: Path, library, settings, broken_trash) -> None:
    win = window_on_two_folders(qtbot, tmp_path, library, settings)
    pid = win.model.ids[0]
    path = Path(choose(win, pid))
    press_delete(qtbot, win, "Cancel")
    qtbot.waitUntil(lambda: win.confirmation is None, timeout=TIMEOUT)
    assert path.is_file()
    press_delete(qtbot, win, "Move to the trash")
    qtbot.waitUntil(
        lambda: win.statusBar().currentMessage().startswith("Moved 0 photos to the trash."), timeout=TIMEOUT
    )
    assert "could not be moved to the trash" in win.statusBar().currentMessage()
    assert path.is_file() and catalogue.info(library, pid)["path"] == str(path)
    win.close()
