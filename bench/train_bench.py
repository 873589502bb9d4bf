"""Retraining benchmark (not a test): the training panel's figures for the README, measured in one run.

1. Index the 250 real photos (16 birds) into a fresh library and label half of them (every other row of
   labels.csv: 125 photos) as a user would, bird / not bird.
2. Retrain with the default settings (the labelled photos' augmented views embedded first, as the app does
   when they are labelled; the base data is shipped) and time it.
3. Report the panel's own before/after numbers on its held-out photos, and precision and recall of the
   shipped and the retrained model on the other, never-labelled half.
4. Re-score a generated library of 100,000 photos from stored embeddings and time it.

    python bench/train_bench.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from photobird import config
from photobird.learn import data as data_mod
from photobird.learn import metrics
from photobird.learn.train import TrainConfig, train_steps
from photobird.library import catalogue, scan, versions
from photobird.library.index import index
from photobird.library.schema import Embedding, Folder, Photo
from photobird.library.store import Library
from photobird.models import real_photos
from photobird.models.runner import Models


def scores_of(lib: Library, models: Models, ids: list[int], version) -> np.ndarray:
    head = versions.load_head(lib, version)
    embedder = versions.ensure_embedder(lib, models)
    emb = []
    with lib.session() as s:
        for pid in ids:
            emb.append(np.frombuffer(s.get(Embedding, (pid, embedder)).vector, dtype="<f2"))
    return models.score(np.stack(emb).astype(np.float32), head)


def rescore_bench(models: Models, n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        lib = Library(Path(tmp) / "lib")
        embedder = versions.ensure_embedder(lib, models)
        shipped = versions.ensure_shipped(lib, models)
        rng = np.random.default_rng(0)
        with lib.session() as s:
            s.add(Folder(id=1, path="/photos"))
        for start in range(0, n, 10000):
            photos, embs = [], []
            for pid in range(start + 1, min(n, start + 10000) + 1):
                photos.append(
                    {
                        "id": pid,
                        "folder_id": 1,
                        "path": f"/photos/{pid}.jpg",
                        "name": f"{pid}.jpg",
                        "dir": "/photos",
                        "size": 1,
                        "mtime_ns": 1,
                        "content_hash": f"{pid:064x}",
                        "state": "indexed",
                        "embedder_id": embedder,
                        "added_at": dt.datetime(2020, 1, 1),
                    }
                )
                vec = rng.normal(0, 1, models.embedding_dim).astype("<f2")
                embs.append({"photo_id": pid, "embedder_id": embedder, "vector": vec.tobytes()})
            with lib.session() as s:
                s.execute(Photo.__table__.insert(), photos)
                s.execute(Embedding.__table__.insert(), embs)
        t = time.perf_counter()
        done = versions.activate(lib, models, shipped)
        took = time.perf_counter() - t
        assert done == n
        lib.close()
    return took


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rescore", type=int, default=100_000)
    args = p.parse_args()
    models = Models()
    print(
        f"PhotoBird training benchmark, {dt.date.today()}: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, device {models.device}, torch {torch.__version__}\n"
    )
    rows = real_photos.rows()
    with tempfile.TemporaryDirectory() as tmp:
        lib = Library(Path(tmp) / "lib")
        scan.add_folder(lib, config.real_photos_dir())
        t = time.perf_counter()
        index(lib, models)
        print(f"indexed the 250 real photos in {time.perf_counter() - t:.1f} s")
        folder = config.real_photos_dir()
        ids = {r["file"]: catalogue.photo_id_for_path(lib, folder / r["file"]) for r in rows}
        labelled = rows[0::2]
        unlabelled = rows[1::2]
        for r in labelled:
            catalogue.set_user_label(lib, [ids[r["file"]]], "bird" if r["is_bird"] == "1" else "not-bird")
        nb = sum(r["is_bird"] == "1" for r in labelled)
        print(f"labelled {len(labelled)} photos ({nb} birds, {len(labelled) - nb} not birds)")
        t = time.perf_counter()
        for _ in data_mod.embed_views_for_photos(lib, models, [ids[r["file"]] for r in labelled]):
            pass
        print(f"embedded their augmented views in {time.perf_counter() - t:.1f} s (done once, when labelled)")

        shipped = versions.active_version(lib)
        t = time.perf_counter()
        gen = train_steps(lib, models, TrainConfig())
        while True:
            try:
                next(gen)
            except StopIteration as stop:
                result = stop.value
                break
        took = time.perf_counter() - t
        print(f"retrained with the default settings in {took:.1f} s ({result.mode} evaluation)\n")
        b, a = result.before, result.after
        print(
            f"the panel's numbers, on {len(result.evaluation.hashes)} held-out labelled photos "
            f"({result.mode}; each scored by a model that never saw it):"
        )
        print(f"  {'':18}{'shipped':>10}{'retrained':>12}")
        for name, x, y in (
            ("true positives", b.tp, a.tp),
            ("false negatives", b.fn, a.fn),
            ("false positives", b.fp, a.fp),
            ("true negatives", b.tn, a.tn),
        ):
            print(f"  {name:18}{x:>10}{y:>12}")
        print(f"  {'precision':18}{b.precision:>10.1%}{a.precision:>12.1%}")
        print(f"  {'recall':18}{b.recall:>10.1%}{a.recall:>12.1%}")
        new = versions.get_version(lib, result.version)
        test_ids = [ids[r["file"]] for r in unlabelled]
        y = np.array([r["is_bird"] == "1" for r in unlabelled])
        before = metrics.confusion(y, scores_of(lib, models, test_ids, shipped), shipped.threshold)
        after = metrics.confusion(y, scores_of(lib, models, test_ids, new), new.threshold)
        print(f"\non the other half, never labelled ({len(y)} photos, {int(y.sum())} birds):")
        for name, c in (("shipped", before), ("retrained", after)):
            print(
                f"  {name:10} TP {c.tp:3} FN {c.fn:3} FP {c.fp:3} TN {c.tn:3}  precision {c.precision:.1%} "
                f"recall {c.recall:.1%}"
            )
        lib.close()

    took = rescore_bench(models, args.rescore)
    print(
        f"\nre-scored {args.rescore:,} photos from stored embeddings in {took:.2f} s "
        f"({args.rescore / took:,.0f} photos/s), no image decoded"
    )


if __name__ == "__main__":
    main()
