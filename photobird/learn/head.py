"""Fit the bird head on stored embeddings.

This is the whole of "training" once the embeddings exist: a linear layer (or a one-hidden-layer MLP) over
standardized embeddings, trained with weighted binary cross-entropy. The shipped head is fitted here by
training/train_head.py on CIFAR-10 embeddings; the training panel refits it on the same base data plus the
user's labelled photos. Seconds on a CPU, because no image is decoded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from photobird.models.nets import BirdHead


@dataclass(frozen=True)
class HeadRecipe:
    hidden: int = 0  # 0: logistic regression; else the MLP's hidden width
    dropout: float = 0.0
    weight_decay: float = 1e-2
    epochs: int = 40
    batch_size: int = 256
    lr: float = 1e-3
    #: Weight of the positive class relative to the negatives; None balances the two classes.
    pos_weight: float | None = None
    seed: int = 0

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


def _standardization(x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    wn = (w / w.sum())[:, None]
    mean = (x * wn).sum(0)
    std = ((x - mean) ** 2 * wn).sum(0).sqrt().clamp_min(1e-3)
    return mean, std


def fit_steps(
    x: np.ndarray,
    y: np.ndarray,
    recipe: HeadRecipe = HeadRecipe(),
    sample_weight: np.ndarray | None = None,
) -> Iterator[EpochReport | BirdHead]:
    """Train, yielding an ``EpochReport`` after every epoch and the fitted ``BirdHead`` last.

    A generator so that a caller can show progress and stop early by closing it (the training panel runs it
    in a background worker); ``fit`` drives it to the end.
    """
    torch.manual_seed(recipe.seed)
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    yt = torch.as_tensor(np.asarray(y, dtype=np.float32))
    n, dim = xt.shape
    w = torch.ones(n) if sample_weight is None else torch.as_tensor(np.asarray(sample_weight, dtype=np.float32))
    n_pos = float((w * yt).sum())
    n_neg = float((w * (1 - yt)).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("training the bird head needs examples of both birds and non-birds")
    pos_weight = recipe.pos_weight if recipe.pos_weight is not None else n_neg / n_pos
    w = w * torch.where(yt > 0, torch.tensor(pos_weight), torch.tensor(1.0))
    w = w * (n / float(w.sum()))  # mean weight 1: the learning rate means the same whatever the balance

    head = BirdHead(dim, hidden=recipe.hidden, dropout=recipe.dropout)
    mean, std = _standardization(xt, w)
    head.mean.copy_(mean)
    head.std.copy_(std)
    opt = torch.optim.AdamW(head.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps_per_epoch = max(1, math.ceil(n / recipe.batch_size))
    total = recipe.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    g = torch.Generator().manual_seed(recipe.seed)
    t0 = time.perf_counter()
    for epoch in range(recipe.epochs):
        head.train()
        perm = torch.randperm(n, generator=g)
        total_loss = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * recipe.batch_size : (i + 1) * recipe.batch_size]
            logits = head(xt[idx])
            loss = (F.binary_cross_entropy_with_logits(logits, yt[idx], reduction="none") * w[idx]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += float(loss) * len(idx)
        yield EpochReport(epoch, recipe.epochs, total_loss / n, time.perf_counter() - t0)
    head.eval()
    yield head


def fit(
    x: np.ndarray,
    y: np.ndarray,
    recipe: HeadRecipe = HeadRecipe(),
    sample_weight: np.ndarray | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> BirdHead:
    head = None
    for item in fit_steps(x, y, recipe, sample_weight):
        if isinstance(item, EpochReport):
            if on_epoch:
                on_epoch(item)
        else:
            head = item
    assert head is not None
    return head


@torch.inference_mode()
def predict(head: BirdHead, x: np.ndarray) -> np.ndarray:
    head.eval()
    out = []
    for i in range(0, len(x), 65536):
        out.append(torch.sigmoid(head(torch.as_tensor(np.asarray(x[i : i + 65536], dtype=np.float32)))).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
