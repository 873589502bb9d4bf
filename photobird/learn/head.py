"""Fit the bird head on stored embeddings.

This is the whole of "training" once the embeddings exist. The head (``nets.BirdHead``) is two logistic
regressions over the embedding, gated by image size; fitting it is a convex problem, solved full-batch with
L-BFGS in a second or two on a CPU, because no image is decoded. Each fit starts from a given head (the
shipped one) and is pulled back towards it (L2 towards the starting point, as in "L2-SP" fine-tuning), so a
few dozen labels adjust the model instead of replacing it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from photobird.models.nets import BirdHead

#: L-BFGS iterations per reported epoch.
ITERATIONS_PER_EPOCH = 5
#: An expert's features are re-standardized only from at least this much (weighted) data.
MIN_ROWS_FOR_STATS = 8.0


@dataclass(frozen=True)
class HeadRecipe:
    #: Rounds of ``ITERATIONS_PER_EPOCH`` L-BFGS iterations (it usually converges well before the last).
    epochs: int = 12
    #: L2 on the feature weights (per standardized feature), pulling them towards the starting head's.
    linear_decay: float = 3e-3
    #: L2 pulling each expert's weights on the networks' verdicts back to the starting head's.
    prior_decay: float = 1e-2
    #: Whether the small-image expert learns feature weights too (the shipped one reads the verdicts only:
    #: on CIFAR-10 the features add nothing that generalizes to the test split, see training/README.md).
    small_features: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EpochReport:
    epoch: int
    epochs: int
    loss: float
    seconds: float

    @property
    def eta_seconds(self) -> float:
        return self.seconds / (self.epoch + 1) * (self.epochs - self.epoch - 1)


def _restandardize(head: BirdHead, x: torch.Tensor, w: torch.Tensor) -> None:
    """Per expert, standardize the features by the statistics of the rows that expert decides, keeping the
    function the head computes unchanged (the weights are rescaled to match)."""
    g = head.small_weight(x)
    f = x[:, : head.features]
    with torch.no_grad():
        for e, share in ((head.SMALL, g), (head.PHOTO, 1 - g)):
            ww = w * share
            if float(ww.sum()) < MIN_ROWS_FOR_STATS or int((ww > 0).sum()) < MIN_ROWS_FOR_STATS:
                continue
            wn = (ww / ww.sum())[:, None]
            mean = (f * wn).sum(0)
            std = ((f - mean) ** 2 * wn).sum(0).sqrt().clamp_min(1e-3)
            eff = head.linear[e] / head.std[e]
            head.bias[e] += ((mean - head.mean[e]) * eff).sum()
            head.linear[e] = eff * std
            head.mean[e] = mean
            head.std[e] = std


def fit_steps(
    x: np.ndarray,
    y: np.ndarray,
    recipe: HeadRecipe = HeadRecipe(),
    sample_weight: np.ndarray | None = None,
    init: BirdHead | None = None,
) -> Iterator[EpochReport | BirdHead]:
    """Fit, yielding an ``EpochReport`` after every epoch and the fitted ``BirdHead`` last.

    ``init`` is the head to start from and to stay close to (a fresh one when None); it is not modified.
    ``sample_weight`` weighs each row as given (the caller balances classes and sources). The calibration
    offsets are carried over from ``init`` and left to the caller to reset. A generator so that a caller can
    show progress and stop early by closing it (the training panel runs it in a background worker).
    """
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    yt = torch.as_tensor(np.asarray(y, dtype=np.float32))
    n, dim = xt.shape
    w = torch.ones(n) if sample_weight is None else torch.as_tensor(np.asarray(sample_weight, dtype=np.float32))
    if float((w * yt).sum()) == 0 or float((w * (1 - yt)).sum()) == 0:
        raise ValueError("training the bird head needs examples of both birds and non-birds")
    w = w / w.sum()

    head = BirdHead(dim)
    if init is not None:
        if init.in_dim != dim:
            raise ValueError(f"starting head reads {init.in_dim}-dimensional embeddings, the data has {dim}")
        head.load_state_dict(init.state_dict())
    _restandardize(head, xt, w * n)
    prior0, linear0 = head.prior.detach().clone(), head.linear.detach().clone()
    learn_linear = torch.tensor([1.0 if recipe.small_features else 0.0, 1.0])[:, None]
    params = [head.prior, head.linear, head.bias]
    opt = torch.optim.LBFGS(
        params, lr=1.0, max_iter=ITERATIONS_PER_EPOCH, history_size=20, line_search_fn="strong_wolfe"
    )

    def objective() -> torch.Tensor:
        logits = head(xt, calibrated=False)
        loss = (F.binary_cross_entropy_with_logits(logits, yt, reduction="none") * w).sum()
        reg = recipe.prior_decay * ((head.prior - prior0) ** 2).sum()
        reg = reg + recipe.linear_decay * (((head.linear - linear0) * learn_linear) ** 2).sum()
        return loss + reg

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=False)
        loss = objective()
        loss.backward()
        assert head.linear.grad is not None
        head.linear.grad.mul_(learn_linear)
        return loss

    t0 = time.perf_counter()
    head.train()
    for epoch in range(recipe.epochs):
        opt.step(closure)
        with torch.no_grad():
            loss = float(objective())
        yield EpochReport(epoch, recipe.epochs, loss, time.perf_counter() - t0)
    head.eval()
    for p in params:
        p.requires_grad_(False)
    yield head


def fit(
    x: np.ndarray,
    y: np.ndarray,
    recipe: HeadRecipe = HeadRecipe(),
    sample_weight: np.ndarray | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    init: BirdHead | None = None,
) -> BirdHead:
    head = None
    for item in fit_steps(x, y, recipe, sample_weight, init):
        if isinstance(item, EpochReport):
            if on_epoch:
                on_epoch(item)
        else:
            head = item
    assert head is not None
    return head


def calibrate(head: BirdHead, expert: int, threshold: float) -> None:
    """Shift one expert so that ``threshold`` on its uncalibrated probability becomes 0.5."""
    t = min(max(float(threshold), 1e-6), 1 - 1e-6)
    with torch.no_grad():
        head.offset[expert] = -float(np.log(t / (1 - t)))


@torch.inference_mode()
def predict(head: BirdHead, x: np.ndarray, calibrated: bool = True) -> np.ndarray:
    head.eval()
    out = []
    for i in range(0, len(x), 65536):
        z = torch.as_tensor(np.asarray(x[i : i + 65536], dtype=np.float32))
        out.append(torch.sigmoid(head(z, calibrated=calibrated)).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
