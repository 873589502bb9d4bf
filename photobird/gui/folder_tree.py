"""The sidebar's folders: each watched folder, and the folders below it as a tree, with how many photos each
holds (those below it included). Choosing one narrows the grid to it, with whatever the search box says;
clicking the folder shown again shows every folder.

The tree is rebuilt from each fresh read of the catalogue (the indexer finds photos, the watcher new folders),
keeping what the user made of it: the folders opened, the one chosen, where it was scrolled to.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QMouseEvent, QPalette
from PySide6.QtWidgets import QAbstractItemView, QTreeWidget, QTreeWidgetItem

from photobird import config
from photobird.library.folder_tree import FolderNode
from photobird.library.scan import FolderInfo, FolderState

PATH_ROLE = Qt.ItemDataRole.UserRole + 10
#: A press that chose nothing (on empty space, or on the arrow that opens a folder).
_NO_CHOICE = object()


def folder_name(path: str) -> str:
    """A folder as the sidebar names it (the bundled photos by what they are)."""
    return "Sample photos" if path == str(config.sample_photos_dir().resolve()) else (Path(path).name or path)


class FolderTree(QTreeWidget):
    #: The folder the grid is to show (its path), or None: every folder. Emitted on the user's choices only.
    chosen = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.setHeaderHidden(True)
        self.setColumnCount(1)
        self.setUniformRowHeights(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self._at_press: object = _NO_CHOICE  # the folder shown when a folder was pressed
        self.itemSelectionChanged.connect(lambda: self.chosen.emit(self.selected()))
        self.itemClicked.connect(self._clicked)

    @staticmethod
    def path(item: QTreeWidgetItem) -> str:
        return item.data(0, PATH_ROLE)

    @staticmethod
    def is_watched(item: QTreeWidgetItem) -> bool:
        """Whether ``item`` is a watched folder (not one below it)."""
        return item.parent() is None

    def selected(self) -> str | None:
        items = self.selectedItems()
        return self.path(items[0]) if items else None

    def items(self) -> list[QTreeWidgetItem]:
        """Every folder's item, each before those below it."""
        out: list[QTreeWidgetItem] = []
        stack = [self.topLevelItem(i) for i in reversed(range(self.topLevelItemCount()))]
        while stack:
            item = stack.pop()
            out.append(item)
            stack.extend(item.child(i) for i in reversed(range(item.childCount())))
        return out

    def show_folders(self, folders: list[FolderInfo], below: dict[str, list[FolderNode]], shown: str | None) -> bool:
        """Show ``folders`` (and the folders ``below`` each) with ``shown`` chosen, as the grid shows it: this is
        no choice of the user's, so ``chosen`` is not emitted. Whether ``shown`` is still there."""
        opened = {self.path(item) for item in self.items() if item.isExpanded()}
        scrolled = self.verticalScrollBar().value()
        self.blockSignals(True)
        try:
            self.clear()
            for f in folders:
                item = QTreeWidgetItem([self._label(f)])
                item.setData(0, PATH_ROLE, f.path)
                offline = f.state is FolderState.OFFLINE
                kept = "Offline: its drive is not connected. Its photos are kept, and come back with it."
                item.setToolTip(0, f"{f.path}\n{kept}" if offline else f.path)
                if offline:  # greyed, yet still selectable (to stop watching it)
                    item.setForeground(0, self.palette().color(QPalette.ColorRole.PlaceholderText))
                self.addTopLevelItem(item)
                self._add_below(item, below.get(f.path, []))
            found = None
            for item in self.items():
                path = self.path(item)
                item.setExpanded(path in opened)
                if path == shown:
                    found = item
            if found is not None:
                self.setCurrentItem(found)
        finally:
            self.blockSignals(False)
        self.verticalScrollBar().setValue(scrolled)
        return found is not None

    @staticmethod
    def _label(f: FolderInfo) -> str:
        failed = f" \u00b7 {f.failed} failed" if f.failed else ""
        pending = f" \u00b7 {f.pending} to do" if f.pending else ""
        state = " \u00b7 offline" if f.state is FolderState.OFFLINE else ""
        return f"{folder_name(f.path)}  ({f.photos}){pending}{failed}{state}"

    def _add_below(self, parent: QTreeWidgetItem, nodes: list[FolderNode]) -> None:
        for node in nodes:
            item = QTreeWidgetItem(parent, [f"{node.name}  ({node.photos})"])
            item.setData(0, PATH_ROLE, node.path)
            item.setToolTip(0, node.path)
            self._add_below(item, node.children)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        index = self.indexAt(event.position().toPoint())
        on_folder = index.isValid() and event.position().x() >= self.visualRect(index).left()  # not its arrow
        self._at_press = self.selected() if on_folder else _NO_CHOICE
        super().mousePressEvent(event)

    def _clicked(self, item: QTreeWidgetItem) -> None:
        if self.path(item) == self._at_press:  # the folder shown, clicked again: every folder
            self.clearSelection()
