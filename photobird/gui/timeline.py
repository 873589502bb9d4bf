"""The timeline's controls, in the search row: how the grid is sorted, a jump list of the months it shows, and
whether each photo's date is shown under it.

The bar only says what the user chose (signals); the window re-arranges the results in the background and hands
the bar the months of what it shows (``set_months``).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QWidget

from photobird.library.timeline import Month, SortOrder

SORT_NAMES = {SortOrder.DATE: "Date", SortOrder.NAME: "Name", SortOrder.FOLDER: "Folder"}


class TimelineBar(QWidget):
    sort_changed = Signal(object)  # SortOrder
    month_chosen = Signal(int)  # the row of the month's first photo
    dates_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sort = QComboBox()
        for order, name in SORT_NAMES.items():
            self.sort.addItem(name, order.value)
        self.sort.setToolTip(
            "Sort the photos. By date: newest first, a header over each day (a search for a word, such as "
            "'dog', shows the best matches first)."
        )
        self.sort.currentIndexChanged.connect(lambda _: self.sort_changed.emit(self.order()))
        self.jump = QComboBox()
        self.jump.setPlaceholderText("Go to\u2026")
        self.jump.setToolTip("Go to a month")
        self.jump.setMinimumContentsLength(16)
        self.jump.activated.connect(self._jumped)
        self.dates = QCheckBox("Dates")
        self.dates.setToolTip("Show each photo's date under it")
        self.dates.toggled.connect(self.dates_toggled)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.sort)
        lay.addWidget(self.jump)
        lay.addWidget(self.dates)
        self._months: list[Month] = []
        self.jump.setEnabled(False)

    def order(self) -> SortOrder:
        return SortOrder(self.sort.currentData())

    def set_order(self, order: SortOrder) -> None:
        self.sort.setCurrentIndex(self.sort.findData(order.value))

    def set_months(self, months: list[Month]) -> None:
        """The months of the results shown, newest first (none: results not in date order)."""
        if months == self._months:
            return  # (the same results read again: the list stays as the user may be looking at it)
        self._months = list(months)
        self.jump.clear()
        for m in months:
            self.jump.addItem(m.title, m.row)
        self.jump.setCurrentIndex(-1)
        self.jump.setEnabled(bool(months))

    def months(self) -> list[str]:
        """The jump list's entries, as shown."""
        return [self.jump.itemText(i) for i in range(self.jump.count())]

    def choose_month(self, i: int) -> None:
        """Go to the ``i``-th month of the list (what choosing it does)."""
        self.jump.setCurrentIndex(i)
        self._jumped(i)

    def _jumped(self, i: int) -> None:
        row = self.jump.itemData(i)
        self.jump.setCurrentIndex(-1)  # (the list is for going somewhere, not a state: it shows "Go to…" again)
        if row is not None:
            self.month_chosen.emit(int(row))
