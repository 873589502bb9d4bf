"""The one confirmation before photos go to the system trash: window-modal, opened without blocking the event
loop (``open``, not ``exec``), and answered through a callback, so background work goes on meanwhile."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMessageBox, QWidget

MOVE = "Move to the trash"


def ask_to_trash(parent: QWidget, question: str, answered: Callable[[bool], None]) -> QMessageBox:
    """Ask ``question`` with "Move to the trash" (the default) and Cancel; ``answered(True)`` only for the move.
    Returns the open box (tests click its buttons)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(MOVE)
    box.setText(question)
    move = box.addButton(MOVE, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(move)
    box.finished.connect(lambda _: answered(box.clickedButton() is move))
    box.open()
    return box
