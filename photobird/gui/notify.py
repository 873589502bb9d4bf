"""Non-blocking error messages for results that arrive from background work."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget


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
