"""The viewer as a photo app's: zoom (+/-, the wheel) about the cursor, pan by dragging, 1:1 by a double-click
(from the photo decoded at full size), full screen (F11, Escape), and rotation (R, Shift+R) shown at once,
stored in the catalogue and shown in the grid too (real widgets, real SQLite, photos indexed by the real
networks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QWheelEvent
from PySide6.QtWidgets import QApplication

from photobird.gui.main_window import MainWindow
from photobird.gui.viewer import ZOOM_STEP, ImageView, shown
from photobird.library import catalogue, edits, scan
from photobird.library.store import Library, SettingKey
from tests.gui.test_main_window import TIMEOUT, open_window, wait_up_to_date
from tests.library.conftest import copy_real, make_catalogue

BIG = (2400, 1600)  # more pixels than the viewer decodes for the screen


def big_photo(path: Path) -> None:
    yy, xx = np.mgrid[0 : BIG[1], 0 : BIG[0]]
    base = (np.sin(xx / 37) + np.cos(yy / 23)) * 60 + 128
    arr = np.stack([base, base[::-1], np.roll(base, 200, axis=1)], axis=-1).clip(0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path, "JPEG", quality=85)


def wheel(widget: ImageView, at: QPoint, notches: int) -> None:
    event = QWheelEvent(
        QPointF(at),
        QPointF(widget.mapToGlobal(at)),
        QPoint(),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def under(view: ImageView, at: QPoint) -> QPointF:
    """The point of the photo (full-size pixels) under a point of the view, while the photo overflows it."""
    return view.visible_part().topLeft() + QPointF(at) / view.scale()


def viewing(qtbot, library: Library, settings, photos: Path) -> tuple[MainWindow, int]:
    library.set_setting(SettingKey.FACES, False)  # (not what is tested here: saves indexing time)
    scan.add_folder(library, photos)
    win = open_window(qtbot, library, settings)
    wait_up_to_date(qtbot, win)
    qtbot.waitUntil(lambda: len(win.model.ids) == len(list(photos.iterdir())), timeout=10_000)
    return win, win.model.ids[0]


def test_zoom_pan_one_to_one_and_full_screen(qtbot, tmp_path: Path, library, settings) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    big_photo(photos / "big.jpg")
    win, pid = viewing(qtbot, library, settings, photos)
    win.open_viewer(pid)
    view = win.viewer.image
    qtbot.waitUntil(lambda: not view.pixmap().isNull(), timeout=10_000)
    assert view.fitted() and view.visible_part() == QRectF(0, 0, *BIG)
    assert view.pixmap().width() < BIG[0]  # decoded at about screen size, not in full
    fit = view.scale()
    assert fit < 1

    qtbot.keyClick(win.viewer, Qt.Key.Key_Plus)
    assert not view.fitted() and view.scale() == pytest.approx(fit * ZOOM_STEP)
    middle = QPoint(view.width() // 2, view.height() // 2)
    at = middle + QPoint(40, 30)
    wheel(view, at, 2)  # about the cursor: the point under it stays under it
    assert view.scale() == pytest.approx(fit * ZOOM_STEP**3)
    before = under(view, at)
    wheel(view, at, 1)
    assert view.scale() == pytest.approx(fit * ZOOM_STEP**4)
    assert under(view, at).x() == pytest.approx(before.x(), abs=0.5)
    assert under(view, at).y() == pytest.approx(before.y(), abs=0.5)

    part = view.visible_part()  # dragging the photo to the left and up shows more of its right and bottom
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=middle)
    qtbot.mouseMove(view, middle - QPoint(60, 40))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=middle - QPoint(60, 40))
    moved = view.visible_part()
    assert moved.left() == pytest.approx(part.left() + 60 / view.scale())
    assert moved.top() == pytest.approx(part.top() + 40 / view.scale())
    for _ in range(6):
        qtbot.keyClick(win.viewer, Qt.Key.Key_Minus)
    assert view.fitted() and view.scale() == pytest.approx(fit)  # never smaller than the photo fitted

    fitted_point = QPointF(BIG[0] / 2, BIG[1] / 2) + QPointF(at - middle) / fit
    qtbot.mouseDClick(view, Qt.MouseButton.LeftButton, pos=at)
    assert view.scale() == 1.0  # 1:1, about the point clicked
    assert under(view, at).x() == pytest.approx(fitted_point.x(), abs=0.5)
    qtbot.waitUntil(lambda: view.pixmap().width() == BIG[0], timeout=20_000)  # decoded in full, in the background
    assert view.scale() == 1.0 and view.pixmap().height() == BIG[1]
    assert under(view, at).y() == pytest.approx(fitted_point.y(), abs=0.5)  # (the view stayed where it was)
    qtbot.mouseDClick(view, Qt.MouseButton.LeftButton, pos=at)
    assert view.fitted()

    qtbot.keyClick(win.viewer, Qt.Key.Key_F11)
    qtbot.waitUntil(lambda: win.isFullScreen(), timeout=5_000)
    assert win.viewer.full_screen and win.viewer.panel.isHidden()
    chrome = (win.sidebar, win.search_box, win.tabs.tabBar(), win.statusBar(), win.menuBar())
    assert all(w.isHidden() for w in chrome)  # the photo alone
    qtbot.keyClick(win.viewer, Qt.Key.Key_Escape)  # leaves full screen first...
    qtbot.waitUntil(lambda: not win.isFullScreen(), timeout=5_000)
    assert not win.viewer.panel.isHidden() and win.stack.currentWidget() is win.viewer
    assert not any(w.isHidden() for w in chrome)
    qtbot.keyClick(win.viewer, Qt.Key.Key_Escape)  # ...then goes back to the grid
    assert win.stack.currentWidget() is win.grid
    win.close()


def is_portrait(image: QImage | None) -> bool:
    return image is not None and image.height() > image.width()


def test_rotation_is_shown_at_once_stored_and_shown_everywhere(qtbot, tmp_path: Path, library, settings) -> None:
    photos = tmp_path / "photos"
    copy_real(photos, 1, 1)  # landscape photos
    win, pid = viewing(qtbot, library, settings, photos)
    qtbot.waitUntil(lambda: pid in win.model.pixmaps, timeout=10_000)
    assert not is_portrait(win.model.pixmaps[pid].toImage())
    win.open_viewer(pid)
    view = win.viewer.image
    qtbot.waitUntil(lambda: win.viewer.info.get("id") == pid and not view.pixmap().isNull(), timeout=10_000)
    assert not is_portrait(view.pixmap().toImage())

    qtbot.keyClick(win.viewer, Qt.Key.Key_R)
    assert win.viewer.rotation == 90 and is_portrait(view.pixmap().toImage())  # at once, before it is written
    qtbot.keyClick(win.viewer, Qt.Key.Key_R, Qt.KeyboardModifier.ShiftModifier)
    assert win.viewer.rotation == 0 and not is_portrait(view.pixmap().toImage())
    qtbot.keyClick(win.viewer, Qt.Key.Key_R)
    assert is_portrait(view.pixmap().toImage())
    qtbot.waitUntil(lambda: not win.viewer.rotating, timeout=10_000)
    assert edits.rotation(library, pid) == 90 and catalogue.info(library, pid)["rotation"] == 90
    assert win.viewer.rotation == 90 and is_portrait(view.pixmap().toImage())

    qtbot.keyClick(win.viewer, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: is_portrait(win.model.pixmaps[pid].toImage()), timeout=20_000)  # the grid's too
    win.close()

    again = open_window(qtbot, library, settings)  # a new window on the same library
    qtbot.waitUntil(lambda: pid in again.model.pixmaps, timeout=20_000)
    assert is_portrait(again.model.pixmaps[pid].toImage())
    again.open_viewer(pid)
    qtbot.waitUntil(lambda: not again.viewer.image.pixmap().isNull(), timeout=10_000)
    assert again.viewer.rotation == 90 and is_portrait(again.viewer.image.pixmap().toImage())
    again.close()


def test_a_read_only_library_says_why_it_cannot_rotate(qtbot, tmp_path: Path, settings, make_read_only) -> None:
    folder = tmp_path / "library"
    with Library(folder) as lib:
        made = make_catalogue(lib, 20)
    photo = next(p for p in made.photos if p["state"] == "indexed")
    make_read_only(folder)
    library = Library(folder)
    win = MainWindow(library, device="cpu", settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.status_text.text().startswith("Read-only library"), timeout=TIMEOUT)
    win.open_viewer(photo["id"])
    qtbot.waitUntil(lambda: win.viewer.info.get("id") == photo["id"], timeout=10_000)
    qtbot.keyClick(win.viewer, Qt.Key.Key_R)
    assert win.viewer.said.text() == (
        f"This library is read-only ({folder}): rotating photos needs to write to it "
        "(searching and reading it still work)."
    )
    assert not win.viewer.said.isHidden() and win.viewer.rotation == 0 and not win.viewer.rotating
    win.close()
    library.close()


def test_face_boxes_turn_with_the_photo() -> None:
    """A box drawn on a face in the top left of a landscape photo is, turned a quarter clockwise, in the top right
    of the portrait it becomes: on the face still."""
    image = QImage(1000, 500, QImage.Format.Format_RGB32)
    image.fill(QColor("black"))
    face = {"box": [0.1, 0.1, 0.3, 0.5], "name": None, "person": None}
    turned = shown(image, [face], 90).toImage()
    assert (turned.width(), turned.height()) == (500, 1000)
    bright = [
        (x, y)
        for y in range(0, turned.height(), 2)
        for x in range(0, turned.width(), 2)
        if QColor(turned.pixel(x, y)).lightness() > 128
    ]
    assert bright
    # (x, y) of the landscape goes to (height - y, x) in the portrait: the box, its pen a few pixels wide
    xs, ys = [x for x, _ in bright], [y for _, y in bright]
    assert min(xs) >= 500 * 0.5 - 6 and max(xs) <= 500 * 0.9 + 6
    assert min(ys) >= 1000 * 0.1 - 6 and max(ys) <= 1000 * 0.3 + 6


def test_the_slideshow_steps_through_the_results_and_stops_at_the_last(
    qtbot, tmp_path: Path, library, settings
) -> None:
    copy_real(tmp_path / "photos", 0, 3)
    win, first = viewing(qtbot, library, settings, tmp_path / "photos")
    ids = list(win.model.ids)
    win.open_viewer(first)
    viewer = win.viewer
    viewer.slideshow.setInterval(100)  # (4 s between photos in use)
    shown: list[int | None] = []
    viewer.step.connect(lambda _: shown.append(viewer.photo_id))
    qtbot.keyClick(viewer, Qt.Key.Key_S)
    qtbot.waitUntil(lambda: not viewer.slideshow.isActive(), timeout=TIMEOUT)  # ends on the last photo
    # (recorded after the window has stepped) each photo in turn, then a step at the last that went nowhere
    assert shown == [*ids[1:], ids[-1]] and viewer.photo_id == ids[-1]
    qtbot.keyClick(viewer, Qt.Key.Key_Left)
    qtbot.keyClick(viewer, Qt.Key.Key_S)
    assert viewer.slideshow.isActive()
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)  # Escape stops it first, and stays in the viewer
    assert not viewer.slideshow.isActive() and win.stack.currentWidget() is viewer
    win.close()


def test_the_filmstrip_follows_the_photo_and_a_click_shows_another(qtbot, tmp_path: Path, library, settings) -> None:
    copy_real(tmp_path / "photos", 0, 4)
    win, first = viewing(qtbot, library, settings, tmp_path / "photos")
    ids = list(win.model.ids)
    win.open_viewer(first)
    strip = win.viewer.filmstrip
    assert strip is not None and strip.isVisible() and strip.model() is win.model  # the grid's results
    assert strip.currentIndex().row() == 0
    qtbot.keyClick(win.viewer, Qt.Key.Key_Right)
    assert strip.currentIndex().row() == 1
    qtbot.waitUntil(lambda: all(pid in win.model.pixmaps for pid in ids), timeout=TIMEOUT)  # its thumbnails
    cell = strip.visualRect(win.model.index(3))
    qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton, pos=cell.center())
    qtbot.waitUntil(lambda: win.viewer.info.get("id") == ids[3], timeout=TIMEOUT)
    assert [i.row() for i in strip.selectedIndexes()] == [3]
    qtbot.keyClick(win.viewer, Qt.Key.Key_Left)  # the keys stay with the viewer after a click on the strip
    assert win.viewer.photo_id == ids[2]
    qtbot.keyClick(win.viewer, Qt.Key.Key_F11)
    assert strip.isHidden()  # the photo alone
    qtbot.keyClick(win.viewer, Qt.Key.Key_Escape)
    assert strip.isVisible()
    win.close()
