"""Fit the shipped bird head on embeddings, and measure every way of answering "is it a bird?".

1. Embed CIFAR-10 (the validation split carved from train, which the CIFAR network never saw, and the test
   split) and the 250 real photos through the shipped backbone and CIFAR network, exactly as the app does
   (``Models.prepare`` + ``Models.embed``); cached under runs/ because the backbone pass over 15,000 images
   takes minutes on a CPU.
2. Compare, by 5-fold cross-validation on the validation split and then on the test split and the real
   photos: the backbone's own 59 bird classes, the CIFAR network's own bird class, a head on the backbone
   features alone, a head on the CIFAR features alone, and heads on both (fused).
3. Export the chosen head with a threshold picked on the validation split's cross-validated scores.

    python training/train_head.py --export resources/models/bird-head.pt
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from photobird import config
from photobird.learn import data as data_mod
from photobird.learn import head as head_mod
from photobird.learn import metrics
from photobird.media.decode import decode
from photobird.models import cifar, files, real_photos, runner

ARTICLE_FP_RATE = 162 / 9000


def embed_images(models: runner.Models, images, batch: int = 64, label: str = "") -> dict[str, np.ndarray]:
    emb, cls, small = [], [], []
    t0 = time.time()
    for i in range(0, len(images), batch):
        prepared = [models.prepare(im) for im in images[i : i + batch]]
        e, c, s = models.embed(prepared)
        emb.append(e.astype(np.float16))
        cls.append(c.astype(np.float32))
        small.append(s.astype(np.float32))
        if (i // batch) % 20 == 0:
            done = i + len(prepared)
            print(f"  {label} {done}/{len(images)} ({done / (time.time() - t0):.0f} img/s)", flush=True)
    return {"emb": np.concatenate(emb), "imagenet": np.concatenate(cls), "small": np.concatenate(small)}


def load_embeddings(models: runner.Models, cache: Path) -> dict[str, dict[str, np.ndarray]]:
    if cache.is_file():
        with np.load(cache) as z:
            out: dict[str, dict[str, np.ndarray]] = {}
            for key in z.files:
                split, kind = key.split("/")
                out.setdefault(split, {})[kind] = z[key]
            return out
    splits = cifar.load()
    _train_idx, val_idx = cifar.validation_split(splits["train"], 0.1, seed=0)
    out = {}
    for name, sp, idx in (("val", splits["train"], val_idx), ("test", splits["test"], None)):
        idx = np.arange(len(sp)) if idx is None else idx
        images = [Image.fromarray(sp.images[i]) for i in idx]
        out[name] = embed_images(models, images, label=f"cifar {name}")
        out[name]["is_bird"] = sp.labels[idx] == cifar.BIRD
    rows = real_photos.rows()
    images = [decode(config.real_photos_dir() / r["file"]).image for r in rows]
    out["real"] = embed_images(models, images, label="real photos")
    out["real"]["is_bird"] = np.array([r["is_bird"] == "1" for r in rows])
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **{f"{s}/{k}": v for s, d in out.items() for k, v in d.items()})
    return out


def folds(y: np.ndarray, k: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    assign = np.empty(len(y), dtype=int)
    for cls in (False, True):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        assign[idx] = np.arange(len(idx)) % k
    return [np.flatnonzero(assign == i) for i in range(k)]


def cross_val_scores(x: np.ndarray, y: np.ndarray, recipe: head_mod.HeadRecipe, k: int = 5) -> np.ndarray:
    scores = np.zeros(len(y), dtype=np.float32)
    for test_idx in folds(y, k):
        train = np.setdiff1d(np.arange(len(y)), test_idx)
        h = head_mod.fit(x[train], y[train], recipe)
        scores[test_idx] = head_mod.predict(h, x[test_idx])
    return scores


def report(name: str, y: np.ndarray, score: np.ndarray, threshold: float) -> dict:
    c = metrics.confusion(y, score, threshold)
    n_neg = int((~y).sum())
    out = {
        "at_threshold": c.as_dict(),
        "recall_at_article_fp_rate": metrics.recall_at_fp(y, score, round(ARTICLE_FP_RATE * n_neg)),
        "fp_at_article_recall": metrics.fp_at_recall(y, score, 0.9083),
        "average_precision": metrics.pr_curve(y, score).average_precision(),
    }
    print(
        f"  {name:28s} TP {c.tp:4d} FN {c.fn:4d} FP {c.fp:4d} TN {c.tn:5d}  precision {c.precision:.2%} "
        f"recall {c.recall:.2%}  recall@{ARTICLE_FP_RATE:.2%}FP {out['recall_at_article_fp_rate']:.2%}  "
        f"FP@90.83% {out['fp_at_article_recall']}  AP {out['average_precision']:.4f}",
        flush=True,
    )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--export", type=Path, default=None)
    p.add_argument("--cache", type=Path, default=None, help="embeddings cache (default runs/embeddings-*.npz)")
    p.add_argument(
        "--fp-rate",
        type=float,
        default=0.01,
        help="false-positive rate the shipped threshold aims at on validation (article: 1.8%%)",
    )
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    t_start = time.time()
    models = runner.Models(device="cpu", threads=args.threads, with_head=False)
    bb_dim = models.spec[0]["dim"]
    tag = models.small.sha256[:12]
    cache = args.cache or Path("runs") / f"embeddings-{tag}.npz"
    data = load_embeddings(models, cache)
    t_embed = time.time() - t_start
    bird_classes = list(models.vocabulary.bird_classes)

    views = {
        "backbone features": slice(0, bb_dim),
        "CIFAR features": slice(bb_dim, None),
        "fused features": slice(0, None),
    }
    recipes = {
        "linear": head_mod.HeadRecipe(),
        "mlp": head_mod.HeadRecipe(hidden=256, dropout=0.3, weight_decay=5e-2),
    }
    val, test, real = data["val"], data["test"], data["real"]
    # The head is fitted on the base data exactly as shipped (8-bit quantized), the same data every retraining
    # in the app starts from.
    q = data_mod.quantize(val["emb"].astype(np.float32))
    val = {**val, "emb": data_mod.dequantize(q["q"], q["lo"], q["scale"])}
    results: dict = {}
    candidates: dict = {}
    print(
        "\nCross-validated on the validation split (5,000 images, 500 birds), threshold at "
        f"{args.fp_rate:.1%} false positives:"
    )
    ref = {
        "backbone bird classes": lambda d: d["imagenet"][:, bird_classes].sum(1),
        "CIFAR net bird class": lambda d: d["small"][:, cifar.BIRD],
    }
    for name, fn in ref.items():
        s = fn(val)
        thr = metrics.threshold_for_fp_rate(val["is_bird"], s, args.fp_rate)
        results[name] = {"val_cv": report(name, val["is_bird"], s, thr), "threshold": thr, "fn": name}
    for vname, sl in views.items():
        for rname, recipe in recipes.items():
            if vname != "fused features" and rname == "mlp":
                continue
            name = f"{rname} head, {vname}"
            s = cross_val_scores(val["emb"][:, sl].astype(np.float32), val["is_bird"], recipe)
            thr = metrics.threshold_for_fp_rate(val["is_bird"], s, args.fp_rate)
            results[name] = {"val_cv": report(name, val["is_bird"], s, thr), "threshold": thr}
            candidates[name] = (sl, recipe, thr)

    print("\nFitted on the whole validation split; CIFAR-10 test split (10,000 images, 1,000 birds):")
    fitted = {}
    for name, (sl, recipe, thr) in candidates.items():
        h = head_mod.fit(val["emb"][:, sl].astype(np.float32), val["is_bird"], recipe)
        fitted[name] = h
        results[name]["test"] = report(name, test["is_bird"], head_mod.predict(h, test["emb"][:, sl]), thr)
    for name, fn in ref.items():
        results[name]["test"] = report(name, test["is_bird"], fn(test), results[name]["threshold"])

    print("\nThe 250 real photos (16 birds):")
    for name, (sl, _, thr) in candidates.items():
        results[name]["real"] = report(name, real["is_bird"], head_mod.predict(fitted[name], real["emb"][:, sl]), thr)
    for name, fn in ref.items():
        results[name]["real"] = report(name, real["is_bird"], fn(real), results[name]["threshold"])
    results["embedding_seconds"] = round(t_embed, 1)
    Path("runs").mkdir(exist_ok=True)
    Path("runs/train_head.json").write_text(json.dumps(results, indent=1, default=float))

    if args.export:
        name = "linear head, fused features"
        sl, recipe, thr = candidates[name]
        module = fitted[name]
        meta = files.ModelMeta(
            arch="bird-head",
            arch_args={"in_dim": int(models.embedding_dim), "hidden": recipe.hidden, "dropout": recipe.dropout},
            classes=["bird"],
            version=datetime.date.today().isoformat(),
            input_size=models.input_size,
            threshold=float(thr),
            training={
                "data": "CIFAR-10 validation split carved from train (5,000 images, 500 birds), "
                "embedded by the shipped backbone and CIFAR network",
                "recipe": recipe.as_dict(),
                "seconds": round(time.time() - t_start, 1),
                "command": "python training/train_head.py " + " ".join(sys.argv[1:]),
            },
            metrics={k: results[name][k] for k in ("val_cv", "test", "real")},
            extra={
                "embedding": models.spec,
                "threshold_rule": f"{args.fp_rate:.2%} false positives on cross-validated validation scores",
            },
        )
        files.save(args.export, meta, module)
        print(f"exported {args.export} sha256 {runner.record_shipped(args.export)}")
        base_path = args.export.parent / data_mod.BASE_FILE
        data_mod.save_base(
            base_path,
            data["val"]["emb"],
            data["val"]["is_bird"],
            models.spec,
            "CIFAR-10 validation split carved from train (5,000 images, 500 birds)",
        )
        print(f"exported {base_path} sha256 {runner.record_shipped(base_path)}")


if __name__ == "__main__":
    main()
