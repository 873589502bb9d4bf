"""The People view: one face and a photo count per person, named people first, then the others by how many
photos they are in. A click shows their photos (a search, so it combines with words: "anna beach"); the user
names, renames and merges people, and takes a wrong face out of a person or moves it to another.

Like every view it talks to the core (``photobird.library.people``) through the runner, never on the GUI
thread, and to the window only by signals. Face pictures are cut from the photos on a worker thread; the most
recently shown are kept for reuse (``KEPT_PICTURES``).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QKeyEvent, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from photobird.gui.worker import TaskRunner
from photobird.library import people
from photobird.library.store import Library, SettingKey

log = logging.getLogger(__name__)

PERSON_ROLE = Qt.ItemDataRole.UserRole + 30
FACE_ROLE = Qt.ItemDataRole.UserRole + 31
NAME_ROLE = Qt.ItemDataRole.UserRole + 32
FACE_SIDE = 96
STRIP_SIDE = 72
#: Face pictures kept for reuse, the least recently shown dropped first (about 37 KB each: at most about 55 MB
#: however many faces a library has; a dropped one is read again when it is shown again).
KEPT_PICTURES = 1500


def _qimage(image: Any) -> QImage:
    data = image.convert("RGB").tobytes("raw", "RGB")
    return QImage(data, image.width, image.height, image.width * 3, QImage.Format.Format_RGB888).copy()


def _load_faces(library: Library, face_ids: list[int], side: int) -> dict[int, QImage]:
    """Worker thread: each face's picture as a ``QImage`` (the one image class that may be made off the GUI
    thread); a face whose file cannot be read is left out and keeps its placeholder."""
    out = {}
    for fid in face_ids:
        crop = people.face_crop(library, fid, side)
        if crop is not None:
            out[fid] = _qimage(crop)
    return out


def display_name(person: people.PersonInfo) -> str:
    return person.name or "Unnamed"


class _PeopleList(QListWidget):
    """Enter opens the person, F2 renames them (as in a file manager)."""

    opened = Signal(QListWidgetItem)
    rename = Signal(QListWidgetItem)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        item = self.currentItem()
        if item is not None and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.opened.emit(item)
        elif item is not None and event.key() == Qt.Key.Key_F2:
            self.rename.emit(item)
        else:
            super().keyPressEvent(event)


class PeopleView(QWidget):
    """People, their faces, and the decisions the user makes about them.

    ``search_requested`` carries the search that shows a person's photos; ``people_changed`` says the user
    changed a name or a face (the window refreshes what shows names); ``faces_toggled`` carries the new value
    of the faces setting (the window stops or restarts the indexer around it).
    """

    search_requested = Signal(str)
    people_changed = Signal()
    faces_toggled = Signal(bool)

    def __init__(self, library: Library, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.runner = runner
        self.people: list[people.PersonInfo] = []
        self._pictures: OrderedDict[int, QPixmap] = OrderedDict()  # least recently shown first
        self._asked: set[int] = set()
        self._generation = 0
        self._read_only: str | None = None  # why nothing can be changed here (a read-only library), if so
        self._placeholder = QPixmap(FACE_SIDE, FACE_SIDE)
        self._placeholder.fill(QColor(200, 200, 200))
        self.enabled = QCheckBox("Find faces in my photos and group them into people")
        self.enabled.setChecked(True)
        self.enabled.clicked.connect(self._toggle)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.list = _PeopleList()
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setIconSize(QSize(FACE_SIDE, FACE_SIDE))
        self.list.setGridSize(QSize(FACE_SIDE + 40, FACE_SIDE + 48))
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.setMovement(QListWidget.Movement.Static)
        self.list.setWordWrap(True)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.itemActivated.connect(self._open)
        self.list.opened.connect(self._open)
        self.list.rename.connect(self._rename_item)
        self.list.currentItemChanged.connect(lambda cur, _prev: self._show_faces(cur))
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._person_menu)
        self.name_btn = QPushButton("Name\u2026")
        self.name_btn.clicked.connect(lambda: self._rename_item(self.list.currentItem()))
        self.merge_btn = QPushButton("Merge")
        self.merge_btn.setToolTip("Select two people who are the same person, then merge them")
        self.merge_btn.clicked.connect(self.merge_selected)
        self.list.itemSelectionChanged.connect(self._selection_changed)
        self.faces = QListWidget()
        self.faces.setViewMode(QListWidget.ViewMode.IconMode)
        self.faces.setIconSize(QSize(STRIP_SIDE, STRIP_SIDE))
        self.faces.setFlow(QListWidget.Flow.LeftToRight)
        self.faces.setWrapping(False)
        # a fixed cell per face: pictures arrive later, and a cell sized by its (still empty) item would stay tiny
        self.faces.setGridSize(QSize(STRIP_SIDE + 8, STRIP_SIDE + 8))
        self.faces.setUniformItemSizes(True)
        self.faces.setFixedHeight(STRIP_SIDE + 36)
        self.faces.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.faces.customContextMenuRequested.connect(self._face_menu)
        self.faces_title = QLabel()
        buttons = QHBoxLayout()
        buttons.addWidget(self.name_btn)
        buttons.addWidget(self.merge_btn)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.enabled)
        lay.addWidget(self.hint)
        lay.addWidget(self.list, 1)
        lay.addLayout(buttons)
        lay.addWidget(self.faces_title)
        lay.addWidget(self.faces)
        self._selection_changed()

    # reading ----------------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the people again in the background (newest answer wins)."""
        self._generation += 1
        generation = self._generation

        def read(library: Library) -> tuple[bool, list[people.PersonInfo]]:
            return bool(library.get_setting(SettingKey.FACES)), people.people(library)

        self.runner.run(read, self.library, on_done=lambda result: self._loaded(generation, *result))

    def _loaded(self, generation: int, enabled: bool, found: list[people.PersonInfo]) -> None:
        if generation != self._generation:
            return
        self.enabled.setChecked(enabled)
        self.list.setEnabled(enabled)
        if not enabled:
            self.hint.setText("Faces are off: PhotoBird does not look for faces, and keeps none.")
        elif not found:
            self.hint.setText("No people yet: faces are found after the photos are indexed, then grouped here.")
        else:
            named = sum(p.name is not None for p in found)
            self.hint.setText(
                f"{len(found)} people, {named} named. Click a person to see their photos; name them to search "
                "for them by name."
            )
        if [(p.id, p.name, p.photos, p.cover) for p in found] == [
            (p.id, p.name, p.photos, p.cover) for p in self.people
        ]:
            return
        current = self.list.currentItem().data(PERSON_ROLE) if self.list.currentItem() else None
        self.people = found
        self.list.clear()
        for person in found:
            item = QListWidgetItem(f"{display_name(person)}\n{person.photos} photo{'s' if person.photos != 1 else ''}")
            item.setData(PERSON_ROLE, person.id)
            item.setData(NAME_ROLE, person.name)
            item.setData(FACE_ROLE, person.cover)
            item.setToolTip(f"{display_name(person)}: {person.photos} photos, {person.faces} faces")
            item.setIcon(QIcon(self._picture(person.cover)))
            self.list.addItem(item)
            if person.id == current:
                self.list.setCurrentItem(item)
        self._request_pictures([p.cover for p in found if p.cover is not None], FACE_SIDE)

    def item_for(self, person_id: int) -> QListWidgetItem | None:
        for i in range(self.list.count()):
            if self.list.item(i).data(PERSON_ROLE) == person_id:
                return self.list.item(i)
        return None

    def _request_pictures(self, face_ids: list[int], side: int) -> None:
        wanted = [f for f in face_ids if f not in self._pictures and f not in self._asked]
        if not wanted:
            return
        self._asked.update(wanted)
        self.runner.run(
            _load_faces,
            self.library,
            wanted,
            side,
            on_done=self._pictures_loaded,
            on_error=lambda msg, tb: self._asked.difference_update(wanted),
        )

    def _picture(self, face_id: int | None) -> QPixmap:
        """The face's picture if it is kept (now the most recently shown), else the placeholder."""
        if face_id not in self._pictures:
            return self._placeholder
        self._pictures.move_to_end(face_id)
        return self._pictures[face_id]

    def _pictures_loaded(self, images: dict[int, QImage]) -> None:
        for fid, image in images.items():
            self._pictures[fid] = QPixmap.fromImage(image)
            self._pictures.move_to_end(fid)
        for widget in (self.list, self.faces):
            for i in range(widget.count()):
                item = widget.item(i)
                fid = item.data(FACE_ROLE)
                if fid in images:
                    item.setIcon(QIcon(self._pictures[fid]))
        while len(self._pictures) > KEPT_PICTURES:  # (what is on screen keeps its own copy in its item's icon)
            dropped, _ = self._pictures.popitem(last=False)
            self._asked.discard(dropped)

    # a person's faces -------------------------------------------------------------------------------------------

    def _show_faces(self, item: QListWidgetItem | None) -> None:
        self.faces.clear()
        if item is None:
            self.faces_title.setText("")
            return
        person_id = item.data(PERSON_ROLE)
        self.faces_title.setText(f"Faces of {item.text().splitlines()[0]} (right-click a face that is not them)")
        self.runner.run(
            people.faces, self.library, person_id=person_id, on_done=lambda found: self._faces_loaded(person_id, found)
        )

    def _faces_loaded(self, person_id: int, found: list[people.FaceInfo]) -> None:
        current = self.list.currentItem()
        if current is None or current.data(PERSON_ROLE) != person_id:
            return
        self.faces.clear()
        for face in found:
            item = QListWidgetItem("")
            item.setData(FACE_ROLE, face.id)
            item.setData(PERSON_ROLE, person_id)
            item.setToolTip(face.path)
            item.setIcon(QIcon(self._picture(face.id)))
            self.faces.addItem(item)
        self._request_pictures([f.id for f in found], FACE_SIDE)

    # the user's decisions ---------------------------------------------------------------------------------------

    def set_read_only(self, reason: str) -> None:
        """A read-only library: people are shown and their photos found, but not named, merged or moved, and
        ``reason`` (one sentence) says why on the controls that would."""
        self._read_only = reason
        self.enabled.setEnabled(False)
        for widget in (self.enabled, self.name_btn, self.merge_btn):
            widget.setToolTip(reason)
        self._selection_changed()

    def _selection_changed(self) -> None:
        selected = self.list.selectedItems()
        writable = self._read_only is None
        self.merge_btn.setEnabled(writable and len(selected) == 2)
        self.name_btn.setEnabled(writable and len(selected) == 1)
        self.name_btn.setText("Rename\u2026" if selected and selected[0].data(NAME_ROLE) else "Name\u2026")

    def _open(self, item: QListWidgetItem) -> None:
        """Show the person's photos: by name when they have one, else by id."""
        name = item.data(NAME_ROLE)
        self.search_requested.emit(name.lower() if name else f"person:{item.data(PERSON_ROLE)}")

    def _rename_item(self, item: QListWidgetItem | None) -> None:
        if item is None or self._read_only is not None:
            return
        name, ok = QInputDialog.getText(self, "PhotoBird", "Who is this?", text=item.data(NAME_ROLE) or "")
        if ok and name.strip():
            self.name_person(item.data(PERSON_ROLE), name)

    def name_person(self, person_id: int, name: str) -> None:
        self._apply(people.name_person, self.library, person_id, name)

    def merge_selected(self) -> None:
        """The two selected people become one: the named one stays (or the one with more photos)."""
        selected = self.list.selectedItems()
        if len(selected) != 2:
            return
        by_id = {p.id: p for p in self.people}
        a, b = sorted((by_id[i.data(PERSON_ROLE)] for i in selected), key=lambda p: (p.name is None, -p.photos, p.id))
        self._apply(people.merge_people, self.library, a.id, b.id)

    def move_face(self, face_id: int, person_id: int | None) -> None:
        self._apply(people.move_face, self.library, face_id, person_id)

    def _apply(self, fn: Any, *args: Any) -> None:
        def done(_: Any) -> None:
            self.refresh()
            self._show_faces(self.list.currentItem())
            self.people_changed.emit()

        self.runner.run(
            fn,
            *args,
            on_done=done,
            on_error=lambda message, _tb: QMessageBox.warning(self, "PhotoBird", message),
        )

    def _person_menu(self, pos: Any) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        menu = QMenu(self)
        menu.addAction("Show photos", lambda: self._open(item))
        if self._read_only is not None:
            menu.exec(self.list.viewport().mapToGlobal(pos))
            return
        menu.addAction("Rename\u2026" if item.data(NAME_ROLE) else "Name\u2026", lambda: self._rename_item(item))
        if len(self.list.selectedItems()) == 2:
            menu.addAction("Merge these two", self.merge_selected)
        menu.exec(self.list.viewport().mapToGlobal(pos))

    def _face_menu(self, pos: Any) -> None:
        item = self.faces.itemAt(pos)
        if item is None or self._read_only is not None:
            return
        face_id, person_id = item.data(FACE_ROLE), item.data(PERSON_ROLE)
        current = self.item_for(person_id)
        who = current.text().splitlines()[0] if current is not None else "this person"
        menu = QMenu(self)
        menu.addAction(f"Not {who}", lambda: self.move_face(face_id, None))
        others = [p for p in self.people if p.id != person_id]
        if others:
            move = menu.addMenu("Move to")
            for p in others[:30]:
                move.addAction(f"{display_name(p)} (person {p.id})", lambda pid=p.id: self.move_face(face_id, pid))
        menu.exec(self.faces.viewport().mapToGlobal(pos))

    # the setting ------------------------------------------------------------------------------------------------

    def _toggle(self, checked: bool) -> None:
        if not checked:
            answer = QMessageBox.question(
                self,
                "PhotoBird",
                "Turn faces off?\n\nEvery face PhotoBird found, every person and every name you gave is deleted. "
                "Your photos are not touched.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                self.enabled.setChecked(True)
                return
        self.faces_toggled.emit(checked)
