"""Fit the everyday word heads on stored embeddings and choose each word's threshold: ``label-heads.pt``.

1. Embed ``coco-train`` (and its mirror images) and ``everyday-dev`` through the app's own ``Models.embed``:
   the same decode, view and networks the indexer uses, so the heads see exactly what a library stores.
2. Fit every word's head (``nets.LabelHeads``) on coco-train, full-batch L-BFGS: a logistic regression on the
   standardized pooled features and best-position scores (L2, ``--weight-decay``) plus three evidence terms it
   may weigh freely (the word's ImageNet classes in the whole photo and at their best position, the tail's own
   best-position score). Things are taught by COCO's categories, scene and people words by the captions (a photo
   has "beach" when two of its five captions say so; photos without captions are left out of those words).
   - "person": every coco-train photo has one, so no photo says what a photo without a person looks like; its
     head is the tail's best-position person score, which the boxes taught (positions outside every person).
   - things coco-train lacks (sheep, cow, bear, zebra, broccoli, toaster, parking meter, hair drier): their
     ImageNet classes' evidence, whole photo and best position, in equal parts. Giraffe and scissors have
     neither photos nor an ImageNet class: no photo is given them (a search for them finds nothing).
   - "toothbrush" has neither photos nor an ImageNet class: its head is the bathroom head (where toothbrushes
     are), calibrated to its own threshold. A stand-in, named as one in training/README.md.
   - "bird" has no head: the bird model answers it (``train_head.py``).
3. Choose each word's threshold on ``everyday-dev``: the best-F1 threshold of that word, pulled toward the one
   threshold best for all words together in proportion to how few dev photos have the word (``n / (n + 10)``),
   because 10 photos say little about where a threshold belongs; then calibrate (``offset``) so that every
   word's threshold is the same probability, ``search.LABEL_THRESHOLD``.
4. Report per word: precision, recall, F1 at the threshold and average precision, on everyday-dev.

    python training/train_labels.py                          # writes resources/models/label-heads.pt
    python training/train_labels.py --tail runs/everyday/everyday-tail.pt --out runs/labels/label-heads.pt
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from photobird import config
from photobird.learn import metrics
from photobird.library.search import LABEL_THRESHOLD
from photobird.media.decode import decode
from photobird.models import files, nets, runner
from photobird.models.words import BIRD_WORD, WordKind, load_everyday
from training import everyday_data as D
from training.train_everyday import machine

#: Dev photos with the word at which its own best threshold and the shared one weigh the same.
SHRINK = 10.0
#: Things coco-train has no photo of, with ImageNet classes to go by.
EVIDENCE_ONLY = (0.5, 0.5, 0.0)
#: The logit of a word nothing teaches: no photo is ever given it (rather than every photo).
NEVER = -30.0


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tail", type=Path, default=None, help="everyday tail file (default: the shipped one)")
    p.add_argument("--weight-decay", type=float, default=1e-3)
    p.add_argument("--prior-decay", type=float, default=1e-4)
    p.add_argument("--beta", type=float, default=1.0, help="thresholds maximise F-beta (< 1 favours precision)")
    p.add_argument("--cache", type=Path, default=Path("runs/labels"))
    p.add_argument("--out", type=Path, default=config.models_dir() / runner.LABELS_FILE)
    p.add_argument("--report", type=Path, default=None, help="also write the per-word table (markdown) here")
    return p


def embed_set(models: runner.Models, photos: D.PhotoSet, mirror: bool = False) -> np.ndarray:
    """float16 embeddings, as the library stores them."""
    out = []
    batch = []
    for i in range(len(photos.files)):
        image = decode(photos.path(i), min_side=runner.DECODE_SIDE).image
        batch.append(models.prepare(ImageOps.mirror(image) if mirror else image))
        if len(batch) == 16 or i == len(photos.files) - 1:
            out.append(models.embed(batch)[0].astype(np.float16))
            batch = []
    return np.concatenate(out)


def embeddings(models: runner.Models, cache: Path) -> dict[str, np.ndarray]:
    path = cache / f"embeddings-{models.tail.sha256[:12]}.npz"
    if path.exists():
        return dict(np.load(path))
    t = time.perf_counter()
    train, dev = D.load("coco-train"), D.load("everyday-dev")
    out = {
        "train": embed_set(models, train),
        "train_mirror": embed_set(models, train, True),
        "dev": embed_set(models, dev),
    }
    print(f"embedded {2 * len(train.files) + len(dev.files)} views in {time.perf_counter() - t:.0f} s")
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return out


def fit(
    heads: nets.LabelHeads,
    z: torch.Tensor,
    probs: torch.Tensor,
    y: torch.Tensor,
    known: torch.Tensor,
    trained: torch.Tensor,
    wd: float,
    prior_wd: float,
) -> None:
    """Fit the heads of the ``trained`` words together (their losses are independent): L-BFGS, full batch."""
    with torch.no_grad():
        x = (z[:, : heads.linear_dims] - heads.mean) / heads.std
        ev = heads.evidence(z, probs)
    k = trained.nonzero().flatten()
    w = torch.zeros(len(k), heads.linear_dims, requires_grad=True)
    b = torch.zeros(len(k), requires_grad=True)
    a = torch.zeros(len(k), 3, requires_grad=True)
    opt = torch.optim.LBFGS([w, b, a], max_iter=500, line_search_fn="strong_wolfe")
    yk, mk, evk = y[:, k], known[:, k], ev[:, k]

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logits = x @ w.T + b + (evk * a).sum(2)
        bce = (F.binary_cross_entropy_with_logits(logits, yk, reduction="none") * mk).sum(0) / mk.sum(0).clamp(min=1)
        loss = bce.mean() + wd * (w**2).sum() + prior_wd * (a**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        heads.linear[k] = w
        heads.bias[k] = b
        heads.prior[k] = a


def choose_thresholds(
    logits: np.ndarray, truth: np.ndarray, known: np.ndarray, beta: float
) -> tuple[np.ndarray, float]:
    """Per word: its own best F-beta threshold on dev, pulled toward the best shared one by how few positives it
    has."""
    words = range(logits.shape[1])
    usable = [k for k in words if truth[known[:, k], k].sum() > 0]
    grid = np.linspace(-6, 6, 121)

    def macro(t: float) -> float:
        return float(
            np.mean([metrics.f1_at(logits[known[:, k], k], truth[known[:, k], k], t, beta)[0] for k in usable])
        )

    shared = float(grid[int(np.argmax([macro(t) for t in grid]))])
    out = np.full(logits.shape[1], shared)
    for k in usable:
        n = float(truth[known[:, k], k].sum())
        own, _ = metrics.best_f1_threshold(logits[known[:, k], k], truth[known[:, k], k], beta)
        weight = n / (n + SHRINK)
        out[k] = weight * own + (1 - weight) * shared
        if not (logits[known[:, k], k] >= out[k]).any():  # pulled past every photo: keep its own, which finds some
            out[k] = own
    return out, shared


def main(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    models = runner.Models(device="cpu", with_head=False, with_labels=False, tail=args.tail)
    emb = embeddings(models, args.cache)
    train, dev = D.load("coco-train"), D.load("everyday-dev")
    everyday = [w for w in load_everyday() if w.word != BIRD_WORD]
    words = [w.word for w in everyday]
    things = list(models.things)
    thing_of = {w.coco: i for i, w in enumerate(D.things())}
    scene_of = {w.word: j for j, w in enumerate(D.scenes())}
    offsets = np.cumsum([0] + [p["dim"] for p in models.spec])
    position_offset, spatial_offset = int(offsets[1]), int(offsets[2])
    heads = nets.LabelHeads(
        words=len(words),
        linear_dims=position_offset + len(things),  # pooled features and best-position scores
        spatial_offset=spatial_offset,
        position_offset=position_offset,
        things=len(things),
        imagenet=len(models.backbone.meta.classes),
    )
    classes = models.vocabulary.class_names
    with torch.no_grad():
        for k, w in enumerate(everyday):
            for c in w.imagenet:
                heads.classes[classes.index(c), k] = 1.0
            if w.coco:
                heads.thing[k] = thing_of[w.coco]

    def targets(photos: D.PhotoSet) -> tuple[np.ndarray, np.ndarray]:
        y = np.zeros((len(photos.files), len(words)), np.float32)
        known = np.ones_like(y, dtype=bool)
        for k, w in enumerate(everyday):
            if w.coco:
                y[:, k] = photos.things[:, thing_of[w.coco]]
            else:
                y[:, k] = photos.scenes[:, scene_of[w.word]]
                known[:, k] = photos.has_captions
        return y, known

    y_train, known_train = targets(train)
    y_dev, known_dev = targets(dev)
    z = torch.from_numpy(np.concatenate([emb["train"], emb["train_mirror"]]).astype(np.float32))
    y = torch.from_numpy(np.concatenate([y_train, y_train]))
    known = torch.from_numpy(np.concatenate([known_train, known_train]).astype(np.float32))
    probs = models.class_probabilities(z.numpy())
    with torch.no_grad():
        heads.mean.copy_(z[:, : heads.linear_dims].mean(0))
        heads.std.copy_(z[:, : heads.linear_dims].std(0) + 1e-3)
    positives = (y * known).sum(0)
    person = words.index("person")
    trained = (positives > 0) & (positives < len(y))
    trained[person] = False
    fit(heads, z, probs, y, known, trained, args.weight_decay, args.prior_decay)
    with torch.no_grad():
        for k, w in enumerate(everyday):
            if trained[k]:
                continue
            heads.linear[k] = 0
            heads.bias[k] = 0
            if k == person:
                heads.prior[k] = torch.tensor([0.0, 0.0, 1.0])  # the tail's best-position person score
            elif w.imagenet:
                heads.prior[k] = torch.tensor(EVIDENCE_ONLY)
            else:  # no photo and no ImageNet class to go by (giraffe, scissors): never written
                heads.bias[k] = NEVER
        stand_ins = {"toothbrush": "bathroom"}
        for word, like in stand_ins.items():
            k, j = words.index(word), words.index(like)
            heads.linear[k], heads.bias[k], heads.prior[k] = heads.linear[j], heads.bias[j], heads.prior[j]

    # thresholds and calibration on everyday-dev
    zd = torch.from_numpy(emb["dev"].astype(np.float32))
    with torch.no_grad():
        logits = heads(zd, models.class_probabilities(emb["dev"]), calibrated=False).numpy()
    thresholds, shared = choose_thresholds(logits, y_dev.astype(bool), known_dev, args.beta)
    target = float(np.log(LABEL_THRESHOLD / (1 - LABEL_THRESHOLD)))
    never = (heads.bias == NEVER).numpy()
    thresholds[never] = 0.0  # calibrated like a shared word: their logit stays far below it
    with torch.no_grad():
        heads.offset.copy_(torch.from_numpy(target - thresholds).float())

    # report
    table = {}
    for k, w in enumerate(everyday):
        m = known_dev[:, k]
        truth = y_dev[m, k].astype(bool)
        if truth.sum() == 0:
            continue
        f1, p, r = metrics.f1_at(logits[m, k], truth, thresholds[k])
        table[w.word] = {
            "kind": w.kind.value,
            "photos": int(truth.sum()),
            "train_photos": int(y_train[known_train[:, k], k].sum()),
            "precision": round(p, 3),
            "recall": round(r, 3),
            "f1": round(f1, 3),
            "ap": round(metrics.average_precision(logits[m, k], truth), 3),
        }
    summary = {}
    for kind in (WordKind.THING, WordKind.SCENE):
        rows = [v for v in table.values() if v["kind"] == kind.value and v["photos"] >= 8]
        summary[kind.value] = {
            key: round(float(np.mean([v[key] for v in rows])), 3) for key in ("precision", "recall", "f1", "ap")
        } | {"words": len(rows)}
    for kind, s in summary.items():
        print(
            f"everyday-dev {kind}s with >= 8 photos ({s['words']}): P {s['precision']:.3f} R {s['recall']:.3f} "
            f"F1 {s['f1']:.3f} mAP {s['ap']:.3f}  (thresholds chosen on this set)"
        )
    elapsed = time.perf_counter() - t0
    meta = files.ModelMeta(
        arch="label-heads",
        arch_args=heads.arch_args(),
        classes=words,
        version=datetime.date.today().isoformat(),
        input_size=models.input_size,
        resize="fit-long",
        threshold=LABEL_THRESHOLD,
        training={
            "data": "coco-train and its mirror images (things: COCO categories; scene and people words: at least 2 "
            "of 5 captions); thresholds chosen on everyday-dev",
            "recipe": f"L-BFGS logistic regression, L2 {args.weight_decay} on features, {args.prior_decay} on "
            f"evidence weights; thresholds: own best F{args.beta:g} on dev pulled to the shared best by "
            f"n/(n+{SHRINK:g})",
            "shared_threshold_logit": shared,
            "stand_ins": stand_ins,
            "seconds": round(elapsed, 1),
            "machine": machine(),
            "command": "python training/train_labels.py " + " ".join(sys.argv[1:]),
        },
        metrics={"everyday_dev": {"summary": summary, "words": table}},
        extra={"embedding": models.spec, "tail_sha256": models.tail.sha256},
    )
    files.save(args.out, meta, heads)
    if args.out.resolve().parent == config.models_dir().resolve():
        print(f"exported {args.out}; shipped manifest updated, sha256 {runner.record_shipped(args.out)}")
    else:
        print(f"exported {args.out} sha256 {files.sha256_of(args.out)}")
    if args.report:
        lines = ["| word | dev photos | train photos | P | R | F1 | AP |", "|---|---|---|---|---|---|---|"]
        for word, v in sorted(table.items(), key=lambda kv: (kv[1]["kind"], -kv[1]["photos"])):
            lines.append(
                f"| {word} | {v['photos']} | {v['train_photos']} | {v['precision']:.2f} | {v['recall']:.2f} | "
                f"{v['f1']:.2f} | {v['ap']:.2f} |"
            )
        args.report.write_text("\n".join(lines) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main(get_args_parser().parse_args())
