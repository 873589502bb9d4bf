"""The training panel, driven through its real widgets: Retrain, read the numbers, move the threshold, Keep."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from photobird import config
from photobird.gui.main_window import MainWindow
from photobird.learn import head as head_mod
from photobird.learn.train import TrainConfig
from photobird.library import catalogue, scan, versions
from photobird.library.index import index
from photobird.models import real_photos
from tests.learn.test_train import variants

TIMEOUT = 240_000


def test_retrain_compare_move_threshold_keep(qtbot, tmp_path: Path, library, settings) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    rows = real_photos.rows()
    birds = [r for r in rows if r["is_bird"] == "1"][:4]
    others = [r for r in rows if r["is_bird"] == "0"][:4]
    truth = {}
    for r in birds + others:
        for p in variants(config.real_photos_dir() / r["file"], photos, Path(r["file"]).stem):
            truth[str(p)] = r["is_bird"] == "1"
    scan.add_folder(library, photos)

    win = MainWindow(library, device="cpu", settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.status_text.text().startswith("Up to date"), timeout=TIMEOUT)
    index(library, win.models)  # (already indexed by the window: a no-op that proves it)
    panel = win.training_panel
    assert panel is not None
    win.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: "needs at least" in panel.readiness.text(), timeout=10_000)
    assert not panel.retrain_btn.isEnabled()  # nothing labelled yet: it explains what is needed

    for path, is_bird in truth.items():
        catalogue.set_user_label(
            library, [catalogue.photo_id_for_path(library, path)], "bird" if is_bird else "not-bird"
        )
    win.labels_changed.emit([])
    qtbot.waitUntil(panel.retrain_btn.isEnabled, timeout=10_000)

    panel.config = TrainConfig(recipe=head_mod.HeadRecipe(epochs=6), base_limit=1000, folds=3, inner_folds=2)
    results = []
    panel.result_ready.connect(results.append)
    qtbot.mouseClick(panel.retrain_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(results), timeout=TIMEOUT)
    result = results[0]
    assert panel.loss.series and panel.loss.series[-1][0] == "final"

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
    assert panel.keep_btn.isEnabled() and panel.discard_btn.isEnabled()

    # moving the threshold slider changes precision and recall
    shown = (panel.after_col.precision.text(), panel.after_col.recall.text())
    panel.slider.setValue(999)
    assert (panel.after_col.precision.text(), panel.after_col.recall.text()) != shown
    assert panel.after_col.cell(0, 0) == str(result.evaluation.confusion("after", 0.999).tp)
    panel.slider.setValue(round(result.threshold * 1000))

    # Keep: the new version becomes the active one and the library is re-scored
    active_before = versions.active_version(library)
    qtbot.mouseClick(panel.keep_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: versions.active_version(library).name == result.version, timeout=60_000)
    assert active_before.name != result.version
    qtbot.waitUntil(lambda: "is now the active model" in panel.phase.text(), timeout=60_000)
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
