"""The training panel: retrain the bird model on your own labels and see, honestly, what changed.

Laid out the way Geitgey's article reports a model: true/false positives/negatives in a table, precision and
recall as large numbers, for the current and the new model side by side on the same held-out photos; with the
precision-recall curve, a threshold slider, the photos behind each number (click one to open it and correct
its label), how many photos of the library the new model would judge differently, Keep / Discard, and the
history of versions. What the user reads is in plain words (rounds of checking, not folds); what training is
doing and what Keep did is said at the top, which never scrolls away.
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
    QStyle,
    QStyleOptionSlider,
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
    TrainProgress,
    TrainResult,
    evaluation_of,
    readiness,
    set_threshold,
)
from photobird.library import catalogue, verdicts, versions
from photobird.library.store import Library

if TYPE_CHECKING:
    from photobird.gui.main_window import MainWindow

CURVE_BEFORE = QColor(130, 130, 140)
CURVE_AFTER = QColor(42, 130, 218)
PHOTO_ROLE = Qt.ItemDataRole.UserRole + 20
#: The progress bar's scale: the whole run, from nothing to done, in thousandths.
PROGRESS_SCALE = 1000
#: The threshold slider's scale: one step is 0.001.
SLIDER_SCALE = 1000
#: Dragged this close (in pixels) to the model's own threshold, the slider lands on it exactly.
SNAP_PIXELS = 4


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


def tick_labels(values: list[float]) -> list[str]:
    """Labels for these tick values with as few decimals as keep them apart (at least two): losses that differ
    only in the third decimal must not read "0.03" twice."""
    for decimals in range(2, 8):
        labels = [f"{v:.{decimals}f}" for v in values]
        if len(set(labels)) == len(labels):
            break
    return labels


class LossCurve(QWidget):
    """The training loss (how far the model is from the labels), pass by pass, drawn as it arrives: one faint
    line per fit that checks the new model or chooses its threshold, the new model's own in bold."""

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumHeight(120)
        self.series: list[tuple[str, bool, list[float]]] = []

    def clear(self) -> None:
        self.series = []
        self.update()

    def add(self, fit: str, loss: float, final: bool) -> None:
        if not self.series or self.series[-1][0] != fit:
            self.series.append((fit, final, []))
        self.series[-1][2].append(loss)
        self.update()

    def _ticks(self) -> tuple[list[int], list[float]]:
        """The passes marked along the bottom and the loss values marked up the side (none before training)."""
        values = [v for _, _, s in self.series for v in s]
        if not values:
            return [], []
        longest = max(len(s) for _, _, s in self.series)
        lo, hi = min(values), max(values)
        return sorted({1, longest}), ([lo, (lo + hi) / 2, hi] if hi > lo else [lo])

    def tick_labels(self) -> dict[str, list[str]]:
        """What is written along each axis: "x" the training passes, "y" the loss, lowest first."""
        passes, losses = self._ticks()
        return {"x": [str(n) for n in passes], "y": tick_labels(losses) if losses else []}

    def paintEvent(self, event: Any) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(70, 8, -12, -34)
        p.setPen(self.palette().mid().color())
        p.drawRect(r)
        p.setPen(self.palette().text().color())
        p.drawText(QRectF(0, r.bottom() + 16, self.width(), 16), Qt.AlignmentFlag.AlignCenter, "training passes")
        p.save()
        p.translate(10, r.center().y())
        p.rotate(-90)
        p.drawText(QRectF(-50, -8, 100, 16), Qt.AlignmentFlag.AlignCenter, "loss")
        p.restore()
        passes, losses = self._ticks()
        if not losses:
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "the loss curve appears here while training")
            return
        lo, hi = losses[0], losses[-1]
        span = hi - lo or 1.0
        longest = passes[-1]

        def y_of(v: float) -> float:
            return r.bottom() - r.height() * (v - lo) / span if hi > lo else r.center().y()

        def x_of(i: int) -> float:
            return r.left() + r.width() * (i / max(1, longest - 1))

        labels = self.tick_labels()
        for v, text in zip(losses, labels["y"], strict=True):
            p.drawText(QRectF(0, y_of(v) - 8, r.left() - 4, 16), Qt.AlignmentFlag.AlignRight, text)
        for n, text in zip(passes, labels["x"], strict=True):
            p.drawText(QRectF(x_of(n - 1) - 20, r.bottom() + 2, 40, 14), Qt.AlignmentFlag.AlignCenter, text)
        for _fit, final, s in self.series:
            path = QPainterPath()
            for i, v in enumerate(s):
                path.lineTo(x_of(i), y_of(v)) if i else path.moveTo(x_of(i), y_of(v))
            color = QColor(CURVE_AFTER) if final else QColor(CURVE_BEFORE)
            if not final:
                color.setAlpha(110)
            p.setPen(QPen(color, 2.2 if final else 1.0))
            p.drawPath(path)


class PRCurve(QWidget):
    """Precision against recall for both models, with a dot at each one's threshold."""

    #: Where both axes are marked (precision and recall alike run from 0 to 1).
    TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumSize(QSize(240, 220))
        self.curves: dict[str, list[tuple[float, float, float]]] = {}
        self.points: dict[str, tuple[float, float]] = {}

    def set_data(
        self, curves: dict[str, list[tuple[float, float, float]]], points: dict[str, tuple[float, float]]
    ) -> None:
        self.curves, self.points = curves, points
        self.update()

    def tick_labels(self) -> dict[str, list[str]]:
        """What is written along each axis: "x" recall, "y" precision, lowest first."""
        labels = [f"{t:.0%}" for t in self.TICKS]
        return {"x": labels, "y": labels}

    def paintEvent(self, event: Any) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(58, 10, -18, -36)
        p.setPen(self.palette().mid().color())
        p.drawRect(r)
        p.setPen(self.palette().text().color())
        p.drawText(QRectF(r.left(), r.bottom() + 18, r.width(), 16), Qt.AlignmentFlag.AlignCenter, "recall")
        p.save()
        p.translate(10, r.center().y())
        p.rotate(-90)
        p.drawText(QRectF(-50, -8, 100, 16), Qt.AlignmentFlag.AlignCenter, "precision")
        p.restore()

        def pt(recall: float, precision: float) -> QPointF:
            return QPointF(r.left() + r.width() * recall, r.bottom() - r.height() * precision)

        labels = self.tick_labels()
        for t, x_text, y_text in zip(self.TICKS, labels["x"], labels["y"], strict=True):
            x, y = pt(t, t).x(), pt(t, t).y()
            p.drawLine(QPointF(x, r.bottom()), QPointF(x, r.bottom() + 3))
            p.drawLine(QPointF(r.left() - 3, y), QPointF(r.left(), y))
            p.drawText(QRectF(x - 20, r.bottom() + 3, 40, 14), Qt.AlignmentFlag.AlignCenter, x_text)
            p.drawText(QRectF(18, y - 8, r.left() - 22, 16), Qt.AlignmentFlag.AlignRight, y_text)

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
        self.pending = False  # the version shown is the one just trained, waiting for Keep or Discard
        self.comparison: tuple[int, verdicts.VerdictComparison] | None = None  # (version id, its comparison)
        self.before_name = ""
        self.thumbs: dict[int, QPixmap] = {}
        self.config = TrainConfig()  # the defaults; tests may ask for a quicker run

        # the header, which never scrolls away: readiness, retrain, what is going on, progress
        self.readiness = QLabel("Label photos with B (bird) and N (not bird) in the Photos tab, then retrain.")
        self.readiness.setWordWrap(True)
        self.retrain_btn = QPushButton("Retrain")
        self.retrain_btn.setEnabled(False)
        self.retrain_btn.clicked.connect(self.retrain)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_SCALE)
        self.progress.hide()
        self.phase = QLabel()
        self.phase.setWordWrap(True)
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
        self.slider.setRange(1, SLIDER_SCALE - 1)
        self.slider.setEnabled(False)
        self.slider.setToolTip(
            "Photos the new model scores at or above this threshold are called birds. Higher: fewer photos wrongly "
            "called birds; lower: fewer birds missed. Dragged near the model's own threshold, it lands on it."
        )
        self.slider.valueChanged.connect(self._threshold_moved)
        self.slider.sliderMoved.connect(self._snap)
        self.reset_btn = QPushButton()
        self.reset_btn.setToolTip("Put the threshold back where training chose it.")
        self.reset_btn.setEnabled(False)
        self.reset_btn.clicked.connect(self.reset_threshold)
        self.changes = QLabel()
        self.changes.setWordWrap(True)
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
        slider_row = QHBoxLayout()
        slider_row.addWidget(self.slider, 1)
        slider_row.addWidget(self.reset_btn)
        curve_box = QVBoxLayout()
        curve_box.addWidget(self.pr, 1)
        curve_box.addWidget(QLabel("Threshold of the new model (drag to trade precision for recall):"))
        curve_box.addLayout(slider_row)
        compare = QHBoxLayout()
        compare.addWidget(self.before_col, 1)
        compare.addWidget(self.after_col, 1)
        compare.addLayout(curve_box, 1)
        said = QVBoxLayout()
        said.addWidget(self.changes)
        said.addWidget(self.verdict)
        keep_row = QHBoxLayout()
        keep_row.addLayout(said, 1)
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
        self.history.setHorizontalHeaderLabels(
            ["version", "created", "photos checked", "precision", "recall", "active"]
        )
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
        lay.addWidget(self.loss)
        lay.addLayout(compare)
        lay.addLayout(keep_row)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        lay.addWidget(line)
        lay.addLayout(strips_box)
        lay.addWidget(hist_box)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.addLayout(top)
        outer.addWidget(self.phase)
        outer.addWidget(self.progress)
        outer.addWidget(self.scroll, 1)

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
        self.progress.setValue(0)
        self.progress.show()
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

    def _progress(self, p: TrainProgress) -> None:
        """One bar for the whole run (every round of checking and the new model's own fit), filled once."""
        if p.phase == "training":
            self.loss.add(p.fit, p.loss, p.final)
            self.phase.setText(f"{p.fit[:1].upper()}{p.fit[1:]} (pass {p.epoch} of {p.total})")
        else:
            self.phase.setText((p.message or p.phase).capitalize())
        if p.steps:
            self.progress.setValue(round(PROGRESS_SCALE * p.step / p.steps))

    def _trained(self, outcome: tuple[TrainResult, Any]) -> None:
        result, version = outcome
        self.progress.setValue(PROGRESS_SCALE)
        self.phase.setText(
            f"Trained {result.version} in {result.seconds:.1f} s, "
            f"{result.mode.describe(len(result.evaluation.hashes))}."
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
        self.pending = pending
        self.before_col.setTitle(f"Current model ({self.before_name})")
        self.after_col.setTitle(f"New model ({version.name})")
        self.slider.blockSignals(True)
        self.slider.setValue(round(float(version.threshold) * SLIDER_SCALE))
        self.slider.blockSignals(False)
        self.slider.setEnabled(True)
        self.reset_btn.setText(f"Back to {float(version.threshold):.3f}")
        self.discard_btn.setEnabled(pending)
        self.keep_btn.setEnabled(pending and self._compared() is not None)
        if pending and self._compared() is None:
            self.changes.setText("Counting the photos in your library that the new model would judge differently\u2026")
            self.runner.run(
                verdicts.compare,
                self.library,
                self.window_.models,
                version,
                on_done=lambda c, vid=version.id: self._comparison_ready(vid, c),
                on_error=lambda m, _tb, vid=version.id: self._comparison_failed(vid, m),
            )
        self._update_numbers()
        self._load_thumbs()

    def _compared(self) -> verdicts.VerdictComparison | None:
        """The comparison with the active model of the version shown, once counted."""
        if self.comparison is None or self.comparison[0] != getattr(self.result_version, "id", None):
            return None
        return self.comparison[1]

    def _comparison_ready(self, version_id: int, comparison: verdicts.VerdictComparison) -> None:
        self.comparison = (version_id, comparison)
        if self.pending and version_id == getattr(self.result_version, "id", None):
            self.keep_btn.setEnabled(True)
            self._update_numbers()

    def _comparison_failed(self, version_id: int, message: str) -> None:
        if self.pending and version_id == getattr(self.result_version, "id", None):
            self.changes.setText(f"Could not count the photos the new model would judge differently: {message}")
            self.keep_btn.setEnabled(True)

    @property
    def threshold(self) -> float:
        return self.slider.value() / SLIDER_SCALE

    def _threshold_moved(self, _value: int) -> None:
        self._update_numbers()

    def _own_threshold(self) -> int:
        """The slider position of the shown version's own threshold (where training chose it, or Keep kept it)."""
        return round(float(self.result_version.threshold) * SLIDER_SCALE)

    def _snap(self, position: int) -> None:
        """Dragged within a few pixels of the version's own threshold, the slider lands on it exactly: a mouse
        moves by several thousandths per pixel, so it could seldom land back on 0.500 otherwise."""
        if self.result_version is None:
            return
        own = self._own_threshold()
        opt = QStyleOptionSlider()
        self.slider.initStyleOption(opt)
        groove = self.slider.style().subControlRect(
            QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderGroove, self.slider
        )
        per_pixel = (self.slider.maximum() - self.slider.minimum()) / max(groove.width(), 1)
        if position != own and abs(position - own) <= SNAP_PIXELS * per_pixel:
            self.slider.setSliderPosition(own)

    def reset_threshold(self) -> None:
        if self.result_version is not None:
            self.slider.setValue(self._own_threshold())

    def _update_numbers(self) -> None:
        ev = self.evaluation
        if ev is None:
            return
        self.reset_btn.setEnabled(self.result_version is not None and self.slider.value() != self._own_threshold())
        before = ev.confusion("before")
        after = ev.confusion("after", self.threshold)
        self.before_col.show_confusion(before, ev.before_threshold)
        self.after_col.show_confusion(after, self.threshold)
        self.pr.set_data(
            {"before": ev.pr_points("before"), "after": ev.pr_points("after")},
            {"before": (before.precision, before.recall), "after": (after.precision, after.recall)},
        )
        compared = self._compared() if self.pending else None
        changes = compared.at(self.threshold) if compared is not None else None
        if changes is not None:
            self.changes.setText(
                f"{changes.changed:,} of your {changes.photos:,} photos would change verdict "
                f"({changes.become_bird:,} become bird, {changes.stop_being_bird:,} stop being bird); "
                "the photos you labelled keep your label."
            )
        elif not self.pending:
            self.changes.clear()
        self.verdict.setText(self._recommendation(before, after, changes))
        self._fill_strips()

    def _recommendation(
        self, before: metrics.Confusion, after: metrics.Confusion, changes: verdicts.VerdictChanges | None
    ) -> str:
        """What we advise. Keep is advised only once the photos that would change verdict are counted, and not
        unreservedly when they are many: scoring better on the labelled photos does not make that a small step."""
        checked = "In the check on your labelled photos the new model"
        worse = []
        if after.recall < before.recall:
            worse.append(f"recall drops from {before.recall:.1%} to {after.recall:.1%}")
        if after.precision < before.precision:
            worse.append(f"precision drops from {before.precision:.1%} to {after.precision:.1%}")
        if worse:
            return f"{checked} is worse: {' and '.join(worse)}. We recommend Discard."
        same = (after.precision, after.recall) == (before.precision, before.recall)
        scored = "scores the same as the current one" if same else "is better"
        if changes is not None and changes.many:
            return (
                f"{checked} {scored}, but it would change the verdict of {changes.changed:,} of your "
                f"{changes.photos:,} photos, which is more than a small correction: keep it only if you expected "
                "that many to change."
            )
        if changes is None or same:
            return f"{checked} {scored}."
        return f"{checked} is better. Keep it to use it for search."

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
        """Switch models in the background; what happens is said in the header, in view wherever the user
        scrolled to reach Keep or Make active."""
        self.keep_btn.setEnabled(False)
        self.discard_btn.setEnabled(False)
        self.make_active_btn.setEnabled(False)
        self.pending = False
        self.phase.setText(f"Re-scoring your library with {version.name}\u2026")
        task = Task(work, self.library, self.window_.models, version, name="activate")
        task.signals.progress.connect(
            lambda p: self.phase.setText(f"Re-scoring your library: {p.done:,} of {p.total:,} photos")
        )
        task.signals.finished.connect(
            lambda _v: (
                self.phase.setText(done_text + " (library re-scored)."),
                self.changes.clear(),
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
        self.pending = False

        def done(_: Any) -> None:
            self.phase.setText(f"{v.name} discarded; the active model is unchanged.")
            self.changes.clear()
            self.result_version = None
            self.refresh()

        self.runner.run(
            versions.delete_version,
            self.library,
            v,
            on_done=done,
        )
