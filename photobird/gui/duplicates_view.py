"""Duplicates: each group of exact copies or similar photos side by side, with what tells them apart (size,
resolution, date), the photo PhotoBird suggests keeping ticked, and one button that moves the others to the
trash after one confirmation.

Finding the groups (``library.duplicates``), reading thumbnails and moving files all run on the app's
``TaskRunner``; this widget only shows what comes back. ``photos_removed`` tells the window that photos left
the catalogue, so the grid and the sidebar read again.
"""

from __future__ import annotations

import datetime as dt
import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from photobird.gui.confirm import ask_to_trash
from photobird.gui.grid import thumbnail
from photobird.gui.sizes import file_size
from photobird.gui.worker import TaskRunner
from photobird.library import duplicates, edits, trash
from photobird.library.duplicates import Group, GroupKind, GroupPhoto
from photobird.library.store import Library

THUMB_SIDE = 160
#: Groups shown at once: the rest come once these are tidied (a library of scans may have thousands).
SHOWN_GROUPS = 100

KIND_TITLES = {GroupKind.EXACT: "Exact copies", GroupKind.SIMILAR: "Similar photos"}


def _load_thumbs(library: Library, photos: list[GroupPhoto], side: int) -> dict[int, QImage]:
    """Worker thread: the cached thumbnails (made from the photos where this folder's cache has none), scaled to
    the card and turned as the user turned them (``QImage`` may be made off the GUI thread)."""
    turned = edits.rotations(library, [p.content_hash for p in photos if p.content_hash])
    out = {}
    for p in photos:
        turn = turned.get(p.content_hash, 0) if p.content_hash else 0
        image = thumbnail(library, p.content_hash, side, turn, p.path) if p.content_hash else None
        if image is not None:
            out[p.id] = image
    return out


def describe(photo: GroupPhoto) -> str:
    """Name, resolution, file size and date, one per line: what decides which copy to keep."""
    size = f"{photo.width} \u00d7 {photo.height}" if photo.width and photo.height else "size unknown"
    when = photo.taken_at or dt.datetime.fromtimestamp(photo.mtime_ns / 1e9)
    return f"{os.path.basename(photo.path)}\n{size}\n{file_size(photo.size)}\n{when:%d %b %Y %H:%M}"


class PhotoCard(QFrame):
    """One photo of a group: its thumbnail, what tells it apart, and whether to keep it."""

    def __init__(self, photo: GroupPhoto, keep: bool, suggested: bool) -> None:
        super().__init__()
        self.photo = photo
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.picture = QLabel()
        self.picture.setFixedSize(THUMB_SIDE, THUMB_SIDE)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        blank = QPixmap(THUMB_SIDE, THUMB_SIDE)
        blank.fill(QColor(210, 210, 210))
        self.picture.setPixmap(blank)
        self.has_picture = False  # the thumbnail arrives from a worker; until then, a grey square
        self.details = QLabel(describe(photo))
        self.details.setToolTip(photo.path)
        self.keep = QCheckBox("Keep (suggested)" if suggested else "Keep")
        self.keep.setChecked(keep)
        lay = QVBoxLayout(self)
        lay.addWidget(self.picture)
        lay.addWidget(self.details)
        lay.addWidget(self.keep)

    def set_picture(self, image: QImage) -> None:
        self.picture.setPixmap(QPixmap.fromImage(image))
        self.has_picture = True


class GroupRow(QFrame):
    def __init__(self, group: Group) -> None:
        super().__init__()
        self.group = group
        title = QLabel(f"<b>{KIND_TITLES[group.kind]}</b> \u00b7 {len(group.photos)} photos")
        self.cards = [PhotoCard(p, keep=k == 0, suggested=k == 0) for k, p in enumerate(group.photos)]
        row = QHBoxLayout()
        for card in self.cards:
            row.addWidget(card)
        row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(title)
        lay.addLayout(row)


class DuplicatesView(QWidget):
    photos_removed = Signal(list)  # photo ids that left the catalogue (their files are in the trash)

    def __init__(self, library: Library, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.runner = runner
        self.groups: list[Group] = []
        self.rows: list[GroupRow] = []
        self.confirmation: QMessageBox | None = None
        self._generation = 0
        self._read_only: str | None = None
        self.summary = QLabel("Looking for duplicates\u2026")
        self.summary.setWordWrap(True)
        self.outcome = QLabel()  # what the last move to the trash did
        self.outcome.setWordWrap(True)
        self.find_btn = QPushButton("Look again")
        self.find_btn.clicked.connect(self.refresh)
        self.trash_btn = QPushButton()
        self.trash_btn.clicked.connect(self.ask_to_trash)
        self.body = QWidget()
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.body)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.find_btn)
        top.addWidget(self.trash_btn)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.outcome)
        lay.addWidget(scroll, 1)
        self._update_button()

    def set_read_only(self, reason: str) -> None:
        self._read_only = reason
        self.trash_btn.setToolTip(reason)
        self._update_button()

    # reading ----------------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        self._generation += 1
        generation = self._generation
        self.summary.setText("Looking for duplicates\u2026")
        self.runner.run(
            duplicates.find_groups,
            self.library,
            on_done=lambda groups: self._loaded(generation, groups),
            on_error=lambda message, _tb: self.summary.setText(f"Could not look for duplicates: {message}"),
        )

    def _loaded(self, generation: int, groups: list[Group]) -> None:
        if generation != self._generation:
            return  # a newer look is on its way
        self.groups = groups
        for row in self.rows:
            row.setParent(None)
            row.deleteLater()
        self.rows = [GroupRow(g) for g in groups[:SHOWN_GROUPS]]
        for row in self.rows:
            self.body_layout.insertWidget(self.body_layout.count() - 1, row)
            for card in row.cards:
                card.keep.toggled.connect(self._update_button)
        photos = [card.photo for row in self.rows for card in row.cards]
        self.runner.run(
            _load_thumbs, self.library, photos, THUMB_SIDE, on_done=lambda images: self._thumbs(generation, images)
        )
        if not groups:
            self.summary.setText("No duplicates or similar photos.")
        else:
            shown = "" if len(groups) <= SHOWN_GROUPS else f" (the first {SHOWN_GROUPS} shown)"
            self.summary.setText(
                f"{len(groups)} groups of copies or similar photos{shown}. The suggested photo to keep is ticked: "
                "the largest, the original."
            )
        self._update_button()

    def _thumbs(self, generation: int, images: dict[int, QImage]) -> None:
        if generation != self._generation:
            return
        for row in self.rows:
            for card in row.cards:
                if card.photo.id in images:
                    card.set_picture(images[card.photo.id])

    # tidying ----------------------------------------------------------------------------------------------------

    def unkept(self) -> list[GroupPhoto]:
        """The photos not ticked, in groups where at least one is (a group with none ticked is left alone)."""
        out = []
        for row in self.rows:
            if any(card.keep.isChecked() for card in row.cards):
                out += [card.photo for card in row.cards if not card.keep.isChecked()]
        return out

    def _update_button(self) -> None:
        n = len(self.unkept())
        self.trash_btn.setText(f"Move {n} photo{'s' if n != 1 else ''} to the trash\u2026")
        self.trash_btn.setEnabled(n > 0 and self._read_only is None)

    def ask_to_trash(self) -> None:
        """One confirmation (window-modal, not blocking the event loop), then the move."""
        photos = self.unkept()
        if not photos or self._read_only is not None:
            return
        freed = file_size(sum(p.size for p in photos))
        ids = [p.id for p in photos]
        self.confirmation = ask_to_trash(
            self,
            f"Move {len(photos)} photo{'s' if len(photos) != 1 else ''} ({freed}) to the trash? "
            "The ticked photos stay. You can restore the others from the trash.",
            lambda yes: self._confirmed(yes, ids),
        )

    def _confirmed(self, yes: bool, photo_ids: list[int]) -> None:
        self.confirmation = None
        if not yes:
            return
        self.trash_btn.setEnabled(False)
        self.outcome.setText(f"Moving {len(photo_ids)} photos to the trash\u2026")
        self.runner.run(
            trash.move_to_trash,
            self.library,
            photo_ids,
            on_done=self._trashed,
            on_error=lambda message, _tb: self._trash_failed(message),
        )

    def _trashed(self, result: trash.TrashResult) -> None:
        self.outcome.setText(result.said())
        if result.trashed:
            self.photos_removed.emit(result.trashed)
        self.refresh()

    def _trash_failed(self, message: str) -> None:
        self.outcome.setText(f"Nothing was moved to the trash: {message}")
        self._update_button()
