"""The People view driven like a user would: open People, name a person, search the name, see their photos."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog

from photobird import config
from photobird.gui import people_view
from photobird.gui.main_window import MainWindow
from photobird.gui.people_view import NAME_ROLE, PERSON_ROLE, STRIP_SIDE
from photobird.library import people, scan
from photobird.library.index import index
from photobird.library.store import Library
from photobird.models.runner import Models

TIMEOUT = 60_000


def copy_people(dst: Path, n_people: int = 2, per_person: int = 3) -> dict[str, str]:
    """Photos of a few people of the shared faces-dev set (read there, copied to a temporary folder only)."""
    folder = config.shared_data_dir() / "faces-dev"
    if not (folder / "labels.csv").is_file():
        pytest.skip(f"shared faces-dev photos not found at {folder}; set PHOTOBIRD_DATA")
    by_person: dict[str, list[str]] = {}
    with open(folder / "labels.csv") as f:
        for row in csv.DictReader(f):
            if row["person"]:
                by_person.setdefault(row["person"], []).append(row["file"])
    dst.mkdir(parents=True)
    chosen = {}
    for person in sorted(by_person)[:n_people]:
        for name in sorted(by_person[person])[:per_person]:
            shutil.copy2(folder / name, dst / name)
            chosen[name] = person
    return chosen


def answer_dialog(text: str) -> None:
    """Type ``text`` into the input dialog that is about to open, and press OK, as a user would."""

    def fill() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QInputDialog):
            QTimer.singleShot(20, fill)
            return
        dialog.setTextValue(text)
        dialog.accept()

    QTimer.singleShot(0, fill)


def test_name_a_person_then_find_them_by_name(
    qtbot, tmp_path: Path, library: Library, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = tmp_path / "photos"
    truth = copy_people(photos)
    scan.add_folder(library, photos)
    index(library, Models(device="cpu"))
    found = people.people(library)
    assert len(found) >= 2, found

    win = MainWindow(library, device="cpu", settings=settings, start_indexing=False)
    qtbot.addWidget(win)
    win.show()
    win.tabs.setCurrentWidget(win.people_view)
    view = win.people_view
    qtbot.waitUntil(lambda: view.list.count() == len(found), timeout=TIMEOUT)
    first = view.list.item(0)
    person_id = first.data(PERSON_ROLE)
    assert first.text().startswith("Unnamed") and first.data(NAME_ROLE) is None

    # select the person, click "Name…", type the name
    view.list.setCurrentItem(first)
    answer_dialog("Anna Example")
    qtbot.mouseClick(view.name_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: (item := view.item_for(person_id)) is not None and item.text().startswith("Anna"), timeout=TIMEOUT
    )
    assert view.list.item(0).data(PERSON_ROLE) == person_id  # named people come first

    # the strip below shows each of their faces, side by side
    qtbot.waitUntil(lambda: view.faces.count() == len(people.faces(library, person_id=person_id)), timeout=TIMEOUT)
    rects = [view.faces.visualItemRect(view.faces.item(i)) for i in range(view.faces.count())]
    assert all(r.width() >= STRIP_SIDE for r in rects)
    assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1 :])

    # search the name in the Photos tab: exactly that person's photos
    theirs = sorted({f.photo_id for f in people.faces(library, person_id=person_id)})
    assert len({truth[Path(f.path).name] for f in people.faces(library, person_id=person_id)}) == 1
    win.tabs.setCurrentIndex(0)
    win.search_box.clear()
    qtbot.keyClicks(win.search_box, "anna")
    qtbot.waitUntil(lambda: sorted(win.model.ids) == theirs, timeout=TIMEOUT)

    # a click on an unnamed person in the People view shows their photos too
    win.tabs.setCurrentWidget(view)
    other = next(view.list.item(i) for i in range(view.list.count()) if view.list.item(i).data(NAME_ROLE) is None)
    other_id = other.data(PERSON_ROLE)
    view.list.itemActivated.emit(other)
    assert win.tabs.currentIndex() == 0
    expected = sorted({f.photo_id for f in people.faces(library, person_id=other_id)})
    qtbot.waitUntil(lambda: sorted(win.model.ids) == expected, timeout=TIMEOUT)

    # the face pictures kept for reuse are bounded (the least recently shown go first); each face on screen
    # still shows its own picture, and one shown again is read again
    monkeypatch.setattr(people_view, "KEPT_PICTURES", 2)
    win.tabs.setCurrentWidget(view)

    def strip_shows_faces() -> bool:
        icons = [view.faces.item(i).icon().pixmap(STRIP_SIDE).toImage() for i in range(view.faces.count())]
        gray = view._placeholder.toImage().pixelColor(0, 0)
        return bool(icons) and all(i.pixelColor(i.width() // 2, i.height() // 2) != gray for i in icons)

    for person in (person_id, other_id, person_id):
        view.list.setCurrentItem(view.item_for(person))
        qtbot.waitUntil(lambda p=person: view.faces.count() == len(people.faces(library, person_id=p)), timeout=TIMEOUT)
        qtbot.waitUntil(strip_shows_faces, timeout=TIMEOUT)
    assert len(view._pictures) <= 2  # the first person's pictures went, and were read again to be shown
    win.close()
