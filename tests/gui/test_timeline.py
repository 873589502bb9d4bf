"""The timeline in the real window over real photos: day headers in order, newest first, the month jump list,
sorting by name and back, and headers that are really drawn."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

from PySide6.QtCore import QRect
from PySide6.QtGui import QColor

from photobird import config
from photobird.gui.grid import HEADER_HEIGHT, HEADER_ROLE
from photobird.gui.main_window import MainWindow
from photobird.library import catalogue, scan
from photobird.library.store import Library, SettingKey
from photobird.library.timeline import SortOrder
from tests.gui.test_main_window import TIMEOUT, grid_ids, open_window, wait_up_to_date
from tests.library.conftest import copy_real

#: The days the real photos' files are dated (they have no date taken), two photos each, newest first
DAYS = (dt.datetime(2024, 3, 10, 12), dt.datetime(2024, 3, 9, 18), dt.datetime(2023, 12, 25, 9))
#: A photo with a date taken (EXIF): 30 May 2008
DATED = "Canon_40D.jpg"


def photos_on_three_days(tmp_path: Path, library: Library) -> dict[str, Path]:
    """Six real photos whose files are dated on three days and one dated by its camera, watched, faces off (to
    save time); each file by name."""
    library.set_setting(SettingKey.FACES, False)
    photos = tmp_path / "photos"
    names = sorted(copy_real(photos, 2, 4))
    for i, name in enumerate(reversed(names)):  # (newest first is the reverse of by name)
        when = DAYS[i // 2] - dt.timedelta(minutes=i)
        os.utime(photos / name, (when.timestamp(), when.timestamp()))
    shutil.copy2(config.shared_data_dir() / "exif-samples" / "jpg" / DATED, photos / DATED)
    scan.add_folder(library, photos)
    return {name: photos / name for name in [*names, DATED]}


def ready(qtbot, tmp_path: Path, library: Library, settings) -> tuple[MainWindow, dict[str, int]]:
    files = photos_on_three_days(tmp_path, library)
    win = open_window(qtbot, library, settings)
    wait_up_to_date(qtbot, win)
    qtbot.waitUntil(lambda: len(grid_ids(win)) == len(files) and len(win.model.sections) == 4, timeout=TIMEOUT)
    ids = {name: catalogue.photo_id_for_path(library, path) for name, path in files.items()}
    return win, ids


def headers(win: MainWindow) -> list[tuple[int, str]]:
    """What the grid draws over its cells: (row, title) of each cell that starts a day."""
    return [
        (row, header.title)
        for row in range(win.model.rowCount())
        if (header := win.model.index(row).data(HEADER_ROLE)) is not None
    ]


def test_the_timeline_shows_date_headers_in_order(qtbot, tmp_path: Path, library, settings) -> None:
    win, ids = ready(qtbot, tmp_path, library, settings)
    # the photo dated by its camera first (as search shows it), then the others by their files, newest first
    names = sorted((n for n in ids if n != DATED), reverse=True)
    assert grid_ids(win) == [ids[DATED], *(ids[n] for n in names)]
    assert headers(win) == [
        (0, "Friday 30 May 2008"),
        (1, "Sunday 10 March 2024 \u00b7 file date"),
        (3, "Saturday 9 March 2024 \u00b7 file date"),
        (5, "Monday 25 December 2023 \u00b7 file date"),
    ]
    assert win.timeline_bar.months() == [
        "2008 \u00b7 May",
        "2024 \u00b7 March \u00b7 file dates",
        "2023 \u00b7 December \u00b7 file dates",
    ]
    win.close()


def test_a_month_of_the_jump_list_comes_to_the_top(qtbot, tmp_path: Path, library, settings) -> None:
    win, _ = ready(qtbot, tmp_path, library, settings)
    win.resize(640, 480)
    win.size_slider.setValue(win.size_slider.maximum())  # large cells: a few fill the grid
    bar = win.grid.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=10_000)
    last = win.model.index(5)  # December's first photo, out of view
    assert not win.grid.visualRect(last).intersects(win.grid.viewport().rect())
    win.timeline_bar.jump.activated.emit(2)  # the user picks "2023 · December"
    qtbot.waitUntil(lambda: abs(win.grid.visualRect(last).top()) <= win.grid.spacing() + 2, timeout=10_000)
    assert bar.value() > 0
    assert win.timeline_bar.jump.currentIndex() == -1  # (it reads "Go to…" again)
    win.close()


def test_sorting_by_name_and_back_to_date(qtbot, tmp_path: Path, library, settings) -> None:
    win, ids = ready(qtbot, tmp_path, library, settings)
    by_date, days = grid_ids(win), headers(win)
    chosen = by_date[3]
    win.grid.selectionModel().select(win.model.index(3), win.grid.selectionModel().SelectionFlag.ClearAndSelect)
    win.timeline_bar.set_order(SortOrder.NAME)  # as the user picks it
    by_name = [ids[n] for n in sorted(ids, key=str.lower)]
    qtbot.waitUntil(lambda: grid_ids(win) == by_name, timeout=10_000)
    assert headers(win) == [] and win.timeline_bar.months() == []  # no days: the photos are not in date order
    assert not win.timeline_bar.jump.isEnabled()
    assert win.grid.selected_ids() == [chosen]  # the selection stays with its photo
    win.timeline_bar.set_order(SortOrder.DATE)
    qtbot.waitUntil(lambda: grid_ids(win) == by_date and headers(win) == days, timeout=10_000)
    assert win.grid.selected_ids() == [chosen]
    win.save_settings()
    assert settings.value("grid/sort") == SortOrder.DATE.value
    win.close()


def test_the_headers_are_drawn_and_dates_can_go_under_the_photos(qtbot, tmp_path: Path, library, settings) -> None:
    win, _ = ready(qtbot, tmp_path, library, settings)
    win.resize(1280, 820)
    win.size_slider.setValue(win.size_slider.minimum())  # small cells: every photo in view
    qtbot.waitUntil(
        lambda: win.grid.visualRect(win.model.index(6)).bottom() < win.grid.viewport().height(), timeout=10_000
    )

    def strip_colours(row: int) -> set[int]:
        """The colours in the strip above the cell of ``row``."""
        qtbot.wait(50)  # (a repaint after the last change)
        image = win.grid.viewport().grab().toImage()
        cell = win.grid.visualRect(win.model.index(row))
        strip = QRect(cell.left(), cell.top(), cell.width(), HEADER_HEIGHT)
        return {
            image.pixel(x, y) for x in range(strip.left(), strip.right()) for y in range(strip.top(), strip.bottom())
        }

    background = QColor(win.grid.viewport().palette().base().color()).rgb()
    assert strip_colours(2) == {background}  # (the day's second photo: nothing over it)
    assert len(strip_colours(1)) > 1 and len(strip_colours(0)) > 1  # a day's first photo: its title over it

    height = win.grid.gridSize().height()
    win.timeline_bar.dates.setChecked(True)
    assert win.grid.gridSize().height() > height  # every cell has room for its date
    win.save_settings()
    assert str(settings.value("grid/dates")).lower() == "true"
    win.close()
