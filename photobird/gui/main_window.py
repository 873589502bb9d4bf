"""The main window: folders and labels on the left, search on top, the grid (or the viewer) in the middle,
indexing progress at the bottom, and the training panel in its own tab.

The window is a thin client of the core: it reads and writes the catalogue only through ``photobird.library``
and runs everything that touches disk, decoding or the models through the app's ``TaskRunner``.
"""

from __future__ import annotations

import contextlib
import html
import itertools
import os
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QPoint, QSettings, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QKeyEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from photobird import config, logs
from photobird.gui.confirm import ask_to_trash
from photobird.gui.duplicates_view import DuplicatesView
from photobird.gui.folder_tree import FolderTree, folder_name
from photobird.gui.grid import ID_ROLE, PhotoGrid, PhotoGridModel
from photobird.gui.notify import ProblemLine, notify
from photobird.gui.people_view import PeopleView
from photobird.gui.things import InYourPhotos
from photobird.gui.timeline import TimelineBar
from photobird.gui.viewer import Viewer
from photobird.gui.worker import Task, TaskRunner
from photobird.library import catalogue, duplicates, file_actions, folder_tree, people, scan, suggest, timeline, trash
from photobird.library.db.changes import CatalogueWatch
from photobird.library.progress import Phase, Progress
from photobird.library.search import PAGE_SIZE, Searcher
from photobird.library.store import (
    WATCH_POLL_SECONDS,
    DiskFull,
    Library,
    LibraryBusy,
    LibraryError,
    LockMode,
    SettingKey,
)

SEARCH_DEBOUNCE_MS = 250
UNDO_DEPTH = 50  # labellings Ctrl+Z can take back
CHANGES_POLL_MS = 1500  # how often to ask whether anyone committed to the catalogue (a trivial query)
SIMILAR_SHOWN = 200  # photos "More like this" shows, the most alike first
PUT_BACK_PASSES = 100  # turns of the event loop the grid's place waits for a long list's layout


def _load_models(device: str | None) -> Any:
    from photobird.models.runner import Models  # imports torch: only ever on a worker thread

    return Models(device=device)


def _index_and_watch(library: Library, models: Any) -> Any:
    """Index the library and keep it up to date, holding the indexer lock. Another PhotoBird doing so already
    (another window, ``photobird index``) is no failure: what it commits reaches this window too, which still
    browses, searches and labels; the sentence saying who it is comes back for the status line. On a shared
    (PostgreSQL) catalogue it waits instead, and takes over when the computer watching it stops."""
    from photobird.library.index import Indexer
    from photobird.library.watch import watch

    with contextlib.ExitStack() as held:
        while True:
            try:
                held.enter_context(library.indexer_lock(LockMode.WATCHING))
                break
            except LibraryBusy as e:
                if not e.takes_over:
                    return str(e)
            # another computer watches the shared catalogue (its commits reach this window): take over when it
            # stops, looking again every few seconds, and cancellable meanwhile
            asked = time.monotonic()
            while time.monotonic() - asked < WATCH_POLL_SECONDS:
                yield Progress(Phase.WATCHING, 0, 0)
                time.sleep(0.25)
        yield from watch(library, Indexer(library, models))
    return None


def _sidebar_data(library: Library) -> dict[str, Any]:
    return {
        "folders": scan.list_folders(library),
        "subfolders": folder_tree.subfolders(library),
        "words": catalogue.word_counts(library, limit=60),  # "bird" among them, counted by the bird model
        "stats": catalogue.stats(library),
    }


def _view_data(
    library: Library, searcher: Any, query: str, folder: str | None, by: timeline.SortOrder
) -> dict[str, Any]:
    """The sidebar and every result of ``query`` (under ``folder``, when one is chosen), read in one snapshot of
    the catalogue: while the indexer commits, the folders' "to do", the grid's count and "Indexing N of M" are one
    state's numbers."""
    with library.snapshot():
        data = _sidebar_data(library)
        data["results"] = _arranged(library, searcher, query, 0, None, folder, by)
    return data


def _arranged(
    library: Library,
    searcher: Any,
    query: str,
    offset: int,
    limit: int | None,
    folder: str | None,
    by: timeline.SortOrder,
) -> timeline.Arrangement:
    """A search's results as the grid shows them: sorted ``by`` the user's choice, with the timeline's days (on
    the worker that searched: the grid gets them in their final order, with their headers, in one step)."""
    return timeline.arrange(library, *searcher.ids_and_scores(query, offset, limit, folder), by)


class ErrorsDialog(QDialog):
    def __init__(self, rows: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{len(rows)} files could not be indexed")
        self.resize(800, 400)
        text = QTextEdit(self)
        text.setReadOnly(True)
        text.setPlainText("\n".join(f"{path}\n    {err}" for path, err in rows) or "No files failed.")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(text)
        lay.addWidget(buttons)


class MainWindow(QMainWindow):
    models_ready = Signal(object)
    labels_changed = Signal(list)  # photo ids whose user label changed
    catalogue_changed = Signal()  # anything may have changed (indexing, another process): views read again

    def __init__(
        self,
        library: Library,
        device: str | None = None,
        settings: QSettings | None = None,
        start_indexing: bool = True,
    ) -> None:
        super().__init__()
        self.library = library
        #: A library this process cannot write to (a read-only share, another user's): browsing and search work,
        #: and what would write says why it cannot, in the status bar
        self.read_only = library.read_only
        self.device = device
        self.settings = settings or QSettings()
        logs.use_library(library.root)  # background failures are logged there
        self.runner = TaskRunner(self)
        self.searcher = Searcher(library)
        self.models: Any = None
        self.models_error: str | None = None
        self.index_task: Task | None = None
        self._search_generation = 0
        self._search_task: Task | None = None
        self._closing = False
        self.last_results: list[int] = []
        self.confirmation: QMessageBox | None = None  # "Move to the trash?" while it is open
        #: The folder the grid shows (clicked in the sidebar; None: every folder), with the search box's text
        self.folder: str | None = None
        self._searched: tuple[str, str | None] = ("", None)  # (query, folder) of what the grid shows or will
        self._first_page_due = False  # a new search's first page is still to come
        self._select_first = False  # once it comes, select its first photo (Down or Enter in the search box)
        self._suggested: tuple[str, str | None] | None = None  # the empty search suggestions were asked for
        self._suggestion_queries: list[str] = []
        self.setWindowTitle("PhotoBird")
        self.setAcceptDrops(True)

        # search box -------------------------------------------------------------------------------------------
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Search: bird, people, beach, paris, dog -cat, june 2021, canon\u2026")
        self.search_box.setClearButtonEnabled(True)
        self.search_timer = QTimer(self)
        self.search_timer.setSingleShot(True)
        self.search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self.search_timer.timeout.connect(self.run_search)
        self.search_box.textChanged.connect(lambda _: self.search_timer.start())
        self.search_box.returnPressed.connect(self.focus_grid)
        self.search_box.installEventFilter(self)  # Down: to the grid
        self.result_count = QLabel()
        #: Under the search box when a search finds nothing: the closest words of the library, each a link
        self.suggestions = QLabel()
        self.suggestions.setTextFormat(Qt.TextFormat.RichText)
        self.suggestions.linkActivated.connect(self._suggestion_chosen)
        self.suggestions.hide()

        # sidebar ------------------------------------------------------------------------------------------------
        self.folder_tree = FolderTree()
        self.folder_tree.customContextMenuRequested.connect(self._folder_menu)
        self.folder_tree.chosen.connect(self._folder_chosen)
        self.folder_tree.itemSelectionChanged.connect(self._watched_chosen)
        add_btn = QToolButton()
        add_btn.setText("+")
        add_btn.setToolTip("Add a folder to watch")
        add_btn.clicked.connect(self.choose_folder)
        self.remove_btn = QToolButton()
        self.remove_btn.setText("\u2212")
        self.remove_btn.setToolTip("Stop watching the selected folder")
        self.remove_btn.clicked.connect(self.remove_selected_folder)
        self.things = InYourPhotos(library, self.runner)  # places, things and scenes: a click searches the word
        self.things.word_chosen.connect(self.search_box.setText)
        self.sidebar = sidebar = QWidget()
        sl = QVBoxLayout(sidebar)
        head = QHBoxLayout()
        head.addWidget(QLabel("<b>Folders</b>"))
        head.addStretch(1)
        head.addWidget(add_btn)
        head.addWidget(self.remove_btn)
        sl.addLayout(head)
        sl.addWidget(self.folder_tree, 1)
        sl.addWidget(QLabel("<b>In your photos</b>"))
        sl.addWidget(self.things, 3)

        # grid and viewer ----------------------------------------------------------------------------------------
        self.model = PhotoGridModel(library, self.runner)
        self.grid = PhotoGrid(self.model)
        self.grid.activated_photo.connect(self.open_viewer)
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(self._grid_menu)
        self.timeline_bar = TimelineBar()  # sort, go to a month, dates under the photos
        self.timeline_bar.sort_changed.connect(lambda _: self.run_search(keep_position=True))
        self.timeline_bar.month_chosen.connect(self.grid.scroll_to_row)
        self.timeline_bar.dates_toggled.connect(self.grid.set_show_dates)
        self.viewer = Viewer(library, self.runner)
        self.viewer.attach_filmstrip(self.model)
        self.viewer.back.connect(self.close_viewer)
        self.viewer.step.connect(self.step_viewer)
        self.viewer.label_requested.connect(self.set_label)
        self.viewer.full_screen_changed.connect(self._photo_alone)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.grid)
        self.stack.addWidget(self.viewer)
        self.banner = QWidget()
        bl = QHBoxLayout(self.banner)
        self.banner_text = QLabel(
            "You are looking at PhotoBird's sample photos. Add a folder of your own "
            "photos and PhotoBird will find what is in them, on this computer."
        )
        self.banner_text.setWordWrap(True)
        banner_btn = QPushButton("Add your photos\u2026")
        banner_btn.clicked.connect(self.choose_folder)
        bl.addWidget(self.banner_text, 1)
        bl.addWidget(banner_btn)
        self.banner.hide()
        center = QWidget()
        cl = QVBoxLayout(center)
        cl.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.search_box, 1)
        top.addWidget(self.result_count)
        top.addWidget(self.timeline_bar)
        cl.addLayout(top)
        cl.addWidget(self.suggestions)
        cl.addWidget(self.banner)
        cl.addWidget(self.stack, 1)
        splitter = QSplitter()
        splitter.addWidget(sidebar)
        splitter.addWidget(center)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([240, 1000])

        self.tabs = QTabWidget()
        self.tabs.addTab(splitter, "Photos")
        self.people_view = PeopleView(library, self.runner)
        self.people_view.search_requested.connect(self.show_search)
        self.people_view.people_changed.connect(self.refresh_all)
        self.people_view.faces_toggled.connect(self.set_faces)
        self.tabs.addTab(self.people_view, "People")
        self.duplicates_view = DuplicatesView(library, self.runner)
        self.duplicates_view.photos_removed.connect(lambda _ids: self.refresh_all())
        self.tabs.addTab(self.duplicates_view, "Duplicates")
        self.tabs.currentChanged.connect(self._tab_shown)
        self.catalogue_changed.connect(self.people_view.refresh)
        #: "More like this" reads every photo's features once; what the catalogue changes, it reads again
        self._similar_index: duplicates.SimilarIndex | None = None
        self.catalogue_changed.connect(self._forget_similar)
        # added once the models have loaded: the panel's imports need torch, which a worker imports meanwhile
        self.training_panel: QWidget | None = None
        self.setCentralWidget(self.tabs)

        # status bar ---------------------------------------------------------------------------------------------
        self.status_text = QLabel("Starting\u2026")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.pause_btn = QPushButton("Pause")
        self.pause_btn.setEnabled(False)
        self.pause_btn.clicked.connect(self.toggle_pause)
        self.cancel_btn = QPushButton("Stop")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(self.toggle_indexing)
        self.errors_btn = QPushButton("0 failed")
        self.errors_btn.setFlat(True)
        self.errors_btn.clicked.connect(self.show_errors)
        self.errors_btn.hide()
        self.problem = ProblemLine(library.root / logs.LOG_FILE)  # any background failure, in one line
        self.runner.failed.connect(self.problem.add)
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(96, 320)
        self.size_slider.setMaximumWidth(140)
        self.size_slider.setToolTip("Thumbnail size")
        self.size_slider.valueChanged.connect(self._set_cell_size)
        sb = self.statusBar()
        sb.addWidget(self.status_text, 1)
        sb.addWidget(self.problem)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.pause_btn)
        sb.addPermanentWidget(self.cancel_btn)
        sb.addPermanentWidget(self.errors_btn)
        sb.addPermanentWidget(QLabel("Size"))
        sb.addPermanentWidget(self.size_slider)

        self._actions()
        self._restore_settings()
        self._device = device
        self.models_task: Task | None = None
        self._start_indexing_when_ready = start_indexing
        # Background work starts once the event loop runs, so the window paints first: the workers import
        # torch, which holds the interpreter for seconds.
        QTimer.singleShot(0, self._start_background)
        # Whoever commits to the catalogue (this app's indexer, ``photobird label`` in a terminal), what the
        # window shows follows within seconds.
        self._changes = CatalogueWatch(library)
        self._polling = False
        self._last_progress: Any = None  # the indexer's last record while indexing (its rate and file)
        #: (photos done, photos in the library) from the newest snapshot of the catalogue: the one source of the
        #: status bar's "Indexing N of M", read with the folders' "to do" and the grid it agrees with
        self._counts: tuple[int, int] | None = None
        self._sidebar_generation = 0  # drops a sidebar read that a newer one overtook
        self._indexing = False  # this app's indexer is bringing photos in (not only watching)
        self._index_said: str | None = None  # why the indexer last stopped, as the status line says it
        self._changes_timer = QTimer(self)
        self._changes_timer.setInterval(CHANGES_POLL_MS)
        self._changes_timer.timeout.connect(self._poll_changes)
        self._changes_timer.start()

    def _start_background(self) -> None:
        if self._closing:
            return
        self.refresh_sidebar()
        self.run_search()
        if self.read_only:  # no indexing, no training: the models are not needed
            self.people_view.set_read_only(self._read_only_sentence("naming and grouping people"))
            self.duplicates_view.set_read_only(self._read_only_sentence("moving photos to the trash"))
            self.status_text.setText(f"Read-only library ({self.library.root}): browse and search")
            return
        self.models_task = self.runner.run(
            _load_models, self._device, on_done=self._models_loaded, on_error=self._models_failed, long=True
        )

    # setup ----------------------------------------------------------------------------------------------------

    def _add_training_tab(self) -> None:
        try:
            from photobird.gui.training_panel import TrainingPanel
        except ImportError:
            return
        self.training_panel = TrainingPanel(self)
        self.tabs.addTab(self.training_panel, "Train the bird model")

    def _actions(self) -> None:
        def act(text: str, keys: str | QKeySequence.StandardKey, slot: Any, widget: QWidget) -> QAction:
            a = QAction(text, widget)
            a.setShortcut(QKeySequence(keys))
            a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            a.triggered.connect(slot)
            widget.addAction(a)
            return a

        self.act_bird = act("Mark as bird", "B", lambda: self.label_selection("bird"), self.grid)
        self.act_not_bird = act("Mark as not bird", "N", lambda: self.label_selection("not-bird"), self.grid)
        self.act_clear = act("Clear label", "0", lambda: self.label_selection(None), self.grid)
        self.act_move = act("Move to folder\u2026", "Ctrl+Shift+M", self.move_selection, self.grid)
        self.act_rename = act("Rename\u2026", "F2", self.rename_current, self.grid)
        self.act_copy_path = act("Copy path", "Ctrl+Shift+C", self.copy_paths, self.grid)
        self.act_show_folder = act("Show in folder", "Ctrl+Shift+R", self.show_in_folder, self.grid)
        self.act_trash = act(
            "Move to the trash\u2026", QKeySequence.StandardKey.Delete, self.trash_selection, self.grid
        )
        #: what Ctrl+Z takes back, newest last: the marks a labelling replaced, or the moves and renames of files
        #: What Ctrl+Z takes back, by the turn each action was asked for in: actions run on workers and may end
        #: in another order (a mark still saving its keepsake when the move asked after it is done)
        self._undo: list[tuple[int, dict[int, str | None] | list[file_actions.Moved]]] = []
        self._turns = itertools.count()
        edit = self.menuBar().addMenu("&Edit")
        self.act_undo = QAction("Undo", self)
        self.act_undo.setShortcut(QKeySequence.StandardKey.Undo)
        self.act_undo.triggered.connect(self.undo_last)
        self.act_undo.setEnabled(False)
        edit.addAction(self.act_undo)
        # also the window's own: a shortcut only in a menu bar's menu is not always live (a platform's global
        # menu bar, or none, as offscreen)
        self.addAction(self.act_undo)
        edit.addSeparator()
        for a in (self.act_bird, self.act_not_bird, self.act_clear):
            edit.addAction(a)
        edit.addSeparator()
        for a in (self.act_move, self.act_rename, self.act_copy_path, self.act_show_folder, self.act_trash):
            edit.addAction(a)
        find = QAction("Search", self)
        find.setShortcut(QKeySequence.StandardKey.Find)
        find.triggered.connect(lambda: (self.search_box.setFocus(), self.search_box.selectAll()))
        self.addAction(find)
        folder = QAction("Add folder", self)
        folder.setShortcut(QKeySequence("Ctrl+O"))
        folder.triggered.connect(self.choose_folder)
        self.addAction(folder)

    def _restore_settings(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(QSize(1280, 820))
        size = int(self.settings.value("grid/thumbnail_size", 180))
        self.size_slider.setValue(size)
        self._set_cell_size(size)
        self.search_box.blockSignals(True)
        self.search_box.setText(str(self.settings.value("search/last", "") or ""))
        self.search_box.blockSignals(False)
        self.timeline_bar.blockSignals(True)  # (the first search, once the window is up, is sorted so)
        with contextlib.suppress(ValueError):  # (a settings file from elsewhere: the default)
            self.timeline_bar.set_order(timeline.SortOrder(self.settings.value("grid/sort", timeline.SortOrder.DATE)))
        self.timeline_bar.blockSignals(False)
        self.timeline_bar.dates.setChecked(str(self.settings.value("grid/dates", "false")).lower() == "true")

    def _photo_alone(self, on: bool) -> None:
        """Full screen shows the photo alone: no sidebar, search, tabs, menu or status bar."""
        for widget in (
            self.sidebar,
            self.search_box,
            self.result_count,
            self.timeline_bar,
            self.tabs.tabBar(),
            self.menuBar(),
        ):
            widget.setVisible(not on)
        self.statusBar().setVisible(not on)
        if on:
            self.suggestions.hide()
            self.banner.hide()

    def save_settings(self) -> None:
        if self.viewer.full_screen:  # the next start opens as the window was, not full screen
            self.viewer.set_full_screen(False)
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("grid/thumbnail_size", self.size_slider.value())
        self.settings.setValue("search/last", self.search_box.text())
        self.settings.setValue("grid/sort", self.timeline_bar.order().value)
        self.settings.setValue("grid/dates", self.timeline_bar.dates.isChecked())
        self.settings.sync()

    def _set_cell_size(self, px: int) -> None:
        self.grid.set_cell_size(px)

    # models and indexing --------------------------------------------------------------------------------------

    def _models_loaded(self, models: Any) -> None:
        self.models = models
        if self.training_panel is None:
            self._add_training_tab()
        self.models_ready.emit(models)
        self.status_text.setText("Models loaded.")
        if self._start_indexing_when_ready:
            self.start_indexing()

    def _models_failed(self, message: str, tb: str) -> None:
        self.models_error = message
        self.status_text.setText(f"Could not load the models: {message}")
        notify(self, f"Could not load the models:\n{message}", critical=True)

    def start_indexing(self) -> None:
        if self.models is None or self._closing:
            return
        if self.index_task is not None and not self.index_task.done.is_set():
            return
        task = Task(_index_and_watch, self.library, self.models, name="index")
        task.signals.progress.connect(self._index_progress)
        task.signals.failed.connect(self._index_failed)
        task.signals.finished.connect(self._index_finished)
        task.signals.ended.connect(self._index_ended)
        self.index_task = self.runner.start(task, long=True)
        self.pause_btn.setEnabled(True)
        self.pause_btn.setText("Pause")
        self.cancel_btn.setEnabled(True)
        self.cancel_btn.setText("Stop")
        self.status_text.setText("Looking for photos\u2026")

    def toggle_pause(self) -> None:
        t = self.index_task
        if t is None:
            return
        if t.paused:
            t.resume()
            self.pause_btn.setText("Pause")
        else:
            t.pause()
            self.pause_btn.setText("Resume")
            self._show_paused()

    def _show_paused(self) -> None:
        """Paused says so, with what is committed (progress that was on its way when the user paused is shown
        this way too, not as a live rate)."""
        done = f" \u00b7 {self._counts[0]:,} of {self._counts[1]:,} indexed" if self._counts else ""
        self.status_text.setText(f"Paused{done}. Click Resume to go on.")

    def _show_indexing(self) -> None:
        """The status bar's "Indexing N of M": the counts are the catalogue's (the newest snapshot, the one
        the folders and the grid show), the rate and the file the indexer's."""
        p = self._last_progress
        if p is None:
            return
        t = self.index_task
        if t is not None and t.paused:
            self._show_paused()
            return
        name = Path(os.fsdecode(p.current)).name if p.current else ""
        counts = ""
        if self._counts is not None:
            done, total = self._counts
            counts = f" {done:,} of {total:,}"
            self.progress.setMaximum(max(total, 1))
            self.progress.setValue(done)
        self.status_text.setText(f"Indexing{counts} \u00b7 {p.rate:.1f} photos/s \u00b7 {name}")

    def toggle_indexing(self) -> None:
        if self.index_task is not None and not self.index_task.done.is_set():
            self.index_task.cancel()
            self.status_text.setText("Stopping\u2026")
        else:
            self.start_indexing()

    def _index_progress(self, p: Any) -> None:
        if p.phase == "indexing":
            if self._last_progress is None and p.total:  # the scan has committed what there is to do: show it
                self.refresh_all()
            self._last_progress = p
        elif p.phase != "finishing":  # finishing: the last batch's commit is still to be shown in the counts
            self._last_progress = None
        t = self.index_task
        if t is not None and t.paused and p.phase in ("indexing", "labelling", "analysing"):
            self._show_paused()
            return
        # while photos arrive, each change re-runs the search (new photos appear); otherwise (watching, or a
        # periodic rescan that found nothing) it does not, so a photo just marked stays where the user sees it
        self._indexing = p.phase in ("indexing", "finishing") and p.total > 0
        if p.phase == "indexing" and p.total:
            self.progress.show()
            self._show_indexing()
        elif p.phase in ("analysing", "labelling") and p.total:
            self.progress.show()
            self.progress.setMaximum(p.total)
            self.progress.setValue(p.done)
            if p.phase == "analysing":
                text = (
                    f"Finding faces and look-alikes: {p.done:,} of {p.total:,} photos \u00b7 {p.rate:.1f} photos/s "
                    "(they are searchable meanwhile)"
                )
            else:
                text = f"Updating the words of {p.total:,} photos from what was stored (no photo is re-read)"
            self.status_text.setText(text)
        elif p.phase == "watching":
            self.progress.hide()
            if not self.status_text.text().startswith("Up to date"):
                self.status_text.setText("Up to date \u00b7 watching your folders for changes")
        elif p.phase == "done":
            self.progress.hide()
            self.status_text.setText("Up to date \u00b7 watching your folders for changes")
            self.refresh_all(results=p.summary is None or p.summary.changed)
        elif p.phase == "scanning":
            self.status_text.setText("Looking for new and changed photos\u2026")

    def _index_failed(self, message: str, tb: str) -> None:
        kind, _, said = message.partition(": ")
        # a full disk is one sentence of its own (that indexing stopped, what was kept, what to do)
        self._index_said = said if kind == DiskFull.__name__ else f"Indexing stopped: {message}"
        self.status_text.setText(self._index_said)

    def _index_finished(self, busy: str | None) -> None:
        if busy:  # another PhotoBird keeps the library up to date: say who
            self._index_said = busy
            self.status_text.setText(busy)

    def _index_ended(self) -> None:
        self._indexing = False
        self._last_progress = None  # no "Indexing N of M" from a sidebar read after this: it says why it ended
        self.progress.hide()
        self.pause_btn.setEnabled(False)
        self.cancel_btn.setText("Index")
        if self.status_text.text() != self._index_said:
            self.status_text.setText("Indexing stopped. Click Index to continue.")
        self.refresh_all()

    def _poll_changes(self) -> None:
        """Ask, off the GUI thread (it is the database, however cheap), whether anyone committed; one question
        at a time."""
        if self._polling or self._closing:
            return
        self._polling = True

        def answered(changed: bool) -> None:
            self._polling = False
            if changed and not self._closing:
                self.refresh_all(results=self._indexing)

        self.runner.run(
            self._changes.changed, on_done=answered, on_error=lambda _m, _tb: setattr(self, "_polling", False)
        )

    def refresh_all(self, results: bool = True) -> None:
        """Everything that shows the catalogue reads it again, in the background: the results, the badges, the
        sidebar's counts, the open photo and, by ``catalogue_changed``, the training tab. ``results=False``
        keeps the results as they are (a label made in a terminal, like one made here, changes a badge; the
        photo does not vanish under the user's eyes) and updates what they show."""
        if results:
            self._refresh_view()
        else:
            self.refresh_sidebar()
        self.model.refresh()
        if self.stack.currentWidget() is self.viewer:
            self.viewer.refresh_info()
        self.catalogue_changed.emit()

    # people -----------------------------------------------------------------------------------------------------

    def show_search(self, query: str) -> None:
        """Show the photos of a search at once (a person chosen in the People view)."""
        self.tabs.setCurrentIndex(0)
        if self.stack.currentWidget() is self.viewer:
            self.close_viewer()
        self.search_box.blockSignals(True)
        self.search_box.setText(query)
        self.search_box.blockSignals(False)
        self.run_search()

    def set_faces(self, enabled: bool) -> None:
        """Turn faces on or off: the indexer stops first (so no face is written after the data is deleted), then
        the setting changes (off: every face, person and name is deleted), then indexing starts again."""

        def change(library: Library) -> None:
            library.set_setting(SettingKey.FACES, enabled)
            if not enabled:
                people.forget_faces(library)

        def apply() -> None:
            self.runner.run(change, self.library, on_done=lambda _: (self.refresh_all(), self.start_indexing()))

        t = self.index_task
        if t is not None and not t.done.is_set():
            t.signals.ended.connect(apply)
            t.cancel()
        else:
            apply()

    # search -----------------------------------------------------------------------------------------------------

    def run_search(self, keep_position: bool = False) -> None:
        """Search in the background. A new search shows its first page as soon as it is found, then the count,
        then the rest of the results (appended: what the user already sees stays put). A refresh of the same
        search (``keep_position``: new photos while indexing) replaces all the results at once, keeping the
        selection and the scroll position."""
        self.search_timer.stop()
        self._search_generation += 1
        generation = self._search_generation
        if self._search_task is not None:
            self._search_task.cancel()  # what it has not started yet (the rest of an older search) is not needed
            self._search_task = None
        query, folder, by = self.search_box.text(), self.folder, self.timeline_bar.order()
        self._searched = (query, folder)
        if keep_position:
            self.runner.run(
                _arranged,
                self.library,
                self.searcher,
                query,
                0,
                None,
                folder,
                by,
                on_done=lambda found: self._search_done(generation, found, keep_position=True),
                on_error=lambda m, tb: self._search_failed(generation),
            )
            return
        self._first_page_due = True
        self.runner.run(
            _arranged,
            self.library,
            self.searcher,
            query,
            0,
            PAGE_SIZE,
            folder,
            by,
            on_done=lambda found: self._first_page(generation, query, folder, by, found),
            on_error=lambda m, tb: self._search_failed(generation),
        )

    def _refresh_view(self) -> None:
        """The results of the search as it is, and the sidebar, read again together (``_view_data``); they
        replace what is shown keeping the selection and the scroll position."""
        self.search_timer.stop()
        self._search_generation += 1
        self._sidebar_generation += 1
        generation, sidebar = self._search_generation, self._sidebar_generation
        if self._search_task is not None:
            self._search_task.cancel()
            self._search_task = None

        def loaded(data: dict[str, Any]) -> None:
            self._sidebar_loaded(data, sidebar)
            self._search_done(generation, data["results"], keep_position=True)

        self._searched = (self.search_box.text(), self.folder)
        self.runner.run(
            _view_data,
            self.library,
            self.searcher,
            *self._searched,
            self.timeline_bar.order(),
            on_done=loaded,
            on_error=lambda m, tb: self._search_failed(generation),
        )

    def _first_page(
        self, generation: int, query: str, folder: str | None, by: timeline.SortOrder, found: timeline.Arrangement
    ) -> None:
        if generation != self._search_generation:
            return  # a newer search is on its way
        self._first_page_due = False
        ids = found.ids
        self._show_results(found, keep_position=False)
        if self._select_first:
            self._select_first = False
            self._select_first_photo()
        if len(ids) < PAGE_SIZE:  # that was all of it
            self._show_count(len(ids))
            return
        self.result_count.setText(f"{len(ids):,}+ photos{self._in_folder(folder)}")
        self._hide_suggestions()

        def rest() -> Any:  # the count first (cheap), then every result
            yield self.searcher.count(query, folder)
            return _arranged(self.library, self.searcher, query, 0, None, folder, by)

        self._search_task = self.runner.run(
            rest,
            on_progress=lambda n: self._show_count(n) if generation == self._search_generation else None,
            on_done=lambda found: self._rest_done(generation, found),
            on_error=lambda m, tb: self._search_failed(generation),
        )

    def _rest_done(self, generation: int, found: timeline.Arrangement) -> None:
        if generation != self._search_generation:
            return
        self._search_task = None
        shown = len(self.model.ids)
        if found.ids[:shown] == self.model.ids:
            self.model.extend_results(found.ids[shown:], found.scores[shown:])
            self._show_timeline(found)
            self.last_results = list(self.model.ids)
            self._show_count(len(found.ids))
        else:  # the catalogue changed in between (indexing), or sorting moved the first page: show them in place
            self._search_done(generation, found, keep_position=True)

    def _search_done(self, generation: int, found: timeline.Arrangement, keep_position: bool) -> None:
        if generation != self._search_generation:
            return  # a newer search is on its way
        self._show_results(found, keep_position)
        self._show_count(len(found.ids))

    def _search_failed(self, generation: int) -> None:
        if generation == self._search_generation:
            self.result_count.setText("search failed")

    def _show_timeline(self, found: timeline.Arrangement) -> None:
        """The days of the results shown: their headers in the grid, their months in the jump list."""
        self.model.set_sections(found.sections)
        self.timeline_bar.set_months(found.months)

    def _show_results(self, found: timeline.Arrangement, keep_position: bool) -> None:
        ids, scores = found.ids, found.scores
        if keep_position and ids == self.last_results:
            self._show_timeline(found)  # (the same photos: a date may have changed)
            return
        selected = set(self.grid.selected_ids()) if keep_position else set()
        current = self.grid.currentIndex()
        current_row = current.row() if keep_position and current.isValid() else None
        scroll = self.grid.verticalScrollBar().value()
        # scrolled down, the photo at the top stays where it is (new photos above it push nothing out of view);
        # at the top, the newest photos come into view
        anchor = self._top_photo() if keep_position and scroll > 0 else None
        self.last_results = list(ids)
        self.model.set_results(ids, scores)
        self._show_timeline(found)
        if keep_position:
            kept = [row for pid in selected if (row := self.model.row_of(pid)) is not None]
            for row in kept:
                self.grid.selectionModel().select(
                    self.model.index(row), self.grid.selectionModel().SelectionFlag.Select
                )
            if not kept and current_row is not None and ids:
                # the photos just marked left this search ("not bird" in "bird"): the next one takes their
                # place and the selection, so B / N go on from there
                nxt = self.model.index(min(current_row, len(ids) - 1))
                self.grid.selectionModel().setCurrentIndex(nxt, self.grid.selectionModel().SelectionFlag.ClearAndSelect)
            QTimer.singleShot(0, lambda: self._put_back(scroll, anchor))

    def _top_photo(self) -> tuple[int, int] | None:
        """The photo at the top left of the grid's view, and where its cell's top is in the view."""
        x = self.grid.spacing() + 1
        for y in range(0, self.grid.viewport().height(), 2):  # (past the spacing between cells)
            index = self.grid.indexAt(QPoint(x, y))
            if index.isValid():
                return index.data(ID_ROLE), self.grid.visualRect(index).top()
        return None

    def _put_back(self, scroll: int, anchor: tuple[int, int] | None, passes: int = PUT_BACK_PASSES) -> None:
        """Scroll the grid so that the ``anchor`` photo is where it was in the view (without one, or when it left
        the results: back to ``scroll``). The grid lays a long list out in batches, one per turn of the event
        loop: until the anchor's batch is laid out, it has no place to measure, so this waits for it."""
        bar = self.grid.verticalScrollBar()
        row = self.model.row_of(anchor[0]) if anchor is not None else None
        if anchor is None or row is None:
            bar.setValue(scroll)
            return
        cell = self.grid.visualRect(self.model.index(row))
        if cell.isValid():
            bar.setValue(bar.value() + cell.top() - anchor[1])
        elif passes:
            QTimer.singleShot(0, lambda: self._put_back(scroll, anchor, passes - 1))
        else:
            bar.setValue(scroll)

    def _show_count(self, n: int) -> None:
        """Say what the grid shows: how many photos, in which folder; a search that finds none says so, and the
        closest words of the library come under the search box (asked for once per search, in the background)."""
        query, folder = self._searched
        typed = query.strip()
        if n or not typed:
            self.result_count.setText(f"{n:,} photo{'s' if n != 1 else ''}{self._in_folder(folder)}")
            self._hide_suggestions()
            return
        self.result_count.setText(f"No photos match '{typed}'{self._in_folder(folder)}")
        if self._suggested == self._searched:
            return  # asked already (this is the same search read again)
        self._suggested = searched = self._searched
        self.suggestions.hide()
        self.runner.run(
            suggest.suggest, self.searcher, query, folder, on_done=lambda found: self._show_suggestions(searched, found)
        )

    @staticmethod
    def _in_folder(folder: str | None) -> str:
        return f" in {folder_name(folder)}" if folder else ""

    def _show_suggestions(self, searched: tuple[str, str | None], found: list[suggest.Suggestion]) -> None:
        if searched != self._suggested or not found:
            return  # another search since, or nothing close
        self._suggestion_queries = [s.query for s in found]
        links = ", ".join(f'<a href="{i}">{html.escape(s.word)}</a>' for i, s in enumerate(found))
        self.suggestions.setText(f"Try {links}")
        self.suggestions.show()

    def _hide_suggestions(self) -> None:
        self._suggested = None
        self.suggestions.hide()

    def _suggestion_chosen(self, link: str) -> None:
        self.search_box.setText(self._suggestion_queries[int(link)])
        self.run_search()

    def focus_grid(self) -> None:
        """Down or Enter in the search box: to the results, their first photo selected (when the search is still
        to come, once it has come)."""
        if self.search_timer.isActive():  # typed a moment ago: search now
            self.run_search()
        self.grid.setFocus()
        if self._first_page_due:
            self._select_first = True
        else:
            self._select_first_photo()

    def _select_first_photo(self) -> None:
        if self.model.rowCount():
            first = self.model.index(0)
            self.grid.selectionModel().setCurrentIndex(first, self.grid.selectionModel().SelectionFlag.ClearAndSelect)
            self.grid.scrollTo(first)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            watched is self.search_box
            and isinstance(event, QKeyEvent)
            and event.type() == QEvent.Type.KeyPress
            and event.key() == Qt.Key.Key_Down
        ):
            self.focus_grid()
            return True
        return super().eventFilter(watched, event)

    # sidebar ----------------------------------------------------------------------------------------------------

    def refresh_sidebar(self) -> None:
        self._sidebar_generation += 1
        generation = self._sidebar_generation
        self.runner.run(_sidebar_data, self.library, on_done=lambda data: self._sidebar_loaded(data, generation))

    def _sidebar_loaded(self, data: dict[str, Any], generation: int) -> None:
        if generation != self._sidebar_generation:
            return  # a newer read is on its way
        sample = str(config.sample_photos_dir().resolve())
        if not self.folder_tree.show_folders(data["folders"], data["subfolders"], self.folder) and self.folder:
            self.folder = None  # no longer watched, or no photos left in it: every folder again
            self.run_search()
        self._watched_chosen()
        total = sum(f.photos for f in data["folders"])
        self._counts = (total - sum(f.pending for f in data["folders"]), total)
        if self._last_progress is not None:
            self._show_indexing()
        own = [f for f in data["folders"] if f.path != sample]
        self.banner.setVisible(not own and not self.read_only)  # it invites adding a folder
        self.things.set_words(data["words"])
        st = data["stats"]
        self.errors_btn.setVisible(st.failed > 0)
        self.errors_btn.setText(f"{st.failed} failed")

    def _folder_chosen(self, folder: str | None) -> None:
        """The grid shows the chosen folder's photos (with the search box's text), or every folder's."""
        if folder != self.folder:
            self.folder = folder
            self.run_search()

    def _watched_chosen(self) -> None:
        """Only a watched folder can be stopped watching (not one below it)."""
        items = self.folder_tree.selectedItems()
        self.remove_btn.setEnabled(bool(items) and self.folder_tree.is_watched(items[0]))

    def show_errors(self) -> None:
        self.runner.run(catalogue.errors, self.library, on_done=lambda rows: ErrorsDialog(rows, self).exec())

    # folders ----------------------------------------------------------------------------------------------------

    def choose_folder(self) -> None:
        if self._refused_read_only("adding a folder"):
            return
        path = QFileDialog.getExistingDirectory(self, "Add a folder of photos", str(Path.home()))
        if path:
            self.add_folder(path)

    def add_folder(self, path: str) -> None:
        if self._refused_read_only("adding a folder"):
            return
        try:
            scan.add_folder(self.library, path)
        except (scan.FolderError, LibraryError) as e:  # (LibraryError: its keepsake could not be written)
            QMessageBox.warning(self, "PhotoBird", str(e))
            return
        self.refresh_sidebar()
        self.restart_indexing()

    def remove_selected_folder(self) -> None:
        items = self.folder_tree.selectedItems()
        if not items or not self.folder_tree.is_watched(items[0]):
            return
        path = self.folder_tree.path(items[0])
        answer = QMessageBox.question(
            self,
            "PhotoBird",
            f"Stop watching {path}?\n\nYour photos stay where they are; PhotoBird forgets "
            "them (your bird labels are kept, in case they come back).",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.remove_folder(path)

    def remove_folder(self, path: str) -> None:
        if self._refused_read_only("removing a folder"):
            return
        try:
            scan.remove_folder(self.library, path)
        except (scan.FolderError, LibraryError) as e:
            QMessageBox.warning(self, "PhotoBird", str(e))
            return
        self.refresh_all()
        self.restart_indexing()

    def restart_indexing(self) -> None:
        """Watch the new set of folders: stop the running watcher, start a new one when it has ended."""
        t = self.index_task
        if t is not None and not t.done.is_set():
            t.signals.ended.connect(self.start_indexing)
            t.cancel()
        else:
            self.start_indexing()

    def _folder_menu(self, pos: Any) -> None:
        item = self.folder_tree.itemAt(pos)
        menu = QMenu(self)
        if item is not None:
            path = self.folder_tree.path(item)
            menu.addAction("Open folder", lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(path)))
            if self.folder_tree.is_watched(item):
                menu.addAction(
                    "Stop watching", lambda: (self.folder_tree.setCurrentItem(item), self.remove_selected_folder())
                )
        menu.addAction("Add folder\u2026", self.choose_folder)
        menu.exec(self.folder_tree.viewport().mapToGlobal(pos))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and all(u.isLocalFile() and os.path.isdir(u.toLocalFile()) for u in urls):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for u in event.mimeData().urls():
            if u.isLocalFile() and os.path.isdir(u.toLocalFile()):
                self.add_folder(u.toLocalFile())
        event.acceptProposedAction()

    # labels -----------------------------------------------------------------------------------------------------

    def label_selection(self, label: str | None) -> None:
        ids = self._chosen_ids()
        if ids:
            self.set_label(ids, label)

    def _read_only_sentence(self, doing: str) -> str:
        return f"This library is read-only ({self.library.root}): {doing} needs write access to it."

    def _refused_read_only(self, doing: str) -> bool:
        """In a read-only library, say in the status bar why ``doing`` cannot happen, and return True."""
        if self.read_only:
            self.statusBar().showMessage(self._read_only_sentence(doing), 15_000)
        return self.read_only

    def set_label(self, ids: list[int], label: str | None, undoing: bool = False) -> None:
        if self._refused_read_only("marking photos"):
            return
        turn = next(self._turns)
        self.runner.run(
            catalogue.set_user_label,
            self.library,
            ids,
            label,
            on_done=lambda result, ids=ids: self._labelled(ids, result, turn, undoing),
        )

    def undo_last(self) -> None:
        """Take back the last labelling (its marks, photo by photo) or the last move or rename (Ctrl+Z)."""
        if not self._undo:
            return
        _, last = self._undo.pop()
        self._update_undo()
        if isinstance(last, list):
            self.runner.run(
                file_actions.undo,
                self.library,
                last,
                on_done=lambda result: self._files_moved(result, "put back"),
                on_error=lambda message, _tb: self.statusBar().showMessage(f"Nothing was put back: {message}", 15_000),
            )
            return
        for label in {*last.values()}:
            self.set_label([pid for pid, old in last.items() if old == label], label, undoing=True)

    def _update_undo(self) -> None:
        self.act_undo.setEnabled(bool(self._undo))
        if not self._undo:
            self.act_undo.setText("Undo")
            return
        _, last = self._undo[-1]
        n = len(last)
        photos = f"{n} photo{'s' if n != 1 else ''}"
        self.act_undo.setText(f"Undo moving {photos}" if isinstance(last, list) else f"Undo marking {photos}")

    def _push_undo(self, turn: int, entry: dict[int, str | None] | list[file_actions.Moved]) -> None:
        self._undo.append((turn, entry))
        self._undo.sort(key=lambda taken: taken[0])
        del self._undo[:-UNDO_DEPTH]
        self._update_undo()

    # files ------------------------------------------------------------------------------------------------------

    def _chosen_ids(self) -> list[int]:
        """The selected photos, or the current one."""
        ids = self.grid.selected_ids()
        if not ids and self.grid.currentIndex().isValid():
            ids = [self.grid.currentIndex().data(ID_ROLE)]
        return ids

    def move_selection(self) -> None:
        ids = self._chosen_ids()
        if not ids or self._refused_read_only("moving photos"):
            return
        folder = QFileDialog.getExistingDirectory(self, "Move to folder", str(Path.home()))
        if not folder:
            return
        turn = next(self._turns)
        self.runner.run(
            file_actions.move_to_folder,
            self.library,
            ids,
            folder,
            on_done=lambda result: self._files_moved(result, "moved", turn),
            on_error=lambda message, _tb: self.statusBar().showMessage(f"Nothing was moved: {message}", 15_000),
        )

    def rename_current(self) -> None:
        ids = self._chosen_ids()
        if len(ids) != 1 or self._refused_read_only("renaming photos"):
            return
        brief = self.model.briefs.get(ids[0])
        old = Path(brief.path).name if brief is not None else ""
        name, ok = QInputDialog.getText(self, "Rename", "New name:", QLineEdit.EchoMode.Normal, old)
        if not ok or not name.strip() or name == old:
            return
        turn = next(self._turns)
        self.runner.run(
            file_actions.rename,
            self.library,
            ids[0],
            name,
            on_done=lambda moved: self._files_moved(file_actions.MoveResult(moved=[moved]), "renamed", turn),
            on_error=lambda message, _tb: self.statusBar().showMessage(f"Not renamed: {message}", 15_000),
        )

    def _files_moved(self, result: file_actions.MoveResult, done: str, turn: int | None = None) -> None:
        """``turn``: the move can be taken back (not itself an undo), in the order it was asked for."""
        undoable = turn is not None
        n = len(result.moved)
        said = f"{n} photo{'s' if n != 1 else ''} {done}."
        if result.failed:
            said += f" {trash.kept_back(result.failed)}"
        elif undoable and n:
            said += f" Ctrl+Z puts {'it' if n == 1 else 'them'} back."
        self.statusBar().showMessage(said, 15_000)
        if turn is not None and result.moved:
            self._push_undo(turn, result.moved)
        self.model.refresh([m.photo_id for m in result.moved])
        self.refresh_all()

    def copy_paths(self) -> None:
        """The chosen photos' paths on the clipboard, one per line."""
        self.runner.run(
            catalogue.briefs,
            self.library,
            self._chosen_ids(),
            on_done=lambda briefs: QApplication.clipboard().setText("\n".join(b.path for b in briefs.values())),
        )

    def show_in_folder(self) -> None:
        ids = self._chosen_ids()
        brief = self.model.briefs.get(ids[0]) if ids else None
        if brief is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(brief.path).parent)))

    def trash_selection(self) -> None:
        """Move the chosen photos to the system trash after one confirmation (restored from the trash, not by
        Ctrl+Z: the system keeps them there)."""
        ids = self._chosen_ids()
        if not ids or self._refused_read_only("moving photos to the trash"):
            return
        self.confirmation = ask_to_trash(
            self,
            f"Move {len(ids)} photo{'s' if len(ids) != 1 else ''} to the trash? You can restore "
            f"{'them' if len(ids) != 1 else 'it'} from the trash.",
            lambda yes: self._trash_confirmed(yes, ids),
        )

    def _trash_confirmed(self, yes: bool, ids: list[int]) -> None:
        self.confirmation = None
        if not yes:
            return
        self.runner.run(
            trash.move_to_trash,
            self.library,
            ids,
            on_done=self._trashed,
            on_error=lambda message, _tb: self.statusBar().showMessage(f"Nothing was moved: {message}", 15_000),
        )

    def _trashed(self, result: trash.TrashResult) -> None:
        self.statusBar().showMessage(result.said(), 15_000)
        self.refresh_all()

    def _labelled(self, ids: list[int], result: catalogue.LabelResult, turn: int, undoing: bool = False) -> None:
        if result.before and not undoing:
            self._push_undo(turn, result.before)
        if undoing:  # once written: a photo that had been marked away from this search comes back
            self.run_search(keep_position=True)
        if result.refused:  # (a photo that could not be indexed is kept out of training; say so, and why)
            first = result.refused[0]
            more = f" (and {len(result.refused) - 1} more)" if len(result.refused) > 1 else ""
            self.statusBar().showMessage(f"Not marked: {Path(first.path).name}{more}: {first.reason}.", 15_000)
        if self.models is not None:  # embed the labelled photos' augmented views now, for retraining later
            from photobird.learn.data import embed_views_for_photos

            self.runner.run(embed_views_for_photos, self.library, self.models, ids, long=True)
        self.model.refresh(ids)
        if self.stack.currentWidget() is self.viewer:
            self.viewer.refresh_info()
        self.labels_changed.emit(ids)
        self.refresh_sidebar()

    def _grid_menu(self, pos: Any) -> None:
        index = self.grid.indexAt(pos)
        if not index.isValid():
            return
        menu = QMenu(self)
        menu.addAction("Open", lambda: self.open_viewer(index.data(ID_ROLE)))
        menu.addAction("More like this", lambda: self.show_similar(index.data(ID_ROLE)))
        menu.addSeparator()
        menu.addAction(self.act_bird)
        menu.addAction(self.act_not_bird)
        menu.addAction(self.act_clear)
        menu.addSeparator()
        for a in (self.act_move, self.act_rename, self.act_copy_path, self.act_show_folder, self.act_trash):
            menu.addAction(a)
        menu.exec(self.grid.viewport().mapToGlobal(pos))

    def _tab_shown(self, i: int) -> None:
        if self.tabs.widget(i) is self.people_view:
            self.people_view.refresh()
        elif self.tabs.widget(i) is self.duplicates_view:
            self.duplicates_view.refresh()

    def _forget_similar(self) -> None:
        self._similar_index = None

    def show_similar(self, photo_id: int) -> None:
        """The photos most like this one, in the grid, the most alike first (it comes first itself)."""
        self.search_timer.stop()
        self._search_generation += 1
        generation = self._search_generation
        if self._search_task is not None:
            self._search_task.cancel()
            self._search_task = None
        built = self._similar_index
        by = self.timeline_bar.order()

        def find(
            library: Library,
        ) -> tuple[duplicates.SimilarIndex, list[tuple[int, float]], timeline.Arrangement]:
            index = built if built is not None and photo_id in built else duplicates.SimilarIndex.build(library)
            found = index.query(library, photo_id, limit=SIMILAR_SHOWN)
            ids, scores = [photo_id, *(i for i, _ in found)], [1.0, *(c for _, c in found)]
            return index, found, timeline.arrange(library, ids, scores, by)

        self.result_count.setText("Looking for similar photos\u2026")
        self.runner.run(
            find,
            self.library,
            on_done=lambda found: self._similar_found(generation, *found),
            on_error=lambda m, tb: self._search_failed(generation),
        )

    def _similar_found(
        self,
        generation: int,
        index: duplicates.SimilarIndex,
        found: list[tuple[int, float]],
        arranged: timeline.Arrangement,
    ) -> None:
        self._similar_index = index
        if generation != self._search_generation:
            return
        if self.stack.currentWidget() is self.viewer:
            self.close_viewer()
        self._show_results(arranged, keep_position=False)
        self.result_count.setText(f"the {len(found):,} photos most like this one")
        self._hide_suggestions()
        self.grid.scrollToTop()

    # viewer -----------------------------------------------------------------------------------------------------

    def open_photo(self, photo_id: int) -> None:
        """From anywhere (e.g. the training panel's strips): show the photo in the viewer."""
        self.tabs.setCurrentIndex(0)
        self.open_viewer(photo_id)

    def open_viewer(self, photo_id: int) -> None:
        self.stack.setCurrentWidget(self.viewer)
        self.viewer.show_photo(photo_id)
        self.viewer.setFocus()

    def close_viewer(self) -> None:
        self.stack.setCurrentWidget(self.grid)
        if self.viewer.photo_id is not None:
            row = self.model.row_of(self.viewer.photo_id)
            if row is not None:
                self.grid.setCurrentIndex(self.model.index(row))
                self.grid.scrollTo(self.model.index(row))
        self.grid.setFocus()

    def step_viewer(self, delta: int) -> None:
        if self.viewer.photo_id is None or not self.model.ids:
            return
        row = self.model.row_of(self.viewer.photo_id)
        row = 0 if row is None else max(0, min(len(self.model.ids) - 1, row + delta))
        self.viewer.show_photo(self.model.ids[row])

    # closing ----------------------------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        self._closing = True
        self.save_settings()
        self._changes_timer.stop()
        self.status_text.setText("Finishing\u2026")
        self.runner.shutdown()
        self._changes.close()  # (after the workers: a poll may be using it)
        super().closeEvent(event)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """For tests and scripts: wait until the indexer has nothing left to do (watching)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.status_text.text().startswith("Up to date"):
                return True
            QApplication.processEvents()
            time.sleep(0.01)
        return False
