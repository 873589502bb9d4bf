"""The real window, driven like a user would: add a folder, search, correct, restart."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFileDialog

from photobird.gui.grid import BRIEF_ROLE, ID_ROLE, NOT_BIRD_COLOR
from photobird.gui.main_window import MainWindow
from photobird.library import catalogue, scan
from photobird.library.progress import IndexSummary, Phase, Progress
from photobird.library.search import search
from tests.gui.test_responsiveness import make_photos
from tests.library.conftest import copy_real

TIMEOUT = 180_000


def open_window(qtbot, library, settings, start_indexing: bool = True) -> MainWindow:
    win = MainWindow(library, device="cpu", settings=settings, start_indexing=start_indexing)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.models is not None or win.models_error is not None, timeout=TIMEOUT)
    assert win.models_error is None, win.models_error
    return win


def wait_up_to_date(qtbot, win: MainWindow) -> None:
    qtbot.waitUntil(lambda: win.status_text.text().startswith("Up to date"), timeout=TIMEOUT)


def grid_ids(win: MainWindow) -> list[int]:
    return list(win.model.ids)


def test_add_folder_search_label_restart(qtbot, tmp_path: Path, library, settings, monkeypatch) -> None:
    photos = tmp_path / "photos"
    copy_real(photos, 4, 10)
    win = open_window(qtbot, library, settings)
    wait_up_to_date(qtbot, win)
    qtbot.waitUntil(win.banner.isVisible, timeout=10_000)  # no folders yet: it offers to add one

    # add the folder the way a user does: the + button and the folder dialog
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(photos)))
    add_button = next(b for b in win.findChildren(type(win.remove_btn)) if b.text() == "+")
    qtbot.mouseClick(add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.folder_tree.topLevelItemCount() == 1, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: catalogue.stats(library).indexed == 14, timeout=TIMEOUT)
    wait_up_to_date(qtbot, win)
    # the sidebar's counts come from a background query: wait for it rather than race it
    qtbot.waitUntil(lambda: "(14)" in win.folder_tree.topLevelItem(0).text(0), timeout=10_000)
    qtbot.waitUntil(lambda: not win.banner.isVisible(), timeout=10_000)

    # search as you type
    win.search_box.clear()
    qtbot.keyClicks(win.search_box, "bird")
    expected = [h.photo_id for h in search(library, "bird")]
    assert expected, "the models found no bird among the real photos"
    qtbot.waitUntil(lambda: grid_ids(win) == expected, timeout=10_000)
    assert win.result_count.text().startswith(str(len(expected)))
    # the sidebar's "In your photos" lists "bird" with what the search finds; clicking it searches the word
    qtbot.waitUntil(
        lambda: (
            (item := win.things.item_for("bird")) is not None
            and item.text().split("\n")[-1].startswith(f"{len(expected):,} photo")
        ),
        timeout=10_000,
    )
    win.search_box.clear()
    bird_item = win.things.item_for("bird")
    win.things.list.scrollToItem(bird_item)
    qtbot.mouseClick(
        win.things.list.viewport(), Qt.MouseButton.LeftButton, pos=win.things.list.visualItemRect(bird_item).center()
    )
    assert win.search_box.text() == "bird"
    qtbot.waitUntil(lambda: grid_ids(win) == expected, timeout=10_000)

    # N on the first photo: saved at once, and its badge shows it
    first = win.model.index(0)
    pid = first.data(ID_ROLE)
    win.grid.setFocus()
    win.grid.selectionModel().setCurrentIndex(first, QItemSelectionModel.SelectionFlag.ClearAndSelect)
    qtbot.keyClick(win.grid, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: catalogue.info(library, pid)["user_label"] == "not-bird", timeout=10_000)
    qtbot.waitUntil(
        lambda: (first.data(BRIEF_ROLE) or None) is not None and first.data(BRIEF_ROLE).user_label == "not-bird",
        timeout=10_000,
    )
    qtbot.waitUntil(lambda: has_color_near(win, first, NOT_BIRD_COLOR), timeout=10_000)
    # a periodic rescan that finds nothing new (every few minutes while watching) leaves the results as they
    # are: the photo just marked does not vanish from under the user's eyes
    generation = win._search_generation
    for step in (Progress(Phase.SCANNING, 0, 0), Progress(Phase.INDEXING, 0, 0)):
        win.index_task.signals.progress.emit(step)
    win.index_task.signals.progress.emit(Progress(Phase.DONE, 0, 0, summary=IndexSummary()))
    win.index_task.signals.progress.emit(Progress(Phase.WATCHING, 0, 0))
    assert win._search_generation == generation
    assert grid_ids(win) == expected and win.model.row_of(pid) == 0
    # the user's "not bird" wins over the model: the photo leaves a fresh "bird" search
    assert pid not in [h.photo_id for h in search(library, "bird")]

    # restart: the label is still there
    win.close()
    win2 = open_window(qtbot, library, settings)
    assert win2.search_box.text() == "bird"  # the last search is remembered
    win2.search_box.setText("")
    qtbot.waitUntil(lambda: pid in grid_ids(win2), timeout=10_000)
    row = win2.model.row_of(pid)
    idx = win2.model.index(row)
    qtbot.waitUntil(lambda: idx.data(BRIEF_ROLE) is not None, timeout=10_000)
    assert idx.data(BRIEF_ROLE).user_label == "not-bird"
    win2.close()


def has_color_near(win: MainWindow, index, color: QColor) -> bool:
    """Render the grid and look for the badge colour inside the cell."""
    win.grid.scrollTo(index)
    rect = win.grid.visualRect(index)
    image = win.grid.viewport().grab(rect).toImage()
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            c = image.pixelColor(x, y)
            if (
                abs(c.red() - color.red()) < 12
                and abs(c.green() - color.green()) < 12
                and abs(c.blue() - color.blue()) < 12
            ):
                return True
    return False


def test_viewer_keys(qtbot, tmp_path: Path, library, settings) -> None:
    photos = tmp_path / "photos"
    copy_real(photos, 1, 3)

    scan.add_folder(library, photos)
    win = open_window(qtbot, library, settings)
    wait_up_to_date(qtbot, win)
    qtbot.waitUntil(lambda: len(win.model.ids) == 4, timeout=10_000)
    first = win.model.ids[0]
    win.open_viewer(first)
    qtbot.waitUntil(lambda: win.viewer.info.get("id") == first, timeout=10_000)
    assert "%" in win.viewer.fields["bird"].text()
    qtbot.keyClick(win.viewer, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: win.viewer.info.get("id") == win.model.ids[1], timeout=10_000)
    qtbot.keyClick(win.viewer, Qt.Key.Key_B)
    qtbot.waitUntil(lambda: catalogue.info(library, win.model.ids[1])["user_label"] == "bird", timeout=10_000)
    qtbot.waitUntil(lambda: win.viewer.fields["user"].text() == "bird", timeout=10_000)
    qtbot.keyClick(win.viewer, Qt.Key.Key_0)
    qtbot.waitUntil(lambda: catalogue.info(library, win.model.ids[1])["user_label"] is None, timeout=10_000)
    qtbot.keyClick(win.viewer, Qt.Key.Key_Escape)
    assert win.stack.currentWidget() is win.grid
    win.close()


def test_the_viewer_names_the_camera_once_and_dates_a_photo_without_exif_by_its_file(
    qtbot, tmp_path: Path, library, settings
) -> None:
    from photobird import config

    photos = tmp_path / "photos"
    copy_real(photos, 0, 1)
    shutil.copy2(config.shared_data_dir() / "exif-samples" / "jpg" / "Canon_40D.jpg", photos / "canon.jpg")
    plain = next(p for p in photos.iterdir() if p.name != "canon.jpg")
    os.utime(plain, (1_600_000_000, 1_600_000_000))
    scan.add_folder(library, photos)
    win = open_window(qtbot, library, settings)
    wait_up_to_date(qtbot, win)
    qtbot.waitUntil(lambda: len(win.model.ids) == 2, timeout=10_000)
    ids = {Path(catalogue.info(library, pid)["path"]).name: pid for pid in win.model.ids}
    win.open_viewer(ids["canon.jpg"])
    qtbot.waitUntil(lambda: win.viewer.info.get("id") == ids["canon.jpg"], timeout=10_000)
    assert win.viewer.fields["camera"].text() == "Canon EOS 40D"  # not "Canon Canon EOS 40D"
    assert win.viewer.fields["taken"].text() == "2008-05-30 15:56:01"
    win.open_viewer(ids[plain.name])
    qtbot.waitUntil(lambda: win.viewer.info.get("id") == ids[plain.name], timeout=10_000)
    when = dt.datetime.fromtimestamp(1_600_000_000).isoformat(sep=" ")
    assert win.viewer.fields["taken"].text() == f"{when} (the file's date: the photo has none)"
    win.close()


def test_first_run_opens_on_the_sample_photos(qtbot, library, settings) -> None:
    from photobird import config
    from photobird.gui.app import first_run

    assert first_run(library) is True
    assert first_run(library) is False  # only once
    win = open_window(qtbot, library, settings)
    wait_up_to_date(qtbot, win)
    n = len([p for p in config.sample_photos_dir().iterdir() if p.suffix.lower() in (".jpg", ".webp")])
    qtbot.waitUntil(lambda: len(win.model.ids) == n, timeout=TIMEOUT)
    assert win.folder_tree.topLevelItem(0).text(0).startswith("Sample photos")
    assert win.banner.isVisible()  # still offering to add the user's own folder
    win.close()


def test_window_opens_without_loading_torch() -> None:
    """The window is usable before the models load: nothing the main thread imports on the way to it imports
    torch (which alone takes seconds); the models load on a worker thread. (How soon it shows is printed, not
    asserted: a test on a busy machine is no stopwatch.)"""
    import subprocess
    import sys

    code = (
        "import os, sys, threading, time, tempfile; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "t = time.perf_counter()\n"
        "import photobird.gui.main_window as mw\n"
        "from photobird.gui.app import make_app\n"
        "from photobird.library.store import Library\n"
        "gate = threading.Event()\n"
        "real = mw._load_models\n"
        "mw._load_models = lambda device: (gate.wait(), real(device))[1]\n"
        "app = make_app([])\n"
        "w = mw.MainWindow(Library(tempfile.mkdtemp()), device='cpu', start_indexing=False)\n"
        "w.show()\n"
        "imported = 'torch' in sys.modules  # by the main thread: background work starts from the event loop\n"
        "app.processEvents()\n"
        "print(round(time.perf_counter() - t, 2), imported, w.isVisible())\n"
        "gate.set(); w.close()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    seconds, torch_loaded, visible = float(out[0]), out[1] == "True", out[2] == "True"
    assert visible and not torch_loaded
    print(f"window shown after {seconds:.2f} s, before torch was imported")


def test_search_shows_the_first_page_then_the_count_and_the_rest(qtbot, library, settings) -> None:
    """A search over more photos than a page: the grid gets the first page, then the rest appended (rows
    already shown stay put), and the count label the true total. The catalogue is written as rows (no images),
    so it can hold more photos than a page in no time."""
    from photobird.library.search import PAGE_SIZE
    from tests.library.conftest import make_catalogue

    make_catalogue(library, 700)
    win = MainWindow(library, device="cpu", settings=settings, start_indexing=False)
    qtbot.addWidget(win)
    resets: list[int] = []
    inserted: list[tuple[int, int]] = []
    win.model.modelReset.connect(lambda: resets.append(len(win.model.ids)))
    win.model.rowsInserted.connect(lambda parent, first, last: inserted.append((first, last)))
    win.show()
    for query in ("", "not bird"):
        resets.clear()
        inserted.clear()
        win.search_box.setText(query)
        expected = [h.photo_id for h in search(library, query)]
        assert len(expected) > PAGE_SIZE
        qtbot.waitUntil(lambda expected=expected: grid_ids(win) == expected, timeout=10_000)
        total = f"{len(expected):,} photos"
        qtbot.waitUntil(lambda total=total: win.result_count.text() == total, timeout=10_000)
        assert resets[-1] == PAGE_SIZE and inserted[-1] == (PAGE_SIZE, len(expected) - 1), (resets, inserted)
    win.search_box.setText("dog -terrier")  # fewer than a page: one step
    expected = [h.photo_id for h in search(library, "dog -terrier")]
    assert 0 < len(expected) < PAGE_SIZE
    qtbot.waitUntil(lambda: grid_ids(win) == expected, timeout=10_000)
    qtbot.waitUntil(lambda: win.result_count.text() == f"{len(expected):,} photos", timeout=10_000)
    win.close()


def test_a_failing_background_job_is_logged_and_shown(qtbot, library, settings) -> None:
    """A job started without an error handler of its own: its traceback goes to the library's log file and
    the window says what failed in one line, with the traceback a click away."""
    from PySide6.QtWidgets import QPlainTextEdit

    win = MainWindow(library, device="cpu", settings=settings, start_indexing=False)
    qtbot.addWidget(win)
    win.show()

    def read_the_far_side_of_the_moon() -> None:
        raise OSError("the moon is not mounted")

    win.runner.run(read_the_far_side_of_the_moon)
    log_file = library.root / "photobird.log"
    qtbot.waitUntil(lambda: log_file.is_file() and "the moon is not mounted" in log_file.read_text(), timeout=10_000)
    logged = log_file.read_text()
    assert "Traceback (most recent call last)" in logged and "read_the_far_side_of_the_moon" in logged
    qtbot.waitUntil(lambda: win.problem.isVisible(), timeout=10_000)
    assert "the moon is not mounted" in win.problem.text.text()
    assert "\n" not in win.problem.text.text()
    qtbot.mouseClick(win.problem.details_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.problem.dialog is not None and win.problem.dialog.isVisible(), timeout=10_000)
    details = win.problem.dialog.findChild(QPlainTextEdit).toPlainText()
    assert "read_the_far_side_of_the_moon" in details and str(log_file) in details
    win.close()


def test_labels_made_by_another_process_reach_the_window(qtbot, tmp_path: Path, library, settings) -> None:
    """``photobird label`` (or any other process) labels photos while the app is open: the training tab's
    counts, Retrain and the grid's badges follow within seconds."""
    import subprocess
    import sys

    photos = tmp_path / "photos"
    truth = copy_real(photos, 8, 8)
    scan.add_folder(library, photos)
    win = open_window(qtbot, library, settings)
    wait_up_to_date(qtbot, win)
    qtbot.waitUntil(lambda: len(win.model.ids) == 16, timeout=10_000)
    cells = {pid: win.model.index(win.model.row_of(pid)) for pid in win.model.ids}
    qtbot.waitUntil(lambda: all(c.data(BRIEF_ROLE) is not None for c in cells.values()), timeout=10_000)
    panel = win.training_panel
    assert panel is not None
    qtbot.waitUntil(lambda: "needs at least" in panel.readiness.text(), timeout=10_000)
    assert not panel.retrain_btn.isEnabled()

    code = (
        "import sys\n"
        "from photobird.library import catalogue\n"
        "from photobird.library.store import Library\n"
        "lib = Library(sys.argv[1])\n"
        "for path, label in zip(sys.argv[2::2], sys.argv[3::2]):\n"
        "    catalogue.set_user_label(lib, [catalogue.photo_id_for_path(lib, path)], label)\n"
    )
    labels = {str(photos / name): "bird" if is_bird else "not-bird" for name, is_bird in truth.items()}
    args = [a for pair in labels.items() for a in pair]
    subprocess.run([sys.executable, "-c", code, str(library.root), *args], check=True)

    qtbot.waitUntil(panel.retrain_btn.isEnabled, timeout=20_000)
    assert panel.readiness.text().startswith("8 bird and 8 not-bird")
    expected = {catalogue.photo_id_for_path(library, path): label for path, label in labels.items()}
    qtbot.waitUntil(
        lambda: all(
            (b := cells[pid].data(BRIEF_ROLE)) is not None and b.user_label == label for pid, label in expected.items()
        ),
        timeout=20_000,
    )
    win.close()


def test_pause_says_paused_with_what_is_committed(qtbot, tmp_path: Path, library, settings) -> None:
    """Progress already on its way when the user pauses must not bring back a live "Indexing ... photos/s"."""
    photos = tmp_path / "photos"
    make_photos(photos, 120)
    scan.add_folder(library, photos)
    win = open_window(qtbot, library, settings, start_indexing=False)
    win.start_indexing()
    qtbot.waitUntil(lambda: win.status_text.text().startswith("Indexing "), timeout=TIMEOUT)
    qtbot.mouseClick(win.pause_btn, Qt.MouseButton.LeftButton)
    assert win.pause_btn.text() == "Resume"
    qtbot.wait(3000)  # whatever progress was queued arrives meanwhile
    assert win.status_text.text().startswith("Paused"), win.status_text.text()
    assert "photos/s" not in win.status_text.text()
    committed = catalogue.stats(library).indexed
    assert committed < 120
    qtbot.mouseClick(win.pause_btn, Qt.MouseButton.LeftButton)
    wait_up_to_date(qtbot, win)
    assert catalogue.stats(library).indexed == 120


def test_a_photo_that_could_not_be_indexed_is_not_marked_and_the_window_says_why(
    qtbot, tmp_path: Path, library, settings
) -> None:
    photos = tmp_path / "photos"
    copy_real(photos, 1, 1)
    good = next(photos.iterdir())
    (photos / "truncated.jpg").write_bytes(good.read_bytes()[:2000])
    scan.add_folder(library, photos)
    win = open_window(qtbot, library, settings)
    wait_up_to_date(qtbot, win)
    bad = catalogue.photo_id_for_path(library, photos / "truncated.jpg")
    fine = catalogue.photo_id_for_path(library, good)
    win.set_label([bad, fine], "bird")
    qtbot.waitUntil(lambda: win.statusBar().currentMessage().startswith("Not marked: truncated.jpg"), timeout=20_000)
    assert "could not be indexed" in win.statusBar().currentMessage()
    assert catalogue.info(library, fine)["user_label"] == "bird"
    assert catalogue.info(library, bad)["user_label"] is None


def test_marking_in_a_bird_search_moves_on_and_ctrl_z_takes_it_back(qtbot, tmp_path: Path, library, settings) -> None:
    """N on a photo of a "bird" search: when the results are read again it leaves them, the next photo takes
    its place and the selection, and B marks that one; Ctrl+Z (Edit > Undo) takes back one marking at a time."""
    from photobird.library.index import index
    from photobird.models.runner import Models

    photos = tmp_path / "photos"
    copy_real(photos, 4, 2)
    scan.add_folder(library, photos)
    index(library, Models(device="cpu"))
    win = MainWindow(library, device="cpu", settings=settings, start_indexing=False)
    qtbot.addWidget(win)
    win.show()
    win.search_box.setText("bird")
    expected = [h.photo_id for h in search(library, "bird")]
    assert len(expected) >= 3
    qtbot.waitUntil(lambda: grid_ids(win) == expected, timeout=10_000)
    win.grid.setFocus()
    win.grid.selectionModel().setCurrentIndex(win.model.index(0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    qtbot.keyClick(win.grid, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: catalogue.info(library, expected[0])["user_label"] == "not-bird", timeout=10_000)
    win.refresh_all(results=True)  # as the window does when the catalogue changes while photos come in
    qtbot.waitUntil(lambda: grid_ids(win) == expected[1:], timeout=10_000)
    assert win.grid.currentIndex().data(ID_ROLE) == expected[1]
    assert win.grid.selected_ids() == [expected[1]]
    qtbot.keyClick(win.grid, Qt.Key.Key_B)
    qtbot.waitUntil(lambda: catalogue.info(library, expected[1])["user_label"] == "bird", timeout=10_000)
    qtbot.waitUntil(lambda: len(win._undo) == 2, timeout=10_000)  # both markings are back from the worker
    assert win.act_undo.isEnabled() and win.act_undo.text() == "Undo marking 1 photo"
    assert win.act_undo in win.menuBar().actions()[0].menu().actions()
    win.activateWindow()  # Ctrl+Z is the window's (a text field's own undo wins while it has the focus)
    qtbot.waitUntil(win.isActiveWindow, timeout=10_000)
    qtbot.keyClick(win.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: catalogue.info(library, expected[1])["user_label"] is None, timeout=10_000)
    assert catalogue.info(library, expected[0])["user_label"] == "not-bird"
    win.act_undo.trigger()
    qtbot.waitUntil(lambda: catalogue.info(library, expected[0])["user_label"] is None, timeout=10_000)
    qtbot.waitUntil(lambda: grid_ids(win) == expected, timeout=10_000)  # back in the search
    assert not win.act_undo.isEnabled()
    win.close()


def test_while_indexing_the_status_the_folders_and_the_grid_agree(qtbot, tmp_path: Path, library, settings) -> None:
    """The status's "Indexing N of M", the folder's "(M) · M-N to do" and the grid's "N photos" are one
    state's numbers at every moment the user could look (they were three reads at three times: 83 of 269, 235
    to do, 53 photos)."""
    import re

    from PySide6.QtCore import QTimer

    photos = tmp_path / "photos"
    make_photos(photos, 120)
    scan.add_folder(library, photos)
    win = open_window(qtbot, library, settings, start_indexing=False)
    seen: list[tuple[int, int, int, int, int]] = []

    def look() -> None:
        status = re.match(r"Indexing ([\d,]+) of ([\d,]+) ", win.status_text.text())
        folder = win.folder_tree.topLevelItem(0)
        shown = re.search(r"\(([\d,]+)\)(?: \u00b7 ([\d,]+) to do)?", folder.text(0)) if folder else None
        grid = re.match(r"([\d,]+) photos?$", win.result_count.text())
        if status and shown and grid:
            done, total = (int(g.replace(",", "")) for g in status.groups())
            photos_in_folder, to_do = (
                int(shown.group(1).replace(",", "")),
                int((shown.group(2) or "0").replace(",", "")),
            )
            seen.append((done, total, photos_in_folder, to_do, int(grid.group(1).replace(",", ""))))

    timer = QTimer()
    timer.timeout.connect(look)
    timer.start(10)
    win.start_indexing()
    wait_up_to_date(qtbot, win)
    timer.stop()
    # it was seen mid-run, between two commits (how many commits a run of 120 takes depends on the machine's
    # speed: 64 photos or a second each, so a fast run has one, at about half way)
    assert any(0 < done < total for done, total, *_ in seen), seen
    for done, total, photos_in_folder, to_do, in_grid in seen:
        assert (total, total - done, done) == (photos_in_folder, to_do, in_grid), seen
    win.close()


def test_a_read_only_library_opens_for_browsing_and_says_why_it_cannot_mark(
    qtbot, tmp_path: Path, settings, make_read_only
) -> None:
    """A library on a read-only share opens: its photos show and search works; marking, adding a folder and
    naming people say, in one sentence, that the library is read-only; nothing is written."""
    from photobird.library.store import Library
    from tests.library.conftest import make_catalogue

    folder = tmp_path / "library"
    with Library(folder) as lib:
        made = make_catalogue(lib, 60)
        indexed = len([p for p in made.photos if p["state"] == "indexed"])
        dogs = len(search(lib, "dog"))
        labels_before = {p["id"]: catalogue.info(lib, p["id"])["user_label"] for p in made.photos}
    before = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
    make_read_only(folder)
    library = Library(folder)
    assert library.read_only
    win = MainWindow(library, device="cpu", settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.status_text.text().startswith("Read-only library"), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: len(win.model.ids) == indexed, timeout=20_000)
    assert not win.banner.isVisible()  # it would invite adding a folder
    win.search_box.setText("dog")
    qtbot.waitUntil(lambda: len(win.model.ids) == dogs, timeout=20_000)

    win.grid.setFocus()
    win.grid.setCurrentIndex(win.model.index(0))
    win.activateWindow()
    qtbot.keyClick(win.grid, Qt.Key.Key_B)
    message = win.statusBar().currentMessage()
    assert message == f"This library is read-only ({folder}): marking photos needs write access to it.", message
    win.add_folder(str(tmp_path))
    assert "adding a folder" in win.statusBar().currentMessage()
    assert not win.people_view.enabled.isEnabled() and not win.people_view.name_btn.isEnabled()
    assert win.models is None and win.index_task is None  # nothing to index: the models are not even loaded
    qtbot.wait(500)
    assert {p["id"]: catalogue.info(library, p["id"])["user_label"] for p in made.photos} == labels_before
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == before
    win.close()
    library.close()
