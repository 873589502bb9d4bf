"""The training panel: retrain the bird model on your own labels and see, honestly, what changed.

Laid out the way Geitgey's article reports a model: true/false positives/negatives in a table, precision and
recall as large numbers, for the current and the new model side by side on the same held-out photos; with the
precision-recall curve, a threshold slider, the photos behind each number (click one to open it and correct
its label), Keep / Discard, and the history of versions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from photobird.gui.worker import Task
from photobird.learn import metrics
from photobird.learn.train import (
    Evaluation,
    TrainConfig,
    TrainResult,
    evaluation_of,
    readiness,
    set_threshold,
)
from photobird.library import catalogue, versions
from photobird.library.store import Library

if TYPE_CHECKING:
    from photobird.gui.main_window import MainWindow

CURVE_BEFORE = QColor(130, 130, 140)
CURVE_AFTER = QColor(42, 130, 218)
PHOTO_ROLE = Qt.ItemDataRole.UserRole + 20


def _counts(library: Library) -> tuple[int, int]:
    st = catalogue.stats(library)
    return st.user_bird, st.user_not_bird


def _train(library: Library, models: Any, config: TrainConfig) -> Any:
    from photobird.learn.train import train_steps

    result = yield from train_steps(library, models, config)
    return result, versions.get_version(library, result.version_id)


def _thumbs(library: Library, rows: list[tuple[int, str]]) -> dict[int, QImage]:
    """Worker thread: thumbnails of the photos behind a confusion-matrix cell."""
    briefs = catalogue.briefs(library, [pid for pid, _ in rows])
    out = {}
    for pid, _h in rows:
        b = briefs.get(pid)
        if b is not None and b.content_hash:
            im = QImage(str(library.thumb_path(b.content_hash)))
            if not im.isNull():
                out[pid] = im.scaled(
                    96, 96, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
                )
    return out


class LossCurve(QWidget):
    """The training loss, epoch by epoch, drawn as it arrives (one faint line per helper fit, the final one bold)."""

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumHeight(110)
        self.series: list[tuple[str, list[float]]] = []

    def clear(self) -> None:
        self.series = []
        self.update()

    def add(self, fit: str, loss: float) -> None:
        if not self.series or self.series[-1][0] != fit:
            self.series.append((fit, []))
        self.series[-1][1].append(loss)
        self.update()

    def paintEvent(self, event: Any) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(36, 8, -8, -20)
        p.setPen(self.palette().mid().color())
        p.drawRect(r)
        values = [v for _, s in self.series for v in s]
        p.setPen(self.palette().text().color())
        p.drawText(QRectF(0, r.bottom() + 2, self.width(), 16), Qt.AlignmentFlag.AlignCenter, "epoch")
        if not values:
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "the loss curve appears here while training")
            return
        lo, hi = min(values), max(values)
        hi = hi if hi > lo else lo + 1e-6
        p.drawText(QRectF(0, r.top() - 6, 34, 14), Qt.AlignmentFlag.AlignRight, f"{hi:.2f}")
        p.drawText(QRectF(0, r.bottom() - 8, 34, 14), Qt.AlignmentFlag.AlignRight, f"{lo:.2f}")
        longest = max(len(s) for _, s in self.series)
        for fit, s in self.series:
            if len(s) < 1:
                continue
            path = QPainterPath()
            for i, v in enumerate(s):
                x = r.left() + r.width() * (i / max(1, longest - 1))
                y = r.bottom() - r.height() * (v - lo) / (hi - lo)
                path.lineTo(x, y) if i else path.moveTo(x, y)
            final = fit == "final"
            color = QColor(CURVE_AFTER) if final else QColor(CURVE_BEFORE)
            if not final:
                color.setAlpha(110)
            p.setPen(QPen(color, 2.2 if final else 1.0))
            p.drawPath(path)


class PRCurve(QWidget):
    """Precision against recall for both models, with a dot at each one's threshold."""

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumSize(QSize(220, 200))
        self.curves: dict[str, list[tuple[float, float, float]]] = {}
        self.points: dict[str, tuple[float, float]] = {}

    def set_data(
        self, curves: dict[str, list[tuple[float, float, float]]], points: dict[str, tuple[float, float]]
    ) -> None:
        self.curves, self.points = curves, points
        self.update()

    def paintEvent(self, event: Any) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(40, 10, -10, -30)
        p.setPen(self.palette().mid().color())
        p.drawRect(r)
        p.setPen(self.palette().text().color())
        p.drawText(QRectF(r.left(), r.bottom() + 4, r.width(), 16), Qt.AlignmentFlag.AlignCenter, "recall")
        p.save()
        p.translate(12, r.center().y())
        p.rotate(-90)
        p.drawText(QRectF(-50, -10, 100, 16), Qt.AlignmentFlag.AlignCenter, "precision")
        p.restore()

        def pt(recall: float, precision: float) -> QPointF:
            return QPointF(r.left() + r.width() * recall, r.bottom() - r.height() * precision)

        for name, color in (("before", CURVE_BEFORE), ("after", CURVE_AFTER)):
            curve = self.curves.get(name)
            if not curve:
                continue
            path = QPainterPath(pt(0.0, curve[0][1]))
            for _t, prec, rec in curve:
                path.lineTo(pt(rec, prec))
            p.setPen(QPen(color, 2))
            p.drawPath(path)
            if name in self.points:
                prec, rec = self.points[name]
                p.setBrush(color)
                p.drawEllipse(pt(rec, prec), 5, 5)
                p.setBrush(Qt.BrushStyle.NoBrush)


class ModelColumn(QGroupBox):
    """One model's numbers: the article's table, precision and recall as large numbers."""

    def __init__(self, title: str) -> None:
        super().__init__(title)
        self.table = QTableWidget(2, 2)
        self.table.setHorizontalHeaderLabels(["predicted bird", "predicted not bird"])
        self.table.setVerticalHeaderLabels(["is a bird", "is not a bird"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setFixedHeight(90)
        self.precision = QLabel("\u2013")
        self.recall = QLabel("\u2013")
        big = QFont()
        big.setPointSize(22)
        big.setBold(True)
        for lab in (self.precision, self.recall):
            lab.setFont(big)
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
        nums = QGridLayout()
        nums.addWidget(self.precision, 0, 0)
        nums.addWidget(self.recall, 0, 1)
        nums.addWidget(QLabel("precision", alignment=Qt.AlignmentFlag.AlignCenter), 1, 0)
        nums.addWidget(QLabel("recall", alignment=Qt.AlignmentFlag.AlignCenter), 1, 1)
        self.threshold = QLabel()
        lay = QVBoxLayout(self)
        lay.addWidget(self.table)
        lay.addLayout(nums)
        lay.addWidget(self.threshold)

    def show_confusion(self, c: metrics.Confusion | None, threshold: float | None) -> None:
        cells = [[c.tp, c.fn], [c.fp, c.tn]] if c else [["", ""], ["", ""]]
        names = [["true positives", "false negatives"], ["false positives", "true negatives"]]
        for i in range(2):
            for j in range(2):
                item = QTableWidgetItem(f"{cells[i][j]}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setToolTip(names[i][j])
                self.table.setItem(i, j, item)
        self.precision.setText(f"{c.precision:.1%}" if c else "\u2013")
        self.recall.setText(f"{c.recall:.1%}" if c else "\u2013")
        self.threshold.setText(f"threshold {threshold:.3f}" if threshold is not None else "")

    def cell(self, row: int, col: int) -> str:
        item = self.table.item(row, col)
        return item.text() if item else ""


class Strip(QListWidget):
    """A row of thumbnails; clicking one opens the photo."""

    def __init__(self) -> None:
        super().__init__()
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(QSize(88, 88))
        self.setFixedHeight(120)
        self.setMovement(QListView.Movement.Static)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)


class TrainingPanel(QWidget):
    result_ready = Signal(object)

    def __init__(self, window: MainWindow) -> None:
        super().__init__()
        self.window_ = window
        self.library = window.library
        self.runner = window.runner
        self.task: Task | None = None
        self.evaluation: Evaluation | None = None
        self.result_version: Any = None
        self.before_name = ""
        self.thumbs: dict[int, QPixmap] = {}
        self.config = TrainConfig()  # the defaults; tests may ask for a quicker run

        # top: readiness, retrain, progress
        self.readiness = QLabel("Label photos with B (bird) and N (not bird) in the Photos tab, then retrain.")
        self.readiness.setWordWrap(True)
        self.retrain_btn = QPushButton("Retrain")
        self.retrain_btn.setEnabled(False)
        self.retrain_btn.clicked.connect(self.retrain)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.phase = QLabel()
        self.loss = LossCurve()
        top = QHBoxLayout()
        top.addWidget(self.readiness, 1)
        top.addWidget(self.retrain_btn)
        top.addWidget(self.cancel_btn)

        # results
        self.before_col = ModelColumn("Current model")
        self.after_col = ModelColumn("New model")
        self.pr = PRCurve()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(1, 999)
        self.slider.setEnabled(False)
        self.slider.valueChanged.connect(self._threshold_moved)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        vf = QFont()
        vf.setBold(True)
        self.verdict.setFont(vf)
        self.keep_btn = QPushButton("Keep the new model")
        self.discard_btn = QPushButton("Discard it")
        self.keep_btn.clicked.connect(self.keep)
        self.discard_btn.clicked.connect(self.discard)
        self.keep_btn.setEnabled(False)
        self.discard_btn.setEnabled(False)
        curve_box = QVBoxLayout()
        curve_box.addWidget(self.pr, 1)
        curve_box.addWidget(QLabel("Threshold of the new model (drag to trade precision for recall):"))
        curve_box.addWidget(self.slider)
        compare = QHBoxLayout()
        compare.addWidget(self.before_col, 1)
        compare.addWidget(self.after_col, 1)
        compare.addLayout(curve_box, 1)
        keep_row = QHBoxLayout()
        keep_row.addWidget(self.verdict, 1)
        keep_row.addWidget(self.keep_btn)
        keep_row.addWidget(self.discard_btn)

        # the photos behind the numbers
        self.strips: dict[str, Strip] = {}
        self.strip_titles: dict[str, QLabel] = {}
        strips_box = QVBoxLayout()
        for key, title in (
            ("tp", "True positives (birds found)"),
            ("fn", "False negatives (birds missed)"),
            ("fp", "False positives (not birds, called birds)"),
            ("tn", "True negatives (correctly not birds)"),
        ):
            label = QLabel(f"<b>{title}</b>")
            strip = Strip()
            strip.itemClicked.connect(lambda item: self.window_.open_photo(item.data(PHOTO_ROLE)))
            self.strips[key], self.strip_titles[key] = strip, label
            strips_box.addWidget(label)
            strips_box.addWidget(strip)

        # history
        self.history = QTableWidget(0, 6)
        self.history.setHorizontalHeaderLabels(["version", "created", "held out", "precision", "recall", "active"])
        self.history.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.history.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.history.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.history.setMinimumHeight(140)
        self.history.itemSelectionChanged.connect(self._history_selected)
        self.make_active_btn = QPushButton("Make active")
        self.make_active_btn.setEnabled(False)
        self.make_active_btn.clicked.connect(self.make_selected_active)
        hist_box = QGroupBox("Model versions")
        hl = QVBoxLayout(hist_box)
        hl.addWidget(self.history)
        hb = QHBoxLayout()
        hb.addStretch(1)
        hb.addWidget(self.make_active_btn)
        hl.addLayout(hb)

        content = QWidget()
        lay = QVBoxLayout(content)
        lay.addLayout(top)
        lay.addWidget(self.phase)
        lay.addWidget(self.progress)
        lay.addWidget(self.loss)
        lay.addLayout(compare)
        lay.addLayout(keep_row)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        lay.addWidget(line)
        lay.addLayout(strips_box)
        lay.addWidget(hist_box)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        window.models_ready.connect(lambda _m: self.refresh())
        window.labels_changed.connect(lambda _ids: self.refresh())
        window.catalogue_changed.connect(self.refresh)  # e.g. labels made by ``photobird label`` meanwhile
        self.refresh()

    # state ------------------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        self.runner.run(_counts, self.library, on_done=self._counts)
        self.runner.run(versions.list_versions, self.library, on_done=self._history)

    def _counts(self, counts: tuple[int, int]) -> None:
        r = readiness(*counts)
        more = ""
        if r.ready and (r.more_birds or r.more_not_birds):
            more = f" ({r.more_birds} more birds and {r.more_not_birds} more non-birds would help.)"
        self.readiness.setText(r.message + more)
        busy = self.task is not None and not self.task.done.is_set()
        self.retrain_btn.setEnabled(r.ready and self.window_.models is not None and not busy)

    def _history(self, rows: list[Any]) -> None:
        self.history.setRowCount(len(rows))
        for i, v in enumerate(rows):
            m = (v.info or {}).get("metrics", {})
            after = m.get("after") or {}
            cells = [
                v.name,
                v.created_at.strftime("%Y-%m-%d %H:%M"),
                str(m.get("held_out") or "\u2013"),
                f"{after['precision']:.1%}" if after else "\u2013",
                f"{after['recall']:.1%}" if after else "\u2013",
                "\u2713" if v.active else "",
            ]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, v.id)
                self.history.setItem(i, j, item)
        self._versions = {v.id: v for v in rows}

    def _history_selected(self) -> None:
        items = self.history.selectedItems()
        v = self._versions.get(items[0].data(Qt.ItemDataRole.UserRole)) if items else None
        self.make_active_btn.setEnabled(v is not None and not v.active)
        idle = self.task is None or self.task.done.is_set()
        ev = evaluation_of(v) if v is not None else None
        if idle and v is not None and ev is not None:  # show that version's evaluation
            self.before_name = (v.info or {}).get("metrics", {}).get("before_version", "before")
            self.show_evaluation(ev, v, pending=not v.active and v.id == getattr(self.result_version, "id", -1))

    # training ---------------------------------------------------------------------------------------------------

    def retrain(self) -> None:
        if self.window_.models is None:
            return
        self.loss.clear()
        self.progress.show()
        self.progress.setRange(0, 0)
        self.phase.setText("Starting\u2026")
        self.retrain_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        self.keep_btn.setEnabled(False)
        self.discard_btn.setEnabled(False)
        task = Task(_train, self.library, self.window_.models, self.config, name="train")
        task.signals.progress.connect(self._progress)
        task.signals.finished.connect(self._trained)
        task.signals.failed.connect(self._failed)
        task.signals.ended.connect(self._ended)
        self.task = self.runner.start(task, long=True)

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.phase.setText("Cancelling\u2026 (the active model is unchanged)")

    def _progress(self, p: Any) -> None:
        if p.phase == "training":
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.done)
            self.loss.add(p.fit, p.loss)
            self.phase.setText(f"Training ({p.fit}): epoch {p.epoch}/{p.total}, loss {p.loss:.4f}")
        else:
            self.progress.setRange(0, max(p.total, 1))
            self.progress.setValue(p.done)
            self.phase.setText(p.message or p.phase)

    def _trained(self, outcome: tuple[TrainResult, Any]) -> None:
        result, version = outcome
        self.phase.setText(
            f"Trained {result.version} in {result.seconds:.1f} s ({result.mode} evaluation on "
            f"{len(result.evaluation.hashes)} of your photos)."
        )
        self.before_name = result.before_version
        self.result_version = version
        self.show_evaluation(result.evaluation, version, pending=True)
        self.result_ready.emit(result)
        self.refresh()

    def _failed(self, message: str, tb: str) -> None:
        self.phase.setText(f"Training did not finish: {message}. The active model and your labels are unchanged.")

    def _ended(self) -> None:
        self.progress.hide()
        self.cancel_btn.setEnabled(False)
        if self.task is not None and self.task.cancelled:
            self.phase.setText("Training cancelled. The active model and your labels are unchanged.")
        self.refresh()

    # showing results ---------------------------------------------------------------------------------------------

    def show_evaluation(self, ev: Evaluation, version: Any, pending: bool) -> None:
        self.evaluation = ev
        self.result_version = version
        self.before_col.setTitle(f"Current model ({self.before_name})")
        self.after_col.setTitle(f"New model ({version.name})")
        self.slider.blockSignals(True)
        self.slider.setValue(round(float(version.threshold) * 1000))
        self.slider.blockSignals(False)
        self.slider.setEnabled(True)
        self.keep_btn.setEnabled(pending)
        self.discard_btn.setEnabled(pending)
        self._update_numbers()
        self._load_thumbs()

    @property
    def threshold(self) -> float:
        return self.slider.value() / 1000.0

    def _threshold_moved(self, _value: int) -> None:
        self._update_numbers()

    def _update_numbers(self) -> None:
        ev = self.evaluation
        if ev is None:
            return
        before = ev.confusion("before")
        after = ev.confusion("after", self.threshold)
        self.before_col.show_confusion(before, ev.before_threshold)
        self.after_col.show_confusion(after, self.threshold)
        self.pr.set_data(
            {"before": ev.pr_points("before"), "after": ev.pr_points("after")},
            {"before": (before.precision, before.recall), "after": (after.precision, after.recall)},
        )
        worse = []
        if after.recall < before.recall:
            worse.append(f"recall drops from {before.recall:.1%} to {after.recall:.1%}")
        if after.precision < before.precision:
            worse.append(f"precision drops from {before.precision:.1%} to {after.precision:.1%}")
        if worse:
            self.verdict.setText(
                "On your held-out photos the new model is worse: " + " and ".join(worse) + ". We recommend Discard."
            )
        elif (after.precision, after.recall) == (before.precision, before.recall):
            self.verdict.setText("On your held-out photos the new model scores the same as the current one.")
        else:
            self.verdict.setText("On your held-out photos the new model is better. Keep it to use it for search.")
        self._fill_strips()

    def _cells(self) -> dict[str, list[int]]:
        ev = self.evaluation
        assert ev is not None
        pred = ev.after >= self.threshold
        y = ev.is_bird
        ids = np.array(ev.photo_ids)
        return {
            "tp": ids[pred & y].tolist(),
            "fn": ids[~pred & y].tolist(),
            "fp": ids[pred & ~y].tolist(),
            "tn": ids[~pred & ~y].tolist(),
        }

    def _load_thumbs(self) -> None:
        ev = self.evaluation
        if ev is None:
            return
        missing = [(pid, h) for pid, h in zip(ev.photo_ids, ev.hashes, strict=True) if pid not in self.thumbs]
        if missing:
            self.runner.run(_thumbs, self.library, missing, on_done=self._thumbs_loaded)

    def _thumbs_loaded(self, images: dict[int, QImage]) -> None:
        for pid, im in images.items():
            self.thumbs[pid] = QPixmap.fromImage(im)
        self._fill_strips()

    def _fill_strips(self) -> None:
        if self.evaluation is None:
            return
        titles = {
            "tp": "True positives (birds found)",
            "fn": "False negatives (birds missed)",
            "fp": "False positives (not birds, called birds)",
            "tn": "True negatives (correctly not birds)",
        }
        for key, ids in self._cells().items():
            strip = self.strips[key]
            strip.clear()
            self.strip_titles[key].setText(f"<b>{titles[key]}: {len(ids)}</b>")
            for pid in ids:
                item = QListWidgetItem()
                pm = self.thumbs.get(pid)
                if pm is not None:
                    item.setIcon(QIcon(pm))
                item.setData(PHOTO_ROLE, pid)
                item.setSizeHint(QSize(96, 96))
                strip.addItem(item)

    # keep / discard / history ------------------------------------------------------------------------------------

    def keep(self) -> None:
        v = self.result_version
        if v is None or self.window_.models is None:
            return
        threshold = self.threshold

        def work(library: Library, models: Any, version: Any) -> Any:
            if abs(threshold - version.threshold) > 1e-9:
                set_threshold(library, version, threshold)
            version = versions.get_version(library, version.id)
            yield from versions.activate_steps(library, models, version)
            return version

        self._activate(work, v, f"{v.name} is now the active model")

    def make_selected_active(self) -> None:
        items = self.history.selectedItems()
        if not items or self.window_.models is None:
            return
        v = self._versions[items[0].data(Qt.ItemDataRole.UserRole)]

        def work(library: Library, models: Any, version: Any) -> Any:
            yield from versions.activate_steps(library, models, version)
            return version

        self._activate(work, v, f"{v.name} is now the active model")

    def _activate(self, work: Any, version: Any, done_text: str) -> None:
        self.keep_btn.setEnabled(False)
        self.discard_btn.setEnabled(False)
        self.make_active_btn.setEnabled(False)
        self.phase.setText(f"Re-scoring your library with {version.name}\u2026")
        task = Task(work, self.library, self.window_.models, version, name="activate")
        task.signals.progress.connect(
            lambda p: self.phase.setText(f"Re-scoring your library: {p.done:,} of {p.total:,} photos")
        )
        task.signals.finished.connect(
            lambda _v: (
                self.phase.setText(done_text + " (library re-scored)."),
                self.window_.refresh_all(),  # this panel too, by catalogue_changed
            )
        )
        task.signals.failed.connect(lambda m, tb: self.phase.setText(f"Could not switch models: {m}"))
        self.runner.start(task, long=True)

    def discard(self) -> None:
        v = self.result_version
        if v is None:
            return
        self.keep_btn.setEnabled(False)
        self.discard_btn.setEnabled(False)

        def done(_: Any) -> None:
            self.phase.setText(f"{v.name} discarded; the active model is unchanged.")
            self.result_version = None
            self.refresh()

        self.runner.run(
            versions.delete_version,
            self.library,
            v,
            on_done=done,
        )
