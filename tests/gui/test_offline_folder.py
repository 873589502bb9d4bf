"""The window with a watched folder on a drive that is unplugged and plugged in again while it runs: the folder is
greyed and says so, its photos stay in the grid, and the viewer shows a photo's thumbnail with why, not an error.

The drive is a real tmpfs mount where mounting is permitted, else the folder renamed away and back
(``tests.library.test_offline.Drive``)."""

from __future__ import annotations

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QTreeWidgetItem

from photobird.gui.viewer import OFFLINE_TEXT
from photobird.library import scan, watch
from tests.gui.test_main_window import TIMEOUT, open_window, wait_up_to_date
from tests.library.conftest import copy_real
from tests.library.test_offline import Drive, drive  # noqa: F401  (``drive``: the fixture, mounted or renamed)


def test_an_offline_folder_is_greyed_and_its_photos_show_their_thumbnail_and_why(
    qtbot,
    drive: Drive,  # noqa: F811
    library,
    settings,
    monkeypatch,
) -> None:
    # what the window's watcher noticed (the drive going, coming back): a drive is never plugged back before it
    # noticed it went (a person takes seconds; a tmpfs, a millisecond)
    noticed: list[list[str]] = []
    follow = watch.Watcher.follow_folders

    def following(self: watch.Watcher) -> list[str]:
        changed = follow(self)
        if changed:
            noticed.append(changed)
        return changed

    monkeypatch.setattr(watch.Watcher, "follow_folders", following)
    copy_real(drive.photos, 1, 2)
    drive.plug()
    scan.add_folder(library, drive.path)
    win = open_window(qtbot, library, settings)
    wait_up_to_date(qtbot, win)
    qtbot.waitUntil(lambda: len(win.model.ids) == 3, timeout=TIMEOUT)

    def folder() -> QTreeWidgetItem:
        return win.folder_tree.topLevelItem(0)

    qtbot.waitUntil(lambda: "(3)" in folder().text(0), timeout=10_000)
    assert "offline" not in folder().text(0)
    ids = list(win.model.ids)

    looks = len(noticed)
    drive.unplug()  # while the window watches it
    qtbot.waitUntil(lambda: "offline" in folder().text(0) and len(noticed) > looks, timeout=TIMEOUT)
    assert "(3)" in folder().text(0)
    assert "drive is not connected" in folder().toolTip(0) and "kept" in folder().toolTip(0)
    assert folder().foreground(0).color() == win.palette().color(QPalette.ColorRole.PlaceholderText)
    assert list(win.model.ids) == ids  # its photos are still there, found as before

    win.open_viewer(ids[0])
    qtbot.waitUntil(lambda: win.viewer.info.get("id") == ids[0] and not win.viewer.notice.isHidden(), timeout=10_000)
    assert win.viewer.notice.text() == OFFLINE_TEXT == "This photo is on a drive that is not connected"
    assert not win.viewer.image.pixmap().isNull()  # the thumbnail, from the cache
    assert "cannot show" not in win.viewer.image.text()
    assert win.viewer.fields["folder"].text().endswith("(offline: its drive is not connected)")

    drive.plug()
    qtbot.waitUntil(lambda: "offline" not in folder().text(0), timeout=TIMEOUT)
    assert "(3)" in folder().text(0) and folder().toolTip(0) == str(drive.path)
    win.viewer.show_photo(ids[0])  # the photo itself now, from the drive
    qtbot.waitUntil(lambda: not win.viewer.image.pixmap().isNull(), timeout=10_000)
    assert win.viewer.notice.isHidden() and win.viewer.fields["folder"].text() == str(drive.path)
    win.close()
