"""The README's tables, reproduced end to end through ``photobird classify --json``.

Writes the 10,000 CIFAR-10 test images out as the JPEG files they are in the archive (byte for byte), runs
``photobird classify --json`` over them and over the 250 real photos, once with PhotoBird's bird model and
once with the article's network (``--model seed``), and prints each confusion matrix in the article's form;
then the bird model on ``everyday-dev`` (COCO and CUB photos, none of them ImageNet's): precision and recall
over the photos whose bird covers at least 1% of the frame, and how many of the small birds it finds::

    python training/evaluate.py                     # all four tables, about 10 minutes on 2 CPU cores
    python training/evaluate.py --limit 1000        # a quicker look
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from photobird import config
from photobird.learn import metrics
from photobird.models import real_photos


def write_cifar_test(out: Path, limit: int | None = None) -> dict[str, bool]:
    """Extract test/<class>/NNNN.jpg from the archive unchanged; returns path -> is bird."""
    truth: dict[str, bool] = {}
    per_class: dict[str, int] = {}
    with tarfile.open(config.cifar_archive(), "r:*") as tar:
        for m in tar:
            parts = Path(m.name).parts
            if not m.isfile() or len(parts) < 3 or parts[-3] != "test":
                continue
            cls = parts[-2]
            if limit and per_class.get(cls, 0) >= limit // 10:
                continue
            per_class[cls] = per_class.get(cls, 0) + 1
            dest = out / cls / parts[-1]
            dest.parent.mkdir(parents=True, exist_ok=True)
            f = tar.extractfile(m)
            assert f is not None
            dest.write_bytes(f.read())
            truth[str(dest)] = cls == "bird"
    return truth


def classify(paths: list[str], model: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    # chunks keep the command line short; each chunk is one process, as a user would run it
    for i in range(0, len(paths), 2500):
        proc = subprocess.run(
            [sys.executable, "-m", "photobird", "classify", "--json", "--model", model, *paths[i : i + 2500]],
            capture_output=True,
            text=True,
            check=True,
        )
        for line in proc.stdout.splitlines():
            row = json.loads(line)
            out[row["path"]] = row
    return out


def table(title: str, truth: dict[str, bool], results: dict[str, dict]) -> dict:
    y = np.array([truth[p] for p in truth])
    pred = np.array([bool(results[p].get("is_bird")) for p in truth])
    errors = sum("error" in results[p] for p in truth)
    c = metrics.confusion(y, pred.astype(float), 0.5)
    print(f"\n{title}  ({len(y)} images: {int(y.sum())} birds, {int((~y).sum())} not birds; {errors} errors)")
    print("|                 | predicted bird | predicted not bird |")
    print("|---|---|---|")
    print(f"| is a bird       | {c.tp} (true positives) | {c.fn} (false negatives) |")
    print(f"| is not a bird   | {c.fp} (false positives) | {c.tn} (true negatives) |")
    print(f"accuracy {c.accuracy:.2%}  precision {c.precision:.2%}  recall {c.recall:.2%}")
    return c.as_dict()


def everyday(results: dict[str, dict]) -> dict:
    """The bird model on everyday-dev: visible birds (>= 1% of the frame) against the photos without a bird,
    and the small birds apart."""
    from training import everyday_data

    dev = everyday_data.load("everyday-dev")
    bird = [w.coco for w in everyday_data.things()].index("bird")
    is_bird, visible = dev.things[:, bird] > 0, dev.areas[:, bird] >= 0.01
    called = np.array([bool(results[str(dev.path(i))].get("is_bird")) for i in range(len(dev.files))])
    keep = visible | ~is_bird
    c = metrics.confusion(is_bird[keep], called[keep].astype(float), 0.5)
    small = is_bird & ~visible
    found = int(called[small].sum())
    print(f"\nPhotoBird bird model on everyday-dev ({int(is_bird.sum())} birds, {int(visible.sum())} covering >= 1%)")
    print(
        f"visible birds: {c.tp} TP, {c.fn} FN, {c.fp} FP, {c.tn} TN: precision {c.precision:.2%}, recall {c.recall:.2%}"
    )
    print(f"small birds (< 1% of the frame): {found} of {int(small.sum())} found")
    return {"visible": c.as_dict(), "small_found": found, "small": int(small.sum())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", type=int, default=None, help="CIFAR test images to use (default all 10,000)")
    p.add_argument("--out", type=Path, default=Path("runs") / "evaluate.json")
    p.add_argument("--model", choices=["shipped", "seed"], action="append", help="only these (default both)")
    args = p.parse_args()
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    with tempfile.TemporaryDirectory() as tmp:
        cifar_truth = write_cifar_test(Path(tmp) / "cifar10-test", args.limit)
        rows = real_photos.rows()
        real_truth = {str(config.real_photos_dir() / r["file"]): r["is_bird"] == "1" for r in rows}
        for model, name in (("shipped", "PhotoBird bird model"), ("seed", "the article's network (seed)")):
            if args.model and model not in args.model:
                continue
            t = time.perf_counter()
            c = classify(sorted(cifar_truth), model)
            r = classify(sorted(real_truth), model)
            took = time.perf_counter() - t
            results[model] = {
                "cifar10_test": table(f"{name} on the CIFAR-10 test split", cifar_truth, c),
                "real_photos": table(f"{name} on the 250 real photos", real_truth, r),
                "seconds": round(took, 1),
            }
            print(f"({took:.0f} s through photobird classify)")
            if model == "shipped":
                from training import everyday_data

                dev = everyday_data.load("everyday-dev")
                paths = [str(dev.path(i)) for i in range(len(dev.files))]
                results[model]["everyday_dev"] = everyday(classify(paths, model))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
