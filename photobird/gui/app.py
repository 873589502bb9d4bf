"""Start the desktop app: ``photobird`` (or ``photobird gui``)."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication, QMessageBox

from photobird import config
from photobird.gui import platform_check
from photobird.gui.main_window import MainWindow
from photobird.library import scan
from photobird.library.store import Library, LibraryError


def dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor(30, 30, 32), QColor(45, 45, 48), QColor(225, 225, 225)
    p.setColor(QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorRole.AlternateBase, QColor(38, 38, 41))
    p.setColor(QPalette.ColorRole.ToolTipBase, window)
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.Button, window)
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.Highlight, QColor(42, 130, 218))
    p.setColor(QPalette.ColorRole.HighlightedText, Qt.GlobalColor.white)
    p.setColor(QPalette.ColorRole.Link, QColor(90, 160, 240))
    p.setColor(QPalette.ColorRole.Mid, QColor(80, 80, 85))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 120))
    return p


def follow_system_scheme(app: QApplication) -> None:
    """Fusion style, with a dark palette whenever the system asks for dark (and back when it changes)."""
    app.setStyle("Fusion")
    light = app.style().standardPalette()

    def apply() -> None:
        dark = QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark
        app.setPalette(dark_palette() if dark else light)

    apply()
    QGuiApplication.styleHints().colorSchemeChanged.connect(lambda _scheme: apply())


def first_run(library: Library) -> bool:
    """With no watched folders, open on the bundled sample photos. Returns True if it did."""
    if scan.list_folders(library):
        return False
    sample = config.sample_photos_dir()
    if sample.is_dir():
        scan.add_folder(library, sample)
        return True
    return False


def make_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("PhotoBird")
    app.setOrganizationName("PhotoBird")
    app.setApplicationDisplayName("PhotoBird")
    icon = config.resources_dir() / "icons" / "photobird.svg"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    follow_system_scheme(app)  # type: ignore[arg-type]
    return app  # type: ignore[return-value]


def run(library_path: Path | None = None, device: str | None = None) -> int:
    problem = platform_check.check()
    if problem:  # (Qt would abort with a message that does not say what to install)
        print(problem, file=sys.stderr)
        return 1
    app = make_app()
    try:
        library = Library(library_path)
    except LibraryError as e:  # a folder it cannot use, a damaged catalogue: one sentence, from photobird.cli too
        if app.platformName() != "offscreen":  # started from a desktop menu, there is no terminal to read it in
            QMessageBox.critical(None, "PhotoBird", str(e))
        raise
    if not library.read_only:  # a read-only one opens as it is: browse and search
        first_run(library)
    window = MainWindow(library, device=device)
    window.show()
    return app.exec()
