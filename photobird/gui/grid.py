"""The thumbnail grid: a virtualized QListView over search results.

The model holds only photo ids (a search over 100,000 photos is 100,000 ints): a search's first page is set at
once and the rest appended when it arrives (``extend_results``). What a cell shows is fetched
when the view first asks for it, in the background, in batches: briefs (user label, bird score) from the
catalogue and thumbnails from the cache. Until they arrive, the cell draws a placeholder. When the catalogue
changes (``refresh``), briefs are marked stale rather than dropped: a cell keeps its badge until the new brief
arrives, and only the cells that are drawn are read again.

The timeline: when the results are in date order, the first cell of each day draws the day's header in a strip
above its thumbnail (every cell keeps that strip, so cells stay uniform and the view stays virtualized: rows are
photos, never headers); the days come with the results (``set_sections``), worked out on a worker.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Collection
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPixmap, QTransform
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from photobird.gui.worker import TaskRunner
from photobird.library import catalogue, edits, thumb_cache
from photobird.library.store import Library
from photobird.library.timeline import Section, short_date

ID_ROLE = Qt.ItemDataRole.UserRole + 1
BRIEF_ROLE = Qt.ItemDataRole.UserRole + 2
SCORE_ROLE = Qt.ItemDataRole.UserRole + 3
HEADER_ROLE = Qt.ItemDataRole.UserRole + 4  # the day (``Section``) this row's photo starts, else None
DAY_ROLE = Qt.ItemDataRole.UserRole + 5  # the day (``Section``) this row's photo is in, else None

#: The strip above each thumbnail where the first photo of a day draws the day's header
HEADER_HEIGHT = 22
#: The strip below each thumbnail where its date goes, when dates are shown
DATE_HEIGHT = 16

BIRD_COLOR = QColor(46, 160, 67)
NOT_BIRD_COLOR = QColor(207, 34, 46)


def thumbnail(library: Library, content_hash: str, side: int, rotation: int, photo: str | None = None) -> QImage | None:
    """Worker thread (``QImage`` may be made off the GUI thread): a picture's cached thumbnail scaled to fit
    ``side`` and turned ``rotation`` degrees as the user turned it; None when the cache has none (and, given the
    ``photo`` file, it cannot be made from it: this folder's cache lacks what another computer indexed)."""
    path = (
        library.thumb_path(content_hash) if photo is None else thumb_cache.thumbnail_file(library, content_hash, photo)
    )
    image = QImage(str(path)) if path is not None and path.is_file() else QImage()
    if image.isNull():
        return None
    if max(image.width(), image.height()) != side:
        image = image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return image.transformed(QTransform().rotate(rotation)) if rotation else image


def _load_batch(
    library: Library, ids: list[int], thumbs: Collection[int], side: int
) -> dict[int, tuple[Any, QImage | None, int]]:
    """Runs on a worker thread: briefs from the catalogue, each photo's rotation, and for the photos in ``thumbs``
    thumbnails decoded into QImages already scaled to the cell and turned as the user turned them, so painting a
    cell is a plain copy (smooth scaling on the GUI thread would stall scrolling)."""
    briefs = catalogue.briefs(library, ids)
    turned = edits.rotations(library, [b.content_hash for b in briefs.values() if b.content_hash])
    out: dict[int, tuple[Any, QImage | None, int]] = {}
    for pid in ids:
        b = briefs.get(pid)
        image = None
        rotation = turned.get(b.content_hash, 0) if b is not None and b.content_hash else 0
        if pid in thumbs and b is not None and b.content_hash:
            image = thumbnail(library, b.content_hash, side, rotation, None if b.offline else b.path)
        out[pid] = (b, image, rotation)
    return out


class PhotoGridModel(QAbstractListModel):
    """Search results as a list model. ``set_results`` replaces them; cells fill in asynchronously."""

    briefs_changed = Signal()

    def __init__(self, library: Library, runner: TaskRunner, cache_size: int = 3000) -> None:
        super().__init__()
        self.library = library
        self.runner = runner
        self.ids: list[int] = []
        self.scores: list[float] = []
        self.briefs: dict[int, catalogue.PhotoBrief] = {}
        #: The timeline's days, in row order (none when the results are not in date order)
        self.sections: list[Section] = []
        self._section_rows: list[int] = []
        self._header_at: dict[int, Section] = {}
        self.pixmaps: OrderedDict[int, QPixmap] = OrderedDict()
        self.turned: dict[int, int] = {}  # how each cached thumbnail is turned (clockwise degrees)
        self.cache_size = cache_size
        self._row_of: dict[int, int] = {}
        self._wanted: list[int] = []
        self._in_flight: set[int] = set()
        self._stale: set[int] = set()  # cached briefs to read again when their cell is next drawn
        self._generation = 0  # thumbnails: bumped when the cell size changes
        self._brief_generation = 0  # briefs: bumped by refresh, so an older answer does not count as fresh
        self.thumb_side = 164
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(15)
        self._flush.timeout.connect(self._request)

    # results -------------------------------------------------------------------------------------------------

    def set_results(self, ids: list[int], scores: list[float]) -> None:
        self.beginResetModel()
        self.ids = list(ids)
        self.scores = list(scores)
        self._row_of = {pid: i for i, pid in enumerate(self.ids)}
        self._wanted.clear()
        self._in_flight.clear()
        self.sections, self._section_rows, self._header_at = [], [], {}  # (those were the old results' days)
        self.endResetModel()

    def set_sections(self, sections: list[Section]) -> None:
        """The days of the results shown (they arrive with them): each draws its header on its first row."""
        if sections == self.sections:
            return
        self.sections = list(sections)
        self._section_rows = [s.row for s in self.sections]
        self._header_at = {s.row: s for s in self.sections}
        if self.ids:
            self.dataChanged.emit(self.index(0), self.index(len(self.ids) - 1))

    def extend_results(self, ids: list[int], scores: list[float]) -> None:
        """Append results (the rest of a search whose first page is shown): rows already there stay as they are."""
        if not ids:
            return
        first = len(self.ids)
        self.beginInsertRows(QModelIndex(), first, first + len(ids) - 1)
        self.ids.extend(ids)
        self.scores.extend(scores)
        self._row_of.update(zip(ids, range(first, first + len(ids)), strict=True))
        self.endInsertRows()

    def refresh(self, ids: list[int] | None = None) -> None:
        """Read briefs again: of ``ids`` and of every identical copy of them (after a label changed: a label
        belongs to the content, so every file with that content hash changed with it), or of every photo (the
        catalogue changed). A changed photo's thumbnail is re-made when its brief says its content changed."""
        if ids is None:
            targets = set(self.briefs)
        else:
            hashes = {b.content_hash for pid in ids if (b := self.briefs.get(pid)) is not None and b.content_hash}
            targets = set(ids) | {pid for pid, b in self.briefs.items() if b.content_hash in hashes}
        self._stale |= targets
        self._brief_generation += 1
        self._in_flight -= targets  # an answer on its way predates the change: ask again
        if ids is None:
            if self.ids:
                self.dataChanged.emit(self.index(0), self.index(len(self.ids) - 1))
            return
        for pid in targets:
            row = self._row_of.get(pid)
            if row is not None:
                idx = self.index(row)
                self.dataChanged.emit(idx, idx)

    def set_thumb_side(self, side: int) -> None:
        """New cell size: thumbnails are re-made at that size (in the background) as cells are shown."""
        if side != self.thumb_side:
            self.thumb_side = side
            self.pixmaps.clear()
            self._generation += 1
            self._in_flight.clear()
            if self.ids:
                self.dataChanged.emit(self.index(0), self.index(len(self.ids) - 1))

    def row_of(self, photo_id: int) -> int | None:
        return self._row_of.get(photo_id)

    # Qt model --------------------------------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.ids)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        pid = self.ids[index.row()]
        if role == ID_ROLE:
            return pid
        if role == SCORE_ROLE:
            return self.scores[index.row()]
        if role == HEADER_ROLE:
            return self._header_at.get(index.row())
        if role == DAY_ROLE:
            at = bisect_right(self._section_rows, index.row()) - 1
            return self.sections[at] if at >= 0 else None
        if role == Qt.ItemDataRole.DecorationRole:
            pm = self.pixmaps.get(pid)
            if pm is None:
                self._want(pid)
            else:
                self.pixmaps.move_to_end(pid)
            return pm
        if role == BRIEF_ROLE:
            b = self.briefs.get(pid)
            if b is None or pid in self._stale:
                self._want(pid)
            return b
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.DisplayRole):
            b = self.briefs.get(pid)
            if b is None:
                return None
            name = Path(b.path).name
            if role == Qt.ItemDataRole.DisplayRole:
                return name
            bird = "" if b.bird is None else f"\nbird {b.bird:.0%}"
            mark = {"bird": "\nyou: bird", "not-bird": "\nyou: not bird"}.get(b.user_label or "", "")
            return f"{b.path}{bird}{mark}"
        return None

    # background fetching ---------------------------------------------------------------------------------------

    def _want(self, pid: int) -> None:
        if pid not in self._in_flight:
            self._in_flight.add(pid)
            self._wanted.append(pid)
            if not self._flush.isActive():
                self._flush.start()

    def _request(self) -> None:
        ids, self._wanted = self._wanted[:200], self._wanted[200:]
        if self._wanted:
            self._flush.start()
        if not ids:
            return
        generation, brief_generation = self._generation, self._brief_generation
        self.runner.run(
            _load_batch,
            self.library,
            ids,
            {pid for pid in ids if pid not in self.pixmaps},
            self.thumb_side,
            on_done=lambda result, g=generation, bg=brief_generation: self._loaded(result, g, bg),
            on_error=lambda msg, tb, ids=ids: self._in_flight.difference_update(ids),
        )

    def _loaded(
        self, result: dict[int, tuple[Any, QImage | None, int]], generation: int, brief_generation: int
    ) -> None:
        rows = []
        for pid, (brief, image, rotation) in result.items():
            self._in_flight.discard(pid)
            if brief is not None:
                old = self.briefs.get(pid)
                if old is not None and old.content_hash != brief.content_hash:
                    self.pixmaps.pop(pid, None)  # the file's content changed: its thumbnail too
                self.briefs[pid] = brief
            if brief_generation == self._brief_generation:
                self._stale.discard(pid)
            if image is not None and generation == self._generation:
                self.pixmaps[pid] = QPixmap.fromImage(image)  # QPixmap only ever on the GUI thread
                self.turned[pid] = rotation
            elif pid in self.pixmaps and rotation != (before := self.turned.get(pid, 0)):  # turned since it was made
                self.pixmaps[pid] = self.pixmaps[pid].transformed(QTransform().rotate(rotation - before))
                self.turned[pid] = rotation
            row = self._row_of.get(pid)
            if row is not None:
                rows.append(row)
        while len(self.pixmaps) > self.cache_size:
            self.turned.pop(self.pixmaps.popitem(last=False)[0], None)
        if rows:
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)))
        self.briefs_changed.emit()


class PhotoDelegate(QStyledItemDelegate):
    """Draws a thumbnail (or a placeholder) with badges: the user's label, and whether the model agrees; above
    the first photo of a day, the day's header; below each photo, when ``dates`` is on, its date."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.cell = 180
        self.dates = False

    def cell_size(self) -> QSize:
        return QSize(self.cell, self.cell + HEADER_HEIGHT + (DATE_HEIGHT if self.dates else 0))

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return self.cell_size()

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        painter.save()
        header = index.data(HEADER_ROLE)
        if header is not None:
            self._header(painter, option, header)
        below = DATE_HEIGHT if self.dates else 0
        if below:
            self._date(painter, option, index, below)
        r: QRect = option.rect.adjusted(3, 3 + HEADER_HEIGHT, -3, -3 - below)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        pal = option.palette
        painter.fillRect(r, pal.alternateBase() if not selected else pal.highlight())
        pm = index.data(Qt.ItemDataRole.DecorationRole)
        inner = r.adjusted(4, 4, -4, -4)
        if isinstance(pm, QPixmap) and not pm.isNull():
            if pm.width() > inner.width() or pm.height() > inner.height():  # (only until the re-made one arrives)
                pm = pm.scaled(inner.size(), Qt.AspectRatioMode.KeepAspectRatio)
            x = inner.x() + (inner.width() - pm.width()) // 2
            y = inner.y() + (inner.height() - pm.height()) // 2
            painter.drawPixmap(x, y, pm)
        else:
            painter.setPen(pal.mid().color())
            painter.drawRect(inner.adjusted(10, 10, -10, -10))
        brief = index.data(BRIEF_ROLE)
        if brief is not None:
            self._badges(painter, inner, brief)
        painter.restore()

    def _header(self, painter: QPainter, option: QStyleOptionViewItem, day: Section) -> None:
        """The day's title in the strip above the cell (short, or cut, where the cell is too narrow for it: text
        drawn past the cell would be left behind when only the next cell is repainted)."""
        strip = QRect(option.rect.left() + 4, option.rect.top(), option.rect.width() - 8, HEADER_HEIGHT)
        font = QFont(painter.font())
        font.setBold(True)
        font.setPixelSize(13)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        text = day.title if metrics.horizontalAdvance(day.title) <= strip.width() else day.short
        painter.setPen(option.palette.text().color())
        painter.drawText(
            strip,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom,
            metrics.elidedText(text, Qt.TextElideMode.ElideRight, strip.width()),
        )

    def _date(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex, height: int
    ) -> None:
        """The photo's date under it: its day in the timeline, else (results not in date order) its date taken."""
        day = index.data(DAY_ROLE)
        if day is not None:
            text = day.short
        else:
            brief = index.data(BRIEF_ROLE)
            taken = getattr(brief, "taken_at", None)
            text = short_date(taken) if taken is not None else ""
        if not text:
            return
        r = QRect(option.rect.left() + 3, option.rect.bottom() - height, option.rect.width() - 6, height)
        font = QFont(painter.font())
        font.setBold(False)
        font.setPixelSize(11)
        painter.setFont(font)
        painter.setPen(option.palette.placeholderText().color())
        painter.drawText(
            r,
            Qt.AlignmentFlag.AlignCenter,
            painter.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, r.width()),
        )

    def _badges(self, painter: QPainter, r: QRect, brief: catalogue.PhotoBrief) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = QFont(painter.font())
        font.setBold(True)
        font.setPixelSize(12)
        painter.setFont(font)
        if brief.user_label:
            is_bird = brief.user_label == "bird"
            color = BIRD_COLOR if is_bird else NOT_BIRD_COLOR
            text = "BIRD" if is_bird else "NOT BIRD"
            agrees = brief.is_bird is None or brief.is_bird == is_bird
            text += " \u2713" if agrees else " \u2717"  # does the model agree with you?
            w = painter.fontMetrics().horizontalAdvance(text) + 12
            badge = QRect(r.left() + 4, r.top() + 4, w, 20)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(color)
            painter.drawRoundedRect(badge, 6, 6)
            painter.setPen(QPen(Qt.GlobalColor.white))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)
        elif brief.is_bird:
            dot = QRect(r.right() - 18, r.top() + 4, 14, 14)
            painter.setPen(QPen(Qt.GlobalColor.white, 1.5))
            painter.setBrush(BIRD_COLOR)
            painter.drawEllipse(dot)


class PhotoGrid(QListView):
    """The grid view: icon mode, uniform cells, smooth (per-pixel) scrolling."""

    activated_photo = Signal(int)  # double-click or Enter

    def __init__(self, model: PhotoGridModel) -> None:
        super().__init__()
        self.setModel(model)
        self.delegate = PhotoDelegate(self)
        self.setItemDelegate(self.delegate)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(500)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setSpacing(2)
        self.setWordWrap(False)
        self.activated.connect(lambda idx: self.activated_photo.emit(idx.data(ID_ROLE)))
        self.set_cell_size(180)

    def set_cell_size(self, px: int) -> None:
        self.delegate.cell = px
        model = self.model()
        if isinstance(model, PhotoGridModel):
            model.set_thumb_side(px - 14)  # the delegate's margins
        self.setGridSize(self.delegate.cell_size() + QSize(4, 4))
        self.verticalScrollBar().setSingleStep(max(20, px // 4))
        self.scheduleDelayedItemsLayout()

    def set_show_dates(self, on: bool) -> None:
        """Each photo's date under it, or not: every cell grows or shrinks by the date's strip."""
        if on != self.delegate.dates:
            self.delegate.dates = on
            self.set_cell_size(self.delegate.cell)

    def scroll_to_row(self, row: int, passes: int = 100) -> None:
        """Scroll so that ``row`` is at the top of the view. The grid lays a long list out in batches, one per
        turn of the event loop: a row not laid out yet has no place to scroll to, so this waits for it."""
        index = self.model().index(row, 0)
        if not index.isValid():
            return
        if self.visualRect(index).isValid() or not passes:
            self.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtTop)
        else:
            QTimer.singleShot(0, lambda: self.scroll_to_row(row, passes - 1))

    def selected_ids(self) -> list[int]:
        return [i.data(ID_ROLE) for i in sorted(self.selectionModel().selectedIndexes(), key=lambda i: i.row())]
