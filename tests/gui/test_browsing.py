"""Browsing like a photo app, in the real window over real photos: a folder's photos, the keyboard and the mouse
in the grid, a search that finds nothing, and new photos arriving while the user is scrolled down."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QTreeWidgetItem

from photobird import config
from photobird.gui.main_window import MainWindow
from photobird.library import catalogue, scan
from photobird.library.search import Searcher
from photobird.library.store import Library, SettingKey
from tests.gui.test_main_window import TIMEOUT, grid_ids, open_window, wait_up_to_date
from tests.library.conftest import real_rows

CLICK = Qt.MouseButton.LeftButton
CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def copy_rows(dst: Path, start: int, n: int) -> list[str]:
    """Copy real photos number ``start`` to ``start + n`` of the shared set (birds and others alternate) into
    ``dst``; every call with other numbers copies other pictures."""
    dst.mkdir(parents=True, exist_ok=True)
    rows = real_rows()
    birds = [r for r in rows if r["is_bird"] == "1"]
    others = [r for r in rows if r["is_bird"] == "0"]
    mixed = [r for pair in zip(birds, others, strict=False) for r in pair]
    names = []
    for r in mixed[start : start + n]:
        shutil.copy2(config.real_photos_dir() / r["file"], dst / r["file"])
        names.append(r["file"])
    return names


def two_folders(tmp_path: Path, library: Library) -> tuple[Path, Path, int]:
    """ "Holidays" (with a subfolder) and "Garden", watched, faces off (to save time); how many photos in all."""
    library.set_setting(SettingKey.FACES, False)
    holidays, garden = tmp_path / "Holidays", tmp_path / "Garden"
    n = len(copy_rows(holidays, 0, 4)) + len(copy_rows(holidays / "Beach day", 4, 2)) + len(copy_rows(garden, 6, 4))
    scan.add_folder(library, holidays)
    scan.add_folder(library, garden)
    return holidays, garden, n


def ready(qtbot, library: Library, settings, n: int) -> MainWindow:
    win = open_window(qtbot, library, settings)
    wait_up_to_date(qtbot, win)
    qtbot.waitUntil(lambda: catalogue.stats(library).indexed == n, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: len(grid_ids(win)) == n, timeout=TIMEOUT)
    return win


def folder_item(win: MainWindow, name: str) -> QTreeWidgetItem:
    """The sidebar's folder called ``name`` (a watched one, or one below it shown by opening those above)."""
    return next(item for item in win.folder_tree.items() if item.text(0).startswith(f"{name}  ("))


def click_folder(qtbot, win: MainWindow, name: str) -> None:
    item = folder_item(win, name)
    qtbot.mouseClick(win.folder_tree.viewport(), CLICK, pos=win.folder_tree.visualItemRect(item).center())


def click_photo(
    qtbot, win: MainWindow, row: int, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier
) -> None:
    index = win.model.index(row)
    win.grid.scrollTo(index)
    qtbot.mouseClick(win.grid.viewport(), CLICK, modifier, win.grid.visualRect(index).center())


def top_photo(win: MainWindow) -> tuple[int, int]:
    """The photo at the top left of what the grid shows, and where its cell's top is in the view."""
    seen = win.grid.viewport().rect()
    row = next(row for row in range(win.model.rowCount()) if win.grid.visualRect(win.model.index(row)).intersects(seen))
    return win.model.ids[row], win.grid.visualRect(win.model.index(row)).top()


def test_a_folder_shows_only_its_photos_and_combines_with_a_search(qtbot, tmp_path: Path, library, settings) -> None:
    holidays, garden, n = two_folders(tmp_path, library)
    win = ready(qtbot, library, settings, n)
    searcher = Searcher(library)

    def shown(query: str, folder: Path | None) -> list[int]:
        return [h.photo_id for h in searcher.search(query, folder=None if folder is None else str(folder))]

    assert win.result_count.text() == f"{n} photos"
    click_folder(qtbot, win, "Holidays")  # its photos, the subfolder's with them
    qtbot.waitUntil(lambda: win.result_count.text() == "6 photos in Holidays", timeout=10_000)
    assert grid_ids(win) == shown("", holidays) and len(grid_ids(win)) == 6

    qtbot.keyClicks(win.search_box, "bird")  # the search, in that folder
    in_holidays = shown("bird", holidays)
    assert in_holidays and len(in_holidays) < len(shown("bird", None)), "the models found birds in one folder only"
    qtbot.waitUntil(lambda: grid_ids(win) == in_holidays, timeout=10_000)
    assert win.result_count.text() == f"{len(in_holidays)} photo{'s' if len(in_holidays) != 1 else ''} in Holidays"

    click_folder(qtbot, win, "Garden")  # another folder, the same search
    qtbot.waitUntil(lambda: grid_ids(win) == shown("bird", garden), timeout=10_000)
    assert win.result_count.text().endswith(" in Garden")
    qtbot.wait(2 * 1500)  # the catalogue is polled meanwhile: the folder stays chosen, and shown
    assert win.folder_tree.currentItem().text(0).startswith("Garden") and win.folder == str(garden)
    assert grid_ids(win) == shown("bird", garden)

    click_folder(qtbot, win, "Garden")  # the folder shown, clicked again: every folder
    qtbot.waitUntil(lambda: grid_ids(win) == shown("bird", None), timeout=10_000)
    assert not win.folder_tree.selectedItems() and win.folder is None
    assert "in" not in win.result_count.text()
    win.close()


def test_a_subfolder_in_the_tree_shows_only_its_photos(qtbot, tmp_path: Path, library, settings) -> None:
    holidays, _, n = two_folders(tmp_path, library)
    (holidays / "2019" / "Summer").mkdir(parents=True)  # a folder holding only a folder of photos
    more = copy_rows(holidays / "2019" / "Summer", 10, 2)
    win = ready(qtbot, library, settings, n + len(more))
    searcher = Searcher(library)
    tree = win.folder_tree
    qtbot.waitUntil(lambda: folder_item(win, "Holidays").childCount() == 2, timeout=10_000)
    holidays_item = folder_item(win, "Holidays")
    assert holidays_item.text(0).startswith("Holidays  (8)") and not holidays_item.isExpanded()
    assert [holidays_item.child(i).text(0) for i in range(2)] == ["2019  (2)", "Beach day  (2)"]

    rect = tree.visualItemRect(holidays_item)  # its arrow opens it, and chooses nothing
    qtbot.mouseClick(tree.viewport(), CLICK, pos=QPoint(rect.left() - tree.indentation() // 2, rect.center().y()))
    qtbot.waitUntil(holidays_item.isExpanded, timeout=5_000)
    assert win.folder is None and not tree.selectedItems()

    click_folder(qtbot, win, "Beach day")
    beach = holidays / "Beach day"
    qtbot.waitUntil(lambda: win.result_count.text() == "2 photos in Beach day", timeout=10_000)
    assert win.folder == str(beach) and grid_ids(win) == [h.photo_id for h in searcher.search("", folder=str(beach))]
    assert not win.remove_btn.isEnabled()  # only a watched folder can be stopped watching

    qtbot.wait(2 * 1500)  # the catalogue is polled meanwhile: the tree is read again, still open, still chosen
    assert tree.currentItem().text(0) == "Beach day  (2)" and folder_item(win, "Holidays").isExpanded()
    assert win.folder == str(beach)

    folder_item(win, "2019").setExpanded(True)
    click_folder(qtbot, win, "Summer")  # deeper: its photos only
    qtbot.waitUntil(lambda: win.result_count.text() == "2 photos in Summer", timeout=10_000)
    assert set(grid_ids(win)) == {h.photo_id for h in searcher.search("", folder=str(holidays / "2019"))}

    click_folder(qtbot, win, "Holidays")  # the watched folder: its photos and every one below it
    qtbot.waitUntil(lambda: win.result_count.text() == "8 photos in Holidays", timeout=10_000)
    assert win.remove_btn.isEnabled()
    win.close()


def test_keyboard_and_mouse_in_the_grid_and_a_search_that_finds_nothing(
    qtbot, tmp_path: Path, library, settings
) -> None:
    _, _, n = two_folders(tmp_path, library)
    win = ready(qtbot, library, settings, n)

    # Down from the search box: the grid, its first photo selected
    win.search_box.setFocus()
    qtbot.keyClick(win.search_box, Qt.Key.Key_Down)
    assert win.grid.hasFocus() and win.grid.selected_ids() == [grid_ids(win)[0]]
    # Enter right after typing: the search runs at once, and its first photo is selected once it is shown
    win.search_box.setFocus()
    qtbot.keyClicks(win.search_box, "bird")
    qtbot.keyClick(win.search_box, Qt.Key.Key_Return)
    birds = [h.photo_id for h in Searcher(library).search("bird")]
    qtbot.waitUntil(lambda: grid_ids(win) == birds, timeout=10_000)
    qtbot.waitUntil(lambda: win.grid.selected_ids() == [birds[0]], timeout=10_000)
    assert win.grid.hasFocus()

    # Ctrl+A selects every photo; a click one, Ctrl+click adds or takes away one, Shift+click a range
    win.search_box.clear()
    qtbot.waitUntil(lambda: len(grid_ids(win)) == n, timeout=10_000)
    ids = grid_ids(win)
    win.grid.setFocus()
    qtbot.keyClick(win.grid, Qt.Key.Key_A, CTRL)
    assert sorted(win.grid.selected_ids()) == sorted(ids)
    click_photo(qtbot, win, 1)
    assert win.grid.selected_ids() == [ids[1]]
    click_photo(qtbot, win, 5, SHIFT)
    assert sorted(win.grid.selected_ids()) == sorted(ids[1:6])
    click_photo(qtbot, win, 3, CTRL)
    assert sorted(win.grid.selected_ids()) == sorted([ids[1], ids[2], ids[4], ids[5]])
    click_photo(qtbot, win, 7, CTRL)
    assert sorted(win.grid.selected_ids()) == sorted([ids[1], ids[2], ids[4], ids[5], ids[7]])

    # a search that finds nothing says so, and offers the closest words of the library, each a link that searches
    win.search_box.setFocus()
    qtbot.keyClicks(win.search_box, "brid")
    qtbot.waitUntil(lambda: win.result_count.text() == "No photos match 'brid'", timeout=10_000)
    assert grid_ids(win) == []
    qtbot.waitUntil(win.suggestions.isVisible, timeout=10_000)
    assert win.suggestions.text().startswith("Try ") and ">bird</a>" in win.suggestions.text()
    metrics = QFontMetrics(win.suggestions.font())
    rect = win.suggestions.contentsRect()
    link = QPoint(rect.left() + metrics.horizontalAdvance("Try ") + metrics.horizontalAdvance("bi"), rect.center().y())
    qtbot.mouseClick(win.suggestions, CLICK, pos=link)
    assert win.search_box.text() == "bird"
    qtbot.waitUntil(lambda: grid_ids(win) == birds, timeout=10_000)
    assert not win.suggestions.isVisible() and win.result_count.text() == f"{len(birds)} photos"
    win.close()


#: Photos with a date taken (EXIF): they come first in the grid, before the real photos (which have none)
DATED = ("Canon_40D.jpg", "Nikon_D70.jpg", "Pentax_K10D.jpg", "Kodak_CX7530.jpg")


def test_the_grid_keeps_its_place_when_the_watcher_adds_photos(qtbot, tmp_path: Path, library, settings) -> None:
    """Scrolled down, new photos arriving below or above what the user looks at move nothing in view."""
    library.set_setting(SettingKey.FACES, False)
    photos = tmp_path / "photos"
    n = len(copy_rows(photos, 0, 12))
    scan.add_folder(library, photos)
    win = ready(qtbot, library, settings, n)
    win.resize(640, 480)
    win.size_slider.setValue(win.size_slider.maximum())  # large thumbnails: a few rows fill the grid
    bar = win.grid.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=10_000)
    bar.setValue(bar.maximum() // 2)
    qtbot.waitUntil(lambda: bar.value() > 0, timeout=10_000)
    value, top = bar.value(), top_photo(win)
    assert top[0] != win.model.ids[0]  # (scrolled down: the first photo is out of sight)

    copy_rows(photos, 12, 4)  # while the window watches the folder; undated: they come last
    qtbot.waitUntil(lambda: len(grid_ids(win)) == n + 4, timeout=TIMEOUT)
    qtbot.wait(200)  # (the place is put back on the next turn of the event loop)
    assert bar.value() == value and top_photo(win) == top

    before = set(grid_ids(win))
    for name in DATED:  # dated: they come first, above what the user looks at
        shutil.copy2(config.shared_data_dir() / "exif-samples" / "jpg" / name, photos / name)
    qtbot.waitUntil(lambda: len(grid_ids(win)) == n + 8, timeout=TIMEOUT)
    qtbot.wait(200)
    assert set(grid_ids(win)[:4]) == set(grid_ids(win)) - before
    assert top_photo(win) == top and bar.value() > value
    win.close()
