"""The duplicates tab and "More like this", driven as a user would, on photos the app indexed itself."""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image, ImageOps
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from sqlalchemy import select

from photobird import config
from photobird.library.schema import Photo
from photobird.library.store import SettingKey
from tests.gui.test_main_window import TIMEOUT, open_window, wait_up_to_date


def make_folder(folder: Path) -> list[str]:
    """Two photos with a half-size copy and a byte-identical copy each, among four others; returns the files
    that are not originals (what the suggestion moves to the trash)."""
    folder.mkdir()
    sources = sorted(config.real_photos_dir().glob("*.JPEG"))
    extra = []
    for i, src in enumerate(sources[:2]):
        shutil.copy2(src, folder / f"photo{i}.jpg")
        im = ImageOps.exif_transpose(Image.open(src)).convert("RGB")
        im.resize((im.width // 2, im.height // 2)).save(folder / f"photo{i}-small.jpg", quality=90)
        shutil.copy2(src, folder / f"photo{i} (copy).jpg")
        extra += [f"photo{i}-small.jpg", f"photo{i} (copy).jpg"]
    for src in sources[100:104]:
        shutil.copy2(src, folder / src.name)
    return extra


def indexed_window(qtbot, tmp_path: Path, library, settings):
    extra = make_folder(tmp_path / "photos")
    library.set_setting(SettingKey.FACES, False)
    from photobird.library.scan import add_folder

    add_folder(library, tmp_path / "photos")
    win = open_window(qtbot, library, settings)
    wait_up_to_date(qtbot, win)
    return win, extra


def show_duplicates(qtbot, win) -> None:
    win.tabs.setCurrentWidget(win.duplicates_view)
    qtbot.waitUntil(lambda: win.duplicates_view.summary.text().startswith("2 groups"), timeout=TIMEOUT)


def confirm(qtbot, win) -> None:
    view = win.duplicates_view
    qtbot.mouseClick(view.trash_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.confirmation is not None and view.confirmation.isVisible(), timeout=TIMEOUT)
    move = next(b for b in view.confirmation.buttons() if b.text() == "Move to the trash")
    assert view.confirmation.buttonRole(move) == QMessageBox.ButtonRole.AcceptRole
    qtbot.mouseClick(move, Qt.MouseButton.LeftButton)


def paths(library) -> set[str]:
    with library.session() as s:
        return {Path(p).name for p in s.scalars(select(Photo.path))}


def test_the_duplicates_tab_moves_all_but_the_kept_photo_to_the_trash(
    qtbot, tmp_path: Path, library, settings, trash
) -> None:
    win, extra = indexed_window(qtbot, tmp_path, library, settings)
    show_duplicates(qtbot, win)
    view = win.duplicates_view
    assert [len(row.cards) for row in view.rows] == [3, 3]
    for row in view.rows:
        kept = [card for card in row.cards if card.keep.isChecked()]
        assert [Path(c.photo.path).name for c in kept] in (["photo0.jpg"], ["photo1.jpg"])
        assert kept[0].keep.text() == "Keep (suggested)"
        assert "\u00d7" in kept[0].details.text() and "KB" in kept[0].details.text()
    qtbot.waitUntil(lambda: all(c.has_picture for row in view.rows for c in row.cards), timeout=TIMEOUT)
    assert view.trash_btn.text() == "Move 4 photos to the trash\u2026"
    before = paths(library)

    confirm(qtbot, win)

    qtbot.waitUntil(lambda: view.outcome.text() == "Moved 4 photos to the trash.", timeout=TIMEOUT)
    assert sorted(p.name for p in (trash / "files").iterdir()) == sorted(extra)
    assert all(not (tmp_path / "photos" / name).exists() for name in extra)
    assert paths(library) == before - set(extra)  # the catalogue followed at once
    qtbot.waitUntil(lambda: view.summary.text() == "No duplicates or similar photos.", timeout=TIMEOUT)
    qtbot.waitUntil(lambda: win.result_count.text() == "6 photos", timeout=TIMEOUT)


def test_a_failed_move_to_the_trash_keeps_every_file_and_says_so(
    qtbot, tmp_path: Path, library, settings, broken_trash
) -> None:
    win, _ = indexed_window(qtbot, tmp_path, library, settings)
    show_duplicates(qtbot, win)
    view = win.duplicates_view
    before = paths(library)
    files = sorted(p.name for p in (tmp_path / "photos").iterdir())

    confirm(qtbot, win)

    qtbot.waitUntil(lambda: view.outcome.text().startswith("Moved 0 photos to the trash."), timeout=TIMEOUT)
    assert "could not be moved to the trash" in view.outcome.text() and "(and 3 more)" in view.outcome.text()
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == files
    assert paths(library) == before
    qtbot.waitUntil(lambda: view.summary.text().startswith("2 groups"), timeout=TIMEOUT)


def test_cancelling_the_confirmation_moves_nothing(qtbot, tmp_path: Path, library, settings, trash) -> None:
    win, _ = indexed_window(qtbot, tmp_path, library, settings)
    show_duplicates(qtbot, win)
    view = win.duplicates_view
    for card in view.rows[0].cards:  # keep a whole group: only the other group's copies would go
        card.keep.setChecked(True)
    assert view.trash_btn.text() == "Move 2 photos to the trash\u2026"
    qtbot.mouseClick(view.trash_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.confirmation is not None and view.confirmation.isVisible(), timeout=TIMEOUT)
    qtbot.mouseClick(view.confirmation.button(QMessageBox.StandardButton.Cancel), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.confirmation is None, timeout=TIMEOUT)
    assert not trash.exists()
    assert len(list((tmp_path / "photos").iterdir())) == 10


def test_more_like_this_shows_the_photo_then_its_copies(qtbot, tmp_path: Path, library, settings) -> None:
    win, _ = indexed_window(qtbot, tmp_path, library, settings)
    with library.session() as s:
        ids = {Path(p).name: pid for pid, p in s.execute(select(Photo.id, Photo.path))}
    win.show_similar(ids["photo0.jpg"])
    qtbot.waitUntil(lambda: win.result_count.text() == "the 9 photos most like this one", timeout=TIMEOUT)
    shown = list(win.model.ids)
    assert shown[0] == ids["photo0.jpg"]
    assert set(shown[1:3]) == {ids["photo0 (copy).jpg"], ids["photo0-small.jpg"]}
