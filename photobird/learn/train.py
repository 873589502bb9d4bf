"""Retrain the bird head on the user's labelled photos, and measure it honestly.

``train_steps`` is the core operation behind the training panel and ``photobird train``: a generator that
yields ``TrainProgress`` (phase, epoch, loss, time left) and returns a ``TrainResult``. It never changes the
active model: the new head is saved as a new, inactive model version that the user keeps (activates) or
discards. A cancelled, failed or killed run leaves the active model and every label untouched.

Honest numbers: the current and the new model are evaluated on exactly the same held-out photos, which the new
model never saw. The hold-out is fixed per picture (a function of its content hash), stratified by keeping
each class's share, so it stays the same as the user adds labels; when there are too few labels for a useful
hold-out, k-fold cross-validation is used instead, every labelled photo being scored by a model that did not
see it. The decision threshold is chosen inside the training data (nested cross-validation, best F1), never
on the photos it is evaluated on.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import time
from collections.abc import Generator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import update

from photobird.learn import data as data_mod
from photobird.learn import head as head_mod
from photobird.learn import metrics
from photobird.library import keepsake, versions
from photobird.library.schema import ModelVersion
from photobird.library.store import Library
from photobird.models import files
from photobird.models.nets import BirdHead
from photobird.models.runner import HEAD_FILE, Models, load_shipped

#: Fewer than this many labels of either class and training is refused (the panel says what is needed).
#: Eight is enough because the base data (500 birds, 4,500 others) keeps the model general.
MIN_PER_CLASS = 8
#: Labels per class from which a fixed hold-out is used; below it, k-fold cross-validation.
HOLDOUT_FROM = 40
#: What the panel suggests aiming for.
SUGGESTED_PER_CLASS = 50


class NotEnoughLabels(Exception):
    pass


class EvaluationMode(enum.StrEnum):
    """How the two models were compared (the values are what model files and ``--json`` record)."""

    HOLD_OUT = "hold-out"  # on a fixed share of the labelled photos, set aside from training
    ROUNDS = "k-fold"  # on every labelled photo, in rounds, each scored by a model trained without it

    def describe(self, photos: int) -> str:
        """In plain words, for the training panel."""
        if self is EvaluationMode.HOLD_OUT:
            return f"checked on {photos} of your labelled photos that it did not learn from"
        return f"checked on all {photos} of your labelled photos, in rounds, each by a model that did not see it"


#: What the fit of the new model itself is called while it runs (the other fits check it or set its threshold).
FINAL_FIT = "training the new model"


def checking_round(i: int, k: int) -> str:
    """What the ``i``-th of ``k`` fits that check the new model on the labelled photos is called."""
    return f"checking the new model on your labelled photos: round {i} of {k}"


@dataclass(frozen=True)
class Readiness:
    birds: int
    not_birds: int
    ready: bool
    message: str

    @property
    def more_birds(self) -> int:
        return max(0, SUGGESTED_PER_CLASS - self.birds)

    @property
    def more_not_birds(self) -> int:
        return max(0, SUGGESTED_PER_CLASS - self.not_birds)


def readiness(birds: int, not_birds: int) -> Readiness:
    need_b, need_n = max(0, MIN_PER_CLASS - birds), max(0, MIN_PER_CLASS - not_birds)
    if need_b or need_n:
        parts = []
        if need_b:
            parts.append(f"{need_b} more photo{'s' if need_b != 1 else ''} marked bird (B)")
        if need_n:
            parts.append(f"{need_n} more marked not bird (N)")
        msg = (
            f"You have labelled {birds} bird and {not_birds} not-bird photos. Retraining needs at least "
            f"{MIN_PER_CLASS} of each: label {' and '.join(parts)}."
        )
        return Readiness(birds, not_birds, False, msg)
    if min(birds, not_birds) < SUGGESTED_PER_CLASS:
        msg = (
            f"{birds} bird and {not_birds} not-bird photos labelled: enough to retrain. About "
            f"{SUGGESTED_PER_CLASS} of each makes the before/after comparison more reliable."
        )
    else:
        msg = f"{birds} bird and {not_birds} not-bird photos labelled: ready to retrain."
    return Readiness(birds, not_birds, True, msg)


@dataclass(frozen=True)
class TrainConfig:
    recipe: head_mod.HeadRecipe = field(default_factory=head_mod.HeadRecipe)
    #: How much the user's photos (with their views) count in all, relative to all of the base data. Within
    #: the user's photos, birds and non-birds count equally.
    user_weight: float = 1.0
    #: How much each augmented view counts, relative to the photo itself.
    view_weight: float = 0.5
    holdout_fraction: float = 0.3
    folds: int = 5
    inner_folds: int = 3
    #: Use only this many base images (stratified), e.g. for quick tests; None uses them all.
    base_limit: int | None = None
    use_views: bool = True
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["recipe"] = self.recipe.as_dict()
        return d


@dataclass(frozen=True)
class TrainProgress:
    phase: str  # "preparing", "views", "training", "evaluating", "saving"
    done: int
    total: int
    message: str = ""
    epoch: int | None = None
    loss: float | None = None
    eta_seconds: float | None = None
    #: Which fit, in plain words: ``FINAL_FIT``, a ``checking_round``, either choosing its threshold.
    fit: str = ""
    #: Whether this is the fit of the new model itself (not one that checks it or chooses its threshold).
    final: bool = False
    #: Where the whole run stands, so one bar can go from empty to full once: ``step`` of ``steps`` units of
    #: work (a labelled photo's views embedded, a training pass of any fit) are done; ``steps`` is 0 until
    #: the plan is known.
    step: int = 0
    steps: int = 0


@dataclass
class Evaluation:
    """Per held-out photo: truth and both models' scores; confusion at any threshold is recomputable."""

    photo_ids: list[int]
    hashes: list[str]
    paths: list[str]
    is_bird: np.ndarray
    before: np.ndarray
    after: np.ndarray
    before_threshold: float
    after_threshold: float

    def confusion(self, which: str, threshold: float | None = None) -> metrics.Confusion:
        scores = self.before if which == "before" else self.after
        t = (
            threshold
            if threshold is not None
            else (self.before_threshold if which == "before" else self.after_threshold)
        )
        return metrics.confusion(self.is_bird, scores, t)

    def pr_points(self, which: str) -> list[tuple[float, float, float]]:
        """(threshold, precision, recall) along the curve."""
        c = metrics.pr_curve(self.is_bird, self.before if which == "before" else self.after)
        return [(float(t), float(p), float(r)) for t, p, r in zip(c.thresholds, c.precision, c.recall, strict=True)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "photos": [
                {"id": i, "hash": h, "path": p, "is_bird": bool(y), "before": float(b), "after": float(a)}
                for i, h, p, y, b, a in zip(
                    self.photo_ids, self.hashes, self.paths, self.is_bird, self.before, self.after, strict=True
                )
            ],
            "before_threshold": self.before_threshold,
            "after_threshold": self.after_threshold,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Evaluation:
        ph = d["photos"]
        return cls(
            [p["id"] for p in ph],
            [p["hash"] for p in ph],
            [p["path"] for p in ph],
            np.array([p["is_bird"] for p in ph], dtype=bool),
            np.array([p["before"] for p in ph]),
            np.array([p["after"] for p in ph]),
            d["before_threshold"],
            d["after_threshold"],
        )


@dataclass
class TrainResult:
    version: str
    version_id: int
    mode: EvaluationMode
    evaluation: Evaluation
    before_version: str
    seconds: float
    losses: list[float]
    counts: dict[str, int]

    @property
    def before(self) -> metrics.Confusion:
        return self.evaluation.confusion("before")

    @property
    def after(self) -> metrics.Confusion:
        return self.evaluation.confusion("after")

    @property
    def threshold(self) -> float:
        return self.evaluation.after_threshold

    @property
    def worse(self) -> list[str]:
        b, a = self.before, self.after
        out = []
        if a.recall < b.recall:
            out.append(f"recall dropped from {b.recall:.1%} to {a.recall:.1%}")
        if a.precision < b.precision:
            out.append(f"precision dropped from {b.precision:.1%} to {a.precision:.1%}")
        return out

    @property
    def verdict(self) -> str:
        if self.worse:
            return (
                "The new model is worse on the labelled photos it was checked on: "
                + " and ".join(self.worse)
                + ". We recommend Discard."
            )
        b, a = self.before, self.after
        if (a.precision, a.recall) == (b.precision, b.recall):
            return "The new model scores the same as the current one on the labelled photos it was checked on."
        return "The new model is better on the labelled photos it was checked on. Keep it to use it for search."

    def as_json(self) -> dict[str, Any]:
        def side(c: metrics.Confusion) -> dict[str, Any]:
            return {"precision": c.precision, "recall": c.recall, "tp": c.tp, "fp": c.fp, "fn": c.fn, "tn": c.tn}

        return {
            "version": self.version,
            "held_out": len(self.evaluation.hashes),
            "mode": self.mode,
            "before": side(self.before),
            "after": side(self.after),
            "threshold": self.threshold,
            "before_version": self.before_version,
            "seconds": round(self.seconds, 2),
            "verdict": self.verdict,
        }


# --------------------------------------------------------------------------------------------------------------


def in_holdout(content_hash: str, fraction: float) -> bool:
    """Fixed forever for a picture: a function of its content alone (re-hashed, so it is not tied to how the
    content hash itself was made)."""
    h = hashlib.sha256(b"photobird-holdout:" + content_hash.encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64 < fraction


def stratified_folds(y: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    assign = np.empty(len(y), dtype=int)
    for cls in (False, True):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        assign[idx] = np.arange(len(idx)) % k
    return [np.flatnonzero(assign == i) for i in range(k)]


def best_f1_threshold(y: np.ndarray, scores: np.ndarray, fallback: float) -> float:
    if y.sum() == 0 or (~y).sum() == 0:
        return fallback
    curve = metrics.pr_curve(y, scores)
    f1 = 2 * curve.precision * curve.recall / np.maximum(curve.precision + curve.recall, 1e-12)
    i = int(np.argmax(f1))
    # midway to the next lower score, so a photo scored exactly at the boundary is not a coin toss
    t = float(curve.thresholds[i])
    lower = curve.thresholds[i + 1] if i + 1 < len(curve.thresholds) else t
    return float((t + lower) / 2) if lower < t else t


def threshold_rounds(y: np.ndarray, inner_folds: int) -> int:
    """The inner rounds that choose a threshold for photos labelled ``y`` (none when a class is too small)."""
    k = min(inner_folds, int(y.sum()), int((~y).sum()))
    return k if k >= 2 else 0


class _Trainer:
    def __init__(
        self,
        base: data_mod.BaseData,
        lab: data_mod.Labelled,
        views: dict[str, np.ndarray],
        config: TrainConfig,
        init: BirdHead,
    ) -> None:
        self.base, self.lab, self.views, self.config = base, lab, views, config
        self.init = init
        self.losses: list[float] = []
        self.step, self.steps = 0, 0  # the whole run's progress (see ``TrainProgress.step``)

    def design(self, user_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Base data (each image weighing 1, as when the shipped head was fitted) and the user's photos and
        views, together weighing ``user_weight`` times the base data, birds and non-birds equally."""
        c = self.config
        xs, ys, ws = [self.base.x], [self.base.is_bird], [np.ones(len(self.base.x), np.float32)]
        ux, uy, uw = [self.lab.x[user_idx]], [self.lab.is_bird[user_idx]], [np.ones(len(user_idx), np.float32)]
        if c.use_views:
            for i in user_idx:
                v = self.views.get(self.lab.hashes[i])
                if v is not None:
                    ux.append(v)
                    uy.append(np.full(len(v), self.lab.is_bird[i]))
                    uw.append(np.full(len(v), c.view_weight, np.float32))
        x, y, w = np.concatenate(ux), np.concatenate(uy).astype(bool), np.concatenate(uw)
        for cls in (True, False):
            m = y == cls
            if m.any():
                w[m] *= 0.5 / w[m].sum()
        w *= c.user_weight * len(self.base.x)
        return (
            np.concatenate([*xs, x]),
            np.concatenate([*ys, y]).astype(bool),
            np.concatenate([*ws, w]).astype(np.float32),
        )

    def fit(self, user_idx: np.ndarray, label: str, final: bool) -> Generator[TrainProgress, None, BirdHead]:
        """Fit from the shipped head on ``user_idx`` (plus base data); the photo expert left uncalibrated."""
        x, y, w = self.design(user_idx)
        head: BirdHead | None = None
        for item in head_mod.fit_steps(x, y, self.config.recipe, sample_weight=w, init=self.init):
            if isinstance(item, head_mod.EpochReport):
                if final:
                    self.losses.append(item.loss)
                self.step += 1
                yield TrainProgress(
                    "training",
                    item.epoch + 1,
                    item.epochs,
                    fit=label,
                    final=final,
                    epoch=item.epoch + 1,
                    loss=item.loss,
                    step=self.step,
                    steps=self.steps,
                )
            else:
                head = item
        assert head is not None
        head_mod.calibrate(head, BirdHead.PHOTO, 0.5)
        return head

    def fit_calibrated(
        self, user_idx: np.ndarray, label: str, final: bool = False
    ) -> Generator[TrainProgress, None, BirdHead]:
        """Fit on ``user_idx`` (plus base data), then calibrate the photo expert so that 0.5 is the threshold
        inner cross-validation on those photos chose (best F1): never chosen on the photos it is tested on."""
        y = self.lab.is_bird[user_idx]
        k = threshold_rounds(y, self.config.inner_folds)
        threshold = 0.5
        if k:
            oof = np.zeros(len(user_idx), np.float32)
            for j, inner in enumerate(stratified_folds(y, k, self.config.seed + 1)):
                rest = np.setdiff1d(np.arange(len(user_idx)), inner)
                h = yield from self.fit(user_idx[rest], f"{label}; choosing its threshold: step {j + 1} of {k}", False)
                oof[inner] = head_mod.predict(h, self.lab.x[user_idx[inner]])
            threshold = best_f1_threshold(y, oof, 0.5)
        head = yield from self.fit(user_idx, label, final)
        head_mod.calibrate(head, BirdHead.PHOTO, threshold)
        return head


def train_steps(
    library: Library, models: Models, config: TrainConfig = TrainConfig(), name: str | None = None
) -> Generator[TrainProgress, None, TrainResult]:
    t0 = time.perf_counter()
    yield TrainProgress("preparing", 0, 1, "gathering your labelled photos")
    lab = data_mod.labelled(library, models)
    birds, not_birds = lab.counts
    ready = readiness(birds, not_birds)
    if not ready.ready:
        raise NotEnoughLabels(ready.message)
    active, active_head = versions.active_head(library, models)
    models.check_head(active_head)

    y = lab.is_bird
    holdout = np.array([in_holdout(h, config.holdout_fraction) for h in lab.hashes], dtype=bool)
    use_holdout = (
        min(birds, not_birds) >= HOLDOUT_FROM
        and y[holdout].sum() >= 3
        and (~y[holdout]).sum() >= 3
        and y[~holdout].sum() >= MIN_PER_CLASS
        and (~y[~holdout]).sum() >= MIN_PER_CLASS
    )
    # the plan: rounds that check the new model (each leaving out one part of the photos), then its own fit
    if use_holdout:
        mode, eval_idx, train_idx = EvaluationMode.HOLD_OUT, np.flatnonzero(holdout), np.flatnonzero(~holdout)
        rounds: list[np.ndarray] = []
    else:
        mode, eval_idx = EvaluationMode.ROUNDS, np.arange(len(lab))
        train_idx = eval_idx
        rounds = stratified_folds(y, min(config.folds, birds, not_birds), config.seed)
    fits = [np.setdiff1d(eval_idx, part) for part in rounds] + [train_idx]
    passes = config.recipe.epochs * sum(threshold_rounds(y[f], config.inner_folds) + 1 for f in fits)

    views: dict[str, np.ndarray] = {}
    embedded = 0  # labelled photos whose views this run embeds (usually none: labelling embeds them)
    if config.use_views:
        paths = dict(zip(lab.hashes, lab.paths, strict=True))
        for done, total in data_mod.embed_views_steps(library, models, lab.hashes, paths):
            embedded = total
            yield TrainProgress(
                "views",
                done,
                total,
                "embedding mirrored and cropped views of new labels",
                step=done,
                steps=total + passes + 1,
            )
        views = data_mod.stored_views(library, models, lab.hashes)
    steps = embedded + passes + 1  # the last one compares the models and saves the new one

    base = data_mod.load_base(models)
    if config.base_limit and config.base_limit < len(base.x):
        keep = stratified_folds(base.is_bird, len(base.x) // config.base_limit, config.seed)[0]
        base = data_mod.BaseData(base.x[keep], base.is_bird[keep], f"{base.source}, subset of {len(keep)}")

    # every fit starts from the shipped head and stays close to it, whichever version is active now
    shipped = load_shipped(HEAD_FILE, expect_arch="bird-head")
    models.check_head(shipped)
    assert isinstance(shipped.module, BirdHead)
    trainer = _Trainer(base, lab, views, config, init=shipped.module)
    trainer.step, trainer.steps = embedded, steps
    before_all = models.score(lab.x, active_head)

    # Every fitted head is calibrated so that 0.5 is its own chosen threshold: each photo below is decided by
    # its model at 0.5, and the threshold slider moves all of them alike.
    threshold = 0.5
    if use_holdout:
        head = yield from trainer.fit_calibrated(train_idx, FINAL_FIT, final=True)
        after = head_mod.predict(head, lab.x[eval_idx])
    else:
        after = np.zeros(len(lab), np.float32)
        for i, part in enumerate(rounds):
            h = yield from trainer.fit_calibrated(fits[i], checking_round(i + 1, len(rounds)))
            after[part] = head_mod.predict(h, lab.x[part])
        head = yield from trainer.fit_calibrated(train_idx, FINAL_FIT, final=True)
    yield TrainProgress(
        "evaluating",
        0,
        1,
        "comparing the current and the new model on the same photos",
        step=steps - 1,
        steps=steps,
    )
    evaluation = Evaluation(
        photo_ids=[lab.photo_ids[i] for i in eval_idx],
        hashes=[lab.hashes[i] for i in eval_idx],
        paths=[lab.paths[i] for i in eval_idx],
        is_bird=y[eval_idx],
        before=before_all[eval_idx],
        after=np.asarray(after, dtype=np.float32),
        before_threshold=float(active.threshold),
        after_threshold=float(threshold),
    )

    yield TrainProgress("saving", 0, 1, "saving the new model version", step=steps - 1, steps=steps)
    name = name or versions.next_version_name(library)
    path = library.models_dir / f"{name}.pt"
    seconds = time.perf_counter() - t0
    before_c, after_c = evaluation.confusion("before"), evaluation.confusion("after")
    meta = files.ModelMeta(
        arch="bird-head",
        arch_args=head.arch_args(),
        classes=["bird"],
        version=name,
        input_size=models.input_size,
        threshold=float(threshold),
        training={
            "data": f"{len(base.x)} base images ({base.source}) + {birds} bird and {not_birds} not-bird "
            "photos labelled by the user",
            "config": config.as_dict(),
            "seconds": round(seconds, 2),
            "trained_at": dt.datetime.now().isoformat(timespec="seconds"),
        },
        metrics={
            "mode": mode,
            "held_out": len(eval_idx),
            "before": before_c.as_dict(),
            "after": after_c.as_dict(),
            "before_version": active.name,
        },
        extra={"embedding": models.spec},
    )
    files.save(path, meta, head)
    info = {
        "metrics": meta.metrics,
        "evaluation": evaluation.as_dict(),
        "config": config.as_dict(),
        "labels_seen": {
            "bird": birds,
            "not-bird": not_birds,
            "trained_on": [h for h, m in zip(lab.hashes, holdout, strict=True) if not (use_holdout and m)],
        },
        "losses": trainer.losses,
        "seconds": round(seconds, 2),
    }
    row = versions.add_version(library, path, name, info, versions.embedder_key(models.spec))
    return TrainResult(
        name, row.id, mode, evaluation, active.name, seconds, trainer.losses, {"bird": birds, "not-bird": not_birds}
    )


def train(library: Library, models: Models, config: TrainConfig = TrainConfig()) -> TrainResult:
    gen = train_steps(library, models, config)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def evaluation_of(version: ModelVersion) -> Evaluation | None:
    ev = (version.info or {}).get("evaluation")
    return Evaluation.from_dict(ev) if ev else None


@keepsake.kept
def set_threshold(library: Library, version: ModelVersion, threshold: float) -> None:
    """The user moved the slider and kept the model: search uses the new threshold."""
    with library.session() as s:
        s.execute(update(ModelVersion).where(ModelVersion.id == version.id).values(threshold=float(threshold)))
