"""Binary classification metrics in the article's terms: true/false positives/negatives, precision, recall.

Used by the training scripts to report the shipped models and by the training panel to compare the current
and the retrained bird model on the same held-out photos, so both speak the same numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Confusion:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def accuracy(self) -> float:
        n = self.tp + self.fp + self.fn + self.tn
        return (self.tp + self.tn) / n if n else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        d: dict[str, float | int] = dict(asdict(self))
        d.update(precision=self.precision, recall=self.recall, accuracy=self.accuracy, f1=self.f1)
        return d


def confusion(is_bird: np.ndarray, score: np.ndarray, threshold: float) -> Confusion:
    """Counts with "bird" predicted where ``score >= threshold``."""
    y = np.asarray(is_bird, dtype=bool)
    pred = np.asarray(score) >= threshold
    return Confusion(
        tp=int(np.sum(pred & y)),
        fp=int(np.sum(pred & ~y)),
        fn=int(np.sum(~pred & y)),
        tn=int(np.sum(~pred & ~y)),
    )


@dataclass(frozen=True)
class PRCurve:
    """Precision and recall at every distinct threshold, thresholds descending (recall ascending)."""

    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    fp: np.ndarray
    tp: np.ndarray

    def average_precision(self) -> float:
        r = np.concatenate([[0.0], self.recall])
        return float(np.sum(np.diff(r) * self.precision))


def pr_curve(is_bird: np.ndarray, score: np.ndarray) -> PRCurve:
    y = np.asarray(is_bird, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    # keep the last index of each run of equal scores: predicting >= that score includes the whole run
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1] if len(s) else np.array([], dtype=int)
    tp, fp, thr = tp[last], fp[last], s[last]
    n_pos = max(int(y.sum()), 1)
    precision = tp / np.maximum(tp + fp, 1)
    return PRCurve(thresholds=thr, precision=precision, recall=tp / n_pos, fp=fp, tp=tp)


def threshold_for_fp_rate(is_bird: np.ndarray, score: np.ndarray, max_fp_rate: float) -> float:
    """The lowest threshold whose false-positive rate on these examples stays within ``max_fp_rate``."""
    curve = pr_curve(is_bird, score)
    n_neg = max(int(np.sum(~np.asarray(is_bird, dtype=bool))), 1)
    ok = curve.fp / n_neg <= max_fp_rate
    if not ok.any():
        return float(np.nextafter(curve.thresholds[0], np.inf))
    return float(curve.thresholds[np.flatnonzero(ok)[-1]])


def threshold_for_recall(is_bird: np.ndarray, score: np.ndarray, min_recall: float) -> float:
    """The highest threshold that still finds ``min_recall`` of the birds."""
    curve = pr_curve(is_bird, score)
    ok = np.flatnonzero(curve.recall >= min_recall)
    return float(curve.thresholds[ok[0]]) if len(ok) else float(curve.thresholds[-1])


def recall_at_fp(is_bird: np.ndarray, score: np.ndarray, max_fp: int) -> float:
    """Recall when at most ``max_fp`` negatives are let through (the article's 162-false-positive point)."""
    curve = pr_curve(is_bird, score)
    ok = np.flatnonzero(curve.fp <= max_fp)
    return float(curve.recall[ok[-1]]) if len(ok) else 0.0


def fp_at_recall(is_bird: np.ndarray, score: np.ndarray, min_recall: float) -> int:
    """False positives needed to find ``min_recall`` of the birds (the article's 90.83% point)."""
    curve = pr_curve(is_bird, score)
    ok = np.flatnonzero(curve.recall >= min_recall)
    return int(curve.fp[ok[0]]) if len(ok) else int(curve.fp[-1])


def average_precision(score: np.ndarray, positive: np.ndarray) -> float:
    """Average precision (the area under the precision-recall curve as ranked retrieval sees it): the mean, over
    the positives, of the precision among the photos ranked at or above each one."""
    positive = np.asarray(positive, bool)
    if not positive.any():
        return 0.0
    ranked = positive[np.argsort(-np.asarray(score), kind="stable")]
    hits = np.cumsum(ranked)
    return float((hits / np.arange(1, len(ranked) + 1))[ranked].mean())


def f1_at(score: np.ndarray, positive: np.ndarray, threshold: float, beta: float = 1.0) -> tuple[float, float, float]:
    """(F-beta, precision, recall) of calling ``score >= threshold`` positive; precision is 0 when nothing is."""
    positive = np.asarray(positive, bool)
    called = np.asarray(score) >= threshold
    tp = int((called & positive).sum())
    precision = tp / int(called.sum()) if called.any() else 0.0
    recall = tp / max(int(positive.sum()), 1)
    b2 = beta * beta
    f = (1 + b2) * precision * recall / (b2 * precision + recall) if precision + recall else 0.0
    return f, precision, recall


def best_f1_threshold(score: np.ndarray, positive: np.ndarray, beta: float = 1.0) -> tuple[float, float]:
    """(the threshold with the best F-beta, that F-beta): the lowest score of the best-ranked prefix. A beta
    below 1 weighs precision more than recall."""
    positive = np.asarray(positive, bool)
    order = np.argsort(-np.asarray(score), kind="stable")
    hits = np.cumsum(positive[order])
    k = np.arange(1, len(order) + 1)
    b2 = beta * beta
    f = (1 + b2) * hits / (k + b2 * max(int(positive.sum()), 1))
    i = int(np.argmax(f))
    return float(np.asarray(score)[order][i]), float(f[i])
