"""The filmstrip under the viewer's photo: the results around it as a row of small thumbnails, the photo shown
marked and kept in the middle; a click shows another.

It is a second view on the grid's own model (``PhotoGridModel``), so it holds no list of its own, shows the
same results in the same order, and its thumbnails come from the same cache, loaded in the background as the
strip asks for them. Only the cells in view are drawn.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QPainter, QPen, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from photobird.gui.grid import ID_ROLE, PhotoGridModel

#: A filmstrip cell's side, in pixels.
CELL = 76


class _FrameDelegate(QStyledItemDelegate):
    """A thumbnail fitted in a small square; the photo shown framed."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(CELL, CELL)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        painter.save()
        r: QRect = option.rect.adjusted(2, 2, -2, -2)
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            fitted = pixmap.size().scaled(r.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, fitted.width(), fitted.height())
            target.moveCenter(r.center())
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawPixmap(target, pixmap)
        else:
            painter.fillRect(r, option.palette.alternateBase())
        if option.state & QStyle.StateFlag.State_Selected:
            painter.setPen(QPen(option.palette.highlight().color(), 3))
            painter.drawRect(r.adjusted(1, 1, -1, -1))
        painter.restore()


class Filmstrip(QListView):
    chosen = Signal(int)  # the photo clicked

    def __init__(self, model: PhotoGridModel) -> None:
        super().__init__()
        self.setModel(model)
        self.setItemDelegate(_FrameDelegate(self))
        self.setViewMode(QListView.ViewMode.ListMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(500)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the viewer keeps the keys
        self.setFixedHeight(CELL + self.horizontalScrollBar().sizeHint().height() + 6)
        self.clicked.connect(lambda index: self.chosen.emit(index.data(ID_ROLE)))

    def show_current(self, photo_id: int) -> None:
        """Mark the photo shown and bring it to the middle of the strip."""
        model = self.model()
        row = model.row_of(photo_id) if isinstance(model, PhotoGridModel) else None
        if row is None:
            self.clearSelection()
            return
        index = model.index(row)
        self.selectionModel().setCurrentIndex(index, self.selectionModel().SelectionFlag.ClearAndSelect)
        self.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
