"""Non-blocking error messages for results that arrive from background work."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from photobird.gui.worker import Failure

KEEP_FAILURES = 20  # the details show the most recent ones; the log file has them all


def notify(parent: QWidget, text: str, *, critical: bool = False) -> QMessageBox:
    """Show an error that arrived from background work without blocking.

    A modal ``exec()`` here would start a nested event loop at an arbitrary moment (in the middle of a search
    or a test's wait), so asynchronous errors get a window-modal box that returns at once.
    """
    icon = QMessageBox.Icon.Critical if critical else QMessageBox.Icon.Warning
    box = QMessageBox(icon, "PhotoBird", text, QMessageBox.StandardButton.Ok, parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


class ProblemLine(QWidget):
    """The status bar's line for failures in background work: the latest one in a single line, with
    "Details\u2026" (the tracebacks and where the log is) and a button to dismiss it.

    Errors arrive at any moment and often in bursts (a catalogue that cannot be read fails every query), so
    they are collected here instead of each opening a box the user must click away.
    """

    def __init__(self, log_file: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.log_file = log_file
        self.failures: list[Failure] = []
        self.dialog: QDialog | None = None
        self.text = QLabel()
        self.text.setStyleSheet("color: #cf222e")
        self.details_btn = QPushButton("Details\u2026")
        self.details_btn.setFlat(True)
        self.details_btn.clicked.connect(self.show_details)
        dismiss = QToolButton()
        dismiss.setText("\u00d7")
        dismiss.setToolTip("Dismiss")
        dismiss.clicked.connect(self.dismiss)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.details_btn)
        lay.addWidget(dismiss)
        self.hide()

    def add(self, failure: Failure) -> None:
        self.failures = [failure, *self.failures][:KEEP_FAILURES]
        line = (failure.message.strip().splitlines() or [""])[0]
        more = f" ({len(self.failures)} problems)" if len(self.failures) > 1 else ""
        self.text.setText(
            self.text.fontMetrics().elidedText(f"Something went wrong: {line}{more}", Qt.TextElideMode.ElideRight, 600)
        )
        self.text.setToolTip(failure.message)
        self.show()

    def dismiss(self) -> None:
        self.failures.clear()
        self.hide()

    def show_details(self) -> None:
        """A non-modal window (the app keeps working behind it) with the tracebacks and the log file."""
        if self.dialog is None:
            self.dialog = QDialog(self.window())
            self.dialog.setWindowTitle("What went wrong")
            self.dialog.resize(900, 500)
            self._details = QPlainTextEdit(self.dialog)
            self._details.setReadOnly(True)
            buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self.dialog)
            open_log = buttons.addButton("Open the log", QDialogButtonBox.ButtonRole.ActionRole)
            open_log.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.log_file))))
            buttons.rejected.connect(self.dialog.close)
            lay = QVBoxLayout(self.dialog)
            lay.addWidget(self._details)
            lay.addWidget(buttons)
        self._details.setPlainText(
            f"The full log is {self.log_file}\n\n"
            + "\n".join(f"{f.task}: {f.message}\n{f.traceback}" for f in self.failures)
        )
        self.dialog.show()
        self.dialog.raise_()
