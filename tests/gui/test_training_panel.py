"""The training panel, driven through its real widgets: Retrain, read the numbers, move the threshold, Keep."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QAbstractButton, QGroupBox, QLabel, QStyle, QStyleOptionSlider, QTableWidget, QWidget
from sqlalchemy import select

from photobird import config
from photobird.gui.main_window import MainWindow
from photobird.gui.training_panel import LossCurve, PRCurve, TrainingPanel
from photobird.learn import head as head_mod
from photobird.learn.train import TrainConfig
from photobird.library import catalogue, scan, versions
from photobird.library.schema import Embedding, Photo, PhotoState, UserLabel
from photobird.library.store import Library
from photobird.models import real_photos
from tests.learn.test_train import variants
from tests.library.test_versions import copy_of_shipped

TIMEOUT = 240_000
#: A quick run: 16 labels of each class is too few for a fixed hold-out, so the new model is checked in rounds.
QUICK = TrainConfig(recipe=head_mod.HeadRecipe(epochs=6), base_limit=1000, folds=3, inner_folds=2)


def photos_for(tmp_path: Path) -> dict[str, bool]:
    """4 bird and 4 other real photos with edited copies (32, to label: path -> is a bird), and 4 bird and 8
    other photos besides, left unlabelled for the new model to judge."""
    photos = tmp_path / "photos"
    photos.mkdir()
    rows = real_photos.rows()
    birds = [r for r in rows if r["is_bird"] == "1"]
    others = [r for r in rows if r["is_bird"] == "0"]
    truth = {}
    for r in birds[:4] + others[:4]:
        for p in variants(config.real_photos_dir() / r["file"], photos, Path(r["file"]).stem):
            truth[str(p)] = r["is_bird"] == "1"
    for r in birds[4:8] + others[4:12]:
        shutil.copy2(config.real_photos_dir() / r["file"], photos / r["file"])
    return truth


def open_labelled(qtbot, tmp_path: Path, library: Library, settings) -> tuple[MainWindow, TrainingPanel, dict]:
    """The app on a library of real photos, indexed, some labelled, the training tab open and ready."""
    truth = photos_for(tmp_path)
    scan.add_folder(library, tmp_path / "photos")
    win = MainWindow(library, device="cpu", settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.status_text.text().startswith("Up to date"), timeout=TIMEOUT)
    panel = win.training_panel
    assert isinstance(panel, TrainingPanel)
    win.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: "needs at least" in panel.readiness.text(), timeout=10_000)
    assert not panel.retrain_btn.isEnabled()  # nothing labelled yet: it explains what is needed
    for path, is_bird in truth.items():
        catalogue.set_user_label(
            library, [catalogue.photo_id_for_path(library, path)], "bird" if is_bird else "not-bird"
        )
    win.labels_changed.emit([])
    qtbot.waitUntil(panel.retrain_btn.isEnabled, timeout=10_000)
    panel.config = QUICK
    return win, panel, truth


def retrain(qtbot, panel: TrainingPanel):
    results = []
    panel.result_ready.connect(results.append)
    qtbot.mouseClick(panel.retrain_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(results), timeout=TIMEOUT)
    return results[0]


def expected_changes(library: Library, win: MainWindow, version_id: int, threshold: float) -> tuple[int, int, int]:
    """(photos, become bird, stop being bird), computed directly: both heads on every stored embedding, the
    user's labelled photos left out (their label wins over any model)."""
    active = versions.active_version(library)
    candidate = versions.get_version(library, version_id)
    with library.session() as s:
        rows = s.execute(
            select(Photo.content_hash, Embedding.vector)
            .join(Embedding, Embedding.photo_id == Photo.id)
            .where(Photo.state == PhotoState.INDEXED)
        ).all()
        labelled = set(s.scalars(select(UserLabel.content_hash)))
    x = np.stack([np.frombuffer(v, dtype="<f2") for _, v in rows])
    free = np.array([h not in labelled for h, _ in rows])
    new = win.models.score(x, versions.load_head(library, candidate)) >= threshold
    old = win.models.score(x, versions.load_head(library, active)) >= active.threshold
    return len(rows), int(np.sum(new & ~old & free)), int(np.sum(~new & old & free))


def shown_changes(panel: TrainingPanel) -> tuple[int, int, int]:
    m = re.fullmatch(
        r"(\d+) of your (\d+) photos would change verdict \((\d+) become bird, (\d+) stop being bird\).*",
        panel.changes.text(),
    )
    assert m, panel.changes.text()
    changed, photos, become, stop = map(int, m.groups())
    assert changed == become + stop
    return photos, become, stop


def test_retrain_compare_move_threshold_keep(qtbot, tmp_path: Path, library, settings) -> None:
    win, panel, _truth = open_labelled(qtbot, tmp_path, library, settings)
    win.resize(1000, 640)  # a small window: the panel scrolls
    result = retrain(qtbot, panel)
    assert panel.loss.series and panel.loss.series[-1][1]  # the new model's own fit, drawn last and bold

    # the confusion-matrix widgets show the core's numbers
    b, a = result.before, result.after
    assert [
        panel.before_col.cell(0, 0),
        panel.before_col.cell(0, 1),
        panel.before_col.cell(1, 0),
        panel.before_col.cell(1, 1),
    ] == [str(b.tp), str(b.fn), str(b.fp), str(b.tn)]
    assert [
        panel.after_col.cell(0, 0),
        panel.after_col.cell(0, 1),
        panel.after_col.cell(1, 0),
        panel.after_col.cell(1, 1),
    ] == [str(a.tp), str(a.fn), str(a.fp), str(a.tn)]
    assert panel.after_col.precision.text() == f"{a.precision:.1%}"
    assert panel.strips["tp"].count() == a.tp and panel.strips["fp"].count() == a.fp

    # before Keep: how many of the library's photos would change verdict, counted against the active model
    qtbot.waitUntil(panel.keep_btn.isEnabled, timeout=60_000)
    assert panel.discard_btn.isEnabled()
    assert shown_changes(panel) == expected_changes(library, win, result.version_id, 0.5)

    # moving the threshold slider changes precision and recall, and the count follows it
    shown = (panel.after_col.precision.text(), panel.after_col.recall.text())
    panel.slider.setValue(999)
    assert (panel.after_col.precision.text(), panel.after_col.recall.text()) != shown
    assert panel.after_col.cell(0, 0) == str(result.evaluation.confusion("after", 0.999).tp)
    assert shown_changes(panel) == expected_changes(library, win, result.version_id, 0.999)

    # the slider comes back to exactly 0.500: dragged back by the mouse, or by the button beside it
    assert result.threshold == 0.5
    panel.scroll.ensureWidgetVisible(panel.slider)
    opt = QStyleOptionSlider()
    panel.slider.initStyleOption(opt)
    style = panel.slider.style()
    handle = style.subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderHandle, panel.slider)
    groove = style.subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderGroove, panel.slider)
    middle = QPoint(groove.left() + groove.width() // 2, handle.center().y())
    qtbot.mousePress(panel.slider, Qt.MouseButton.LeftButton, pos=handle.center())
    for x in (middle.x() - 40, middle.x() + 1):  # away, then back to about the middle (a pixel off)
        qtbot.mouseMove(panel.slider, QPoint(x, middle.y()))
    qtbot.mouseRelease(panel.slider, Qt.MouseButton.LeftButton, pos=QPoint(middle.x() + 1, middle.y()))
    assert panel.threshold == 0.5 and panel.after_col.threshold.text() == "threshold 0.500"
    panel.slider.setValue(612)
    assert panel.reset_btn.isEnabled() and panel.reset_btn.text() == "Back to 0.500"
    qtbot.mouseClick(panel.reset_btn, Qt.MouseButton.LeftButton)
    assert panel.threshold == 0.5 and panel.after_col.threshold.text() == "threshold 0.500"
    assert not panel.reset_btn.isEnabled()

    # Keep (scrolled down to it): the new version becomes the active one, the library is re-scored, and the
    # message saying so is in view
    active_before = versions.active_version(library)
    panel.scroll.ensureWidgetVisible(panel.keep_btn)
    qtbot.mouseClick(panel.keep_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: versions.active_version(library).name == result.version, timeout=60_000)
    assert active_before.name != result.version
    qtbot.waitUntil(lambda: "is now the active model" in panel.phase.text(), timeout=60_000)
    assert panel.phase.isVisible()
    assert panel.phase.visibleRegion().boundingRect() == panel.phase.rect()  # all of it, not scrolled away
    qtbot.waitUntil(
        lambda: any(
            panel.history.item(i, 5)
            and panel.history.item(i, 5).text() == "\u2713"
            and panel.history.item(i, 0).text() == result.version
            for i in range(panel.history.rowCount())
        ),
        timeout=10_000,
    )
    win.close()


def user_texts(panel: TrainingPanel) -> list[str]:
    """Everything the panel writes for the user to read: labels, buttons, titles, table headers, tooltips."""
    out = []
    for w in [panel, *panel.findChildren(QWidget)]:
        out.append(w.toolTip())
        if isinstance(w, QLabel | QAbstractButton):
            out.append(w.text())
        elif isinstance(w, QGroupBox):
            out.append(w.title())
        elif isinstance(w, QTableWidget):
            for j in range(w.columnCount()):
                item = w.horizontalHeaderItem(j)
                out.append(item.text() if item else "")
    return [t for t in out if t]


JARGON = re.compile(r"fold|held.out|\b\d+/\d+\b", re.IGNORECASE)


def test_training_speaks_plain_words_and_fills_one_bar_once(qtbot, tmp_path: Path, library, settings) -> None:
    win, panel, _truth = open_labelled(qtbot, tmp_path, library, settings)
    shown: list[tuple[int, str]] = []  # the bar's value and the words beside it, each time the bar moves
    panel.progress.valueChanged.connect(lambda v: shown.append((v, panel.phase.text())))
    result = retrain(qtbot, panel)
    assert result.mode == "k-fold"  # few labels: the new model was checked in rounds

    values = [v for v, _ in shown]
    assert values == sorted(values), "the bar went back"
    assert values[0] == 0 and values[-1] == panel.progress.maximum()
    assert len(set(values)) > 20  # it moved through the run, not in a few jumps
    texts = [t for _, t in shown]
    assert any(t.startswith("Checking the new model on your labelled photos: round 2 of 3") for t in texts)
    assert any(t.startswith("Training the new model") for t in texts)
    assert "in rounds" in panel.phase.text()
    said = texts + user_texts(panel)
    assert not [t for t in said if JARGON.search(t)]
    win.close()


def test_keep_is_not_recommended_when_many_photos_change_verdict(qtbot, tmp_path: Path, library, settings) -> None:
    """An active model that never says bird: the new one is better on the labelled photos (anything is), and
    it turns many unlabelled photos into birds; the panel says how many and does not just say Keep."""
    win, panel, _truth = open_labelled(qtbot, tmp_path, library, settings)
    never = copy_of_shipped(library, win.models, "never", threshold=2.0)
    versions.activate(library, win.models, never)
    result = retrain(qtbot, panel)
    assert result.before_version == "never"
    assert result.after.recall > 0 and not result.worse

    qtbot.waitUntil(panel.keep_btn.isEnabled, timeout=60_000)
    photos, become, stop = expected_changes(library, win, result.version_id, panel.threshold)
    assert shown_changes(panel) == (photos, become, stop)
    assert stop == 0 and become > 0.05 * photos  # many, by the panel's rule
    assert "would change the verdict" in panel.verdict.text()
    assert "keep it only if you expected" in panel.verdict.text()
    assert "Keep it to use it" not in panel.verdict.text()
    win.close()


def test_curves_mark_their_axes_with_distinct_labels(qtbot) -> None:
    loss = LossCurve()
    qtbot.addWidget(loss)
    loss.resize(400, 140)
    loss.show()
    for v in (0.0348, 0.0339, 0.0331, 0.0324, 0.0318, 0.0312):  # the case that read "0.03" twice
        loss.add("training the new model", v, True)
    ticks = loss.tick_labels()
    assert len(ticks["y"]) >= 2 and len(set(ticks["y"])) == len(ticks["y"])
    assert [float(t) for t in ticks["y"]] == sorted(float(t) for t in ticks["y"])
    assert abs(float(ticks["y"][0]) - 0.0312) < 0.0005 and abs(float(ticks["y"][-1]) - 0.0348) < 0.0005
    assert ticks["x"] == ["1", "6"]
    loss.grab()  # paints them

    pr = PRCurve()
    qtbot.addWidget(pr)
    pr.resize(300, 260)
    pr.set_data({"after": [(0.9, 1.0, 0.25), (0.5, 0.8, 1.0)]}, {"after": (0.8, 1.0)})
    ticks = pr.tick_labels()
    assert ticks["x"] == ticks["y"] == ["0%", "25%", "50%", "75%", "100%"]
    pr.grab()
