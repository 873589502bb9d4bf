"""Fine-tune the everyday tail: the backbone's last blocks, taught by COCO photos to see everything in a photo.

What it learns, on ``coco-train`` (1,832 COCO photos, every one with a person; boxes and captions):

- a score for each of the 80 everyday things at every position of the last feature map (``pos``), from the
  boxes: a position is positive for a thing when it lies in one of its boxes (or holds a small box's centre);
- the same things and the scene and people words at the level of the whole photo (an auxiliary head that is
  not shipped: the word heads are fitted on the stored embeddings afterwards, ``train_labels.py``);
- and to keep the ImageNet classifier meaningful, distillation from the original network's ImageNet
  predictions on the same views, through the original classifier, which stays frozen (the 1,000 classes stay
  the app's vocabulary, the bird model's evidence and the word heads').

The blocks before ``--start`` are the registry package's, frozen: their output is computed once per photo and
view (the photo and its mirror image, at the app's own decode and view: ``runner.DECODE_SIDE``, long side 384)
and cached in memory, so an epoch runs only the tail (about 20 s on two CPU cores). Batches are random crops of
those cached maps (half the batches), with the labels recounted from the boxes: a thing counts when at least
half of one of its boxes is inside the crop, and is left out of the loss when only part of it is; crops also
give the person head what the photos lack, views with nobody in them.

Like torchvision's references: a checkpoint after every epoch (``--resume`` continues), a log, ``--test-only``.
Evaluation on ``everyday-dev`` reports the per-position scores' average precision per thing.

    python training/train_everyday.py --output-dir runs/everyday                      # then --export
    python training/train_everyday.py --resume runs/everyday/checkpoint.pth --export resources/models/everyday-tail.pt
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from photobird import config
from photobird.learn import metrics
from photobird.media.decode import decode, fit_long
from photobird.models import files, nets, real_photos, runner
from photobird.models.words import load_vocabulary
from training import everyday_data as D


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-4, help="peak learning rate of the tail (new heads: 10x)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--crop", type=float, default=0.5, help="share of batches that are random crops")
    p.add_argument("--position-weight", type=float, default=20.0, help="weight of the per-position loss")
    p.add_argument("--distill", type=float, default=5.0, help="weight of the ImageNet distillation loss")
    p.add_argument("--start", type=int, default=nets.TAIL_START, help="first fine-tuned block of the backbone")
    p.add_argument("--hidden", type=int, default=0, help="hidden channels of the per-position head (0: linear)")
    p.add_argument(
        "--freeze-tail",
        action="store_true",
        help="train only the per-position head (and the auxiliary photo head): the backbone's features as shipped",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--output-dir", type=Path, default=Path("runs/everyday"))
    p.add_argument("--resume", type=Path, default=None)
    p.add_argument("--test-only", action="store_true")
    p.add_argument("--export", type=Path, default=None, help="write the shipped model file here when done")
    return p


# ----------------------------------------------------------------------------------------------------------
# data


def _view(path: Path, long_side: int, mirror: bool) -> np.ndarray:
    """The app's own view of a photo: decoded as the indexer does, whole, long side ``long_side``."""
    a = np.array(fit_long(decode(path, min_side=runner.DECODE_SIDE).image, long_side), dtype=np.uint8)
    return np.ascontiguousarray(a[:, ::-1]) if mirror else a


def _tensor(a: np.ndarray, mean: list[float], std: list[float]) -> torch.Tensor:
    x = torch.from_numpy(a).permute(2, 0, 1).float().div_(255)
    x = (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    return x.unsqueeze(0).contiguous(memory_format=torch.channels_last)


@torch.inference_mode()
def lower_maps(photos: D.PhotoSet, net: nets.EfficientNetLite0, start: int, mirror: bool, log) -> list[torch.Tensor]:
    """The frozen blocks' output for every photo (float16, (C, H, W)), computed once."""
    out = []
    t = time.perf_counter()
    for i in range(len(photos.files)):
        x = _tensor(_view(photos.path(i), 384, mirror), [0.5] * 3, [0.5] * 3)
        out.append(net.lower(x, start)[0].half().clone())
        if i % 500 == 499:
            which = photos.folder.name + (" mirrored" if mirror else "")
            log(f"  {which}: {i + 1} photos, {time.perf_counter() - t:.0f} s")
    return out


def crop_labels(boxes: list[D.Box], crop: tuple[float, float, float, float], n: int) -> np.ndarray:
    """Things in the crop (x0, y0, x1, y1, normalised): 1 when half a box is inside, -1 (left out) when less."""
    x0, y0, x1, y1 = crop
    y = np.zeros(n, np.float32)
    for b in boxes:
        iw = max(0.0, min(b.cx + b.w / 2, x1) - max(b.cx - b.w / 2, x0))
        ih = max(0.0, min(b.cy + b.h / 2, y1) - max(b.cy - b.h / 2, y0))
        inside = iw * ih / max(b.w * b.h, 1e-9)
        if inside >= 0.5:
            y[b.thing] = 1
        elif inside > 0.1 and y[b.thing] == 0:
            y[b.thing] = -1
    return y


def position_targets(
    boxes: list[D.Box], crop: tuple[float, float, float, float], gh: int, gw: int, n: int
) -> np.ndarray:
    """(n, gh, gw): 1 where a cell's centre lies in a box of the thing, or the cell holds a box's centre."""
    x0, y0, x1, y1 = crop
    t = np.zeros((n, gh, gw), np.float32)
    cw, ch = (x1 - x0) / gw, (y1 - y0) / gh
    xs = x0 + (np.arange(gw) + 0.5) * cw
    ys = y0 + (np.arange(gh) + 0.5) * ch
    for b in boxes:
        mx = (xs >= b.cx - b.w / 2) & (xs < b.cx + b.w / 2)
        my = (ys >= b.cy - b.h / 2) & (ys < b.cy + b.h / 2)
        t[b.thing][np.ix_(my, mx)] = 1
        j, i = int((b.cx - x0) // cw), int((b.cy - y0) // ch)
        if 0 <= i < gh and 0 <= j < gw:
            t[b.thing, i, j] = 1
    return t


# ----------------------------------------------------------------------------------------------------------
# model


class Trainee(nn.Module):
    """The tail being fine-tuned, with the whole-photo head used only for training."""

    def __init__(self, tail: nets.EverydayTail, scenes: int) -> None:
        super().__init__()
        self.tail = tail
        things = tail.classes
        self.photo = nn.Linear(2 * tail.embed_dim + things, things + scenes)
        nn.init.zeros_(self.photo.weight)
        nn.init.constant_(self.photo.bias, -3.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        maps = self.tail.maps(x)
        pos = self.tail.pos(maps)
        pooled = torch.cat([maps.mean((2, 3)), maps.amax((2, 3)), pos.amax((2, 3))], 1)
        return self.photo(pooled), pos, self.tail._fc(maps.mean((2, 3)))


def initial_tail(folded: nets.EfficientNetLite0, things: int, start: int, hidden: int = 0) -> nets.EverydayTail:
    """The tail as the backbone has it (folded), and a per-position head that starts by seeing nothing."""
    tail = nets.EverydayTail(classes=things, start=start, hidden=hidden)
    state = {}
    for k, v in folded.state_dict().items():
        if k.startswith("_blocks."):
            i = int(k.split(".")[1])
            if i >= start:
                state[f"_blocks.{i - start}." + k.split(".", 2)[2]] = v
        elif k.startswith(("_conv_head.", "_fc.")):
            state[k] = v
    missing = tail.load_state_dict(state, strict=False).missing_keys
    assert all(k.startswith("pos.") for k in missing), missing
    last = tail.pos[-1] if isinstance(tail.pos, nn.Sequential) else tail.pos
    assert isinstance(last, nn.Conv2d)
    nn.init.normal_(last.weight, std=1e-3)
    nn.init.constant_(last.bias, -4.0)
    return tail


class Teacher(nn.Module):
    """The original network's ImageNet prediction from the same frozen maps."""

    def __init__(self, folded: nets.EfficientNetLite0, start: int) -> None:
        super().__init__()
        self.blocks = copy.deepcopy(folded._blocks[start:])
        self.head = copy.deepcopy(folded._conv_head)
        self.fc = copy.deepcopy(folded._fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = b(x)
        return self.fc(F.relu6(self.head(x)).mean((2, 3)))


# ----------------------------------------------------------------------------------------------------------


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"


def save_checkpoint(path: Path, state: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


@torch.inference_mode()
def evaluate(model: Trainee, maps: list[torch.Tensor], dev: D.PhotoSet, names: list[str]) -> dict:
    """Average precision on everyday-dev of each thing's best-position score, and of the whole-photo head."""
    model.eval()
    best, photo = [], []
    for m in maps:
        out, pos, _ = model(m[None].float().contiguous(memory_format=torch.channels_last))
        best.append(pos.amax((2, 3))[0])
        photo.append(out[0, : len(names)])
    model.train()
    best_s, photo_s = torch.stack(best).numpy(), torch.stack(photo).numpy()
    cols = [j for j in range(len(names)) if dev.things[:, j].sum() >= 8]
    ap_best = {names[j]: metrics.average_precision(best_s[:, j], dev.things[:, j]) for j in cols}
    ap_photo = {names[j]: metrics.average_precision(photo_s[:, j], dev.things[:, j]) for j in cols}
    return {
        "positions_map": float(np.mean(list(ap_best.values()))),
        "photo_head_map": float(np.mean(list(ap_photo.values()))),
        "positions_ap": {k: round(v, 4) for k, v in ap_best.items()},
    }


def main(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    out_dir = args.output_dir
    out_dir.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        line = f"{datetime.datetime.now():%H:%M:%S} {msg}"
        print(line, flush=True)
        with open(out_dir / "log.txt", "a", encoding="utf-8") as f:
            f.write(line + "\n")

    backbone = runner.load_shipped(runner.BACKBONE_FILE, expect_arch="efficientnet-lite0")
    folded = nets.fold_batchnorm(backbone.module)
    things = D.things()
    names = [w.word for w in things]
    train, dev = D.load("coco-train"), D.load("everyday-dev")
    log(f"caching the frozen blocks' output (blocks < {args.start}) for {len(train.files)} + mirrored + dev photos")
    t0 = time.perf_counter()
    cached = [lower_maps(train, folded, args.start, False, log), lower_maps(train, folded, args.start, True, log)]
    dev_maps = lower_maps(dev, folded, args.start, False, log)
    log(f"cached in {time.perf_counter() - t0:.0f} s")
    stride = 2 if args.start >= nets.TAIL_START else 4  # cells of the cached map per cell of the last map

    model = Trainee(initial_tail(folded, len(names), args.start, args.hidden), len(D.scenes()))
    teacher = Teacher(folded, args.start).eval()
    for q in teacher.parameters():
        q.requires_grad_(False)
    buckets: dict[tuple[int, int], list[int]] = {}
    for i, m in enumerate(cached[0]):
        buckets.setdefault(tuple(m.shape[1:]), []).append(i)

    def batches() -> list[tuple[tuple[int, int], list[int]]]:
        out = []
        for shape, idx in buckets.items():
            idx = idx[:]
            random.shuffle(idx)
            out += [(shape, idx[k : k + args.batch_size]) for k in range(0, len(idx), args.batch_size)]
        random.shuffle(out)
        return out

    # the ImageNet classifier stays as shipped (the 1,000 classes keep their meaning for the words, the bird
    # verdicts and the word heads' evidence); the features under it learn, distilled to keep its predictions
    for q in model.tail._fc.parameters():
        q.requires_grad_(False)
    if args.freeze_tail:
        for q in [*model.tail._blocks.parameters(), *model.tail._conv_head.parameters()]:
            q.requires_grad_(False)
    new = [*model.tail.pos.parameters(), *model.photo.parameters()]
    new_ids = {id(q) for q in new}
    old = [q for q in model.parameters() if id(q) not in new_ids and q.requires_grad]
    opt = torch.optim.AdamW(
        [{"params": old, "lr": args.lr}, {"params": new, "lr": args.lr * 10}], weight_decay=args.weight_decay
    )
    steps = args.epochs * len(batches())
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, [args.lr, args.lr * 10], total_steps=steps, pct_start=0.1)
    start_epoch, elapsed = 0, 0.0
    if args.resume:
        ckpt = torch.load(args.resume, map_location="cpu", weights_only=True)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        start_epoch, elapsed = ckpt["epoch"] + 1, ckpt["seconds"]
        random.setstate(ckpt["python_rng"])
        log(f"resumed from {args.resume} at epoch {start_epoch} ({elapsed:.0f} s of training so far)")
    nt, ns = len(names), len(D.scenes())
    for epoch in range(start_epoch, 0 if args.test_only else args.epochs):
        t = time.perf_counter()
        sums = {"things": 0.0, "scenes": 0.0, "positions": 0.0, "distill": 0.0}
        n = 0
        for (H, W), idx in batches():
            if random.random() < args.crop:
                h = random.randint(max(2 * stride, H // 2), H)
                w = random.randint(max(2 * stride, W // 2), W)
            else:
                h, w = H, W
            xs, y_things, y_scenes, scene_mask, targets = [], [], [], [], []
            for i in idx:
                mirror = random.random() < 0.5
                y0, x0 = random.randint(0, H - h), random.randint(0, W - w)
                xs.append(cached[int(mirror)][i][:, y0 : y0 + h, x0 : x0 + w])
                boxes = [
                    D.Box(b.thing, 1 - b.cx if mirror else b.cx, b.cy, b.w, b.h)
                    for b in train.boxes.get(train.files[i], [])
                ]
                crop = (x0 / W, y0 / H, (x0 + w) / W, (y0 + h) / H)
                y_things.append(crop_labels(boxes, crop, nt))
                targets.append(position_targets(boxes, crop, -(-h // stride), -(-w // stride), nt))
                y_scenes.append(train.scenes[i])
                scene_mask.append(float(train.has_captions[i] and h * w >= 0.7 * H * W))
            x = torch.stack(xs).float().contiguous(memory_format=torch.channels_last)
            yt = torch.from_numpy(np.stack(y_things))
            ys = torch.from_numpy(np.stack(y_scenes))
            sm = torch.tensor(scene_mask)
            tp = torch.from_numpy(np.stack(targets))
            photo, pos, imagenet = model(x)
            with torch.no_grad():
                teacher_logits = teacher(x)
            known = (yt >= 0).float()
            l_things = (
                F.binary_cross_entropy_with_logits(photo[:, :nt], yt.clamp(min=0), reduction="none") * known
            ).sum()
            l_things = l_things / known.sum()
            l_scenes = (F.binary_cross_entropy_with_logits(photo[:, nt:], ys, reduction="none") * sm[:, None]).sum()
            l_scenes = l_scenes / (sm.sum() * ns + 1e-6)
            l_pos = F.binary_cross_entropy_with_logits(pos, tp[:, :, : pos.shape[2], : pos.shape[3]])
            l_kd = (
                F.kl_div(
                    F.log_softmax(imagenet / 2, 1),
                    F.log_softmax(teacher_logits / 2, 1),
                    log_target=True,
                    reduction="batchmean",
                )
                * 4
            )
            loss = l_things * nt / 10 + l_scenes * ns / 10 + args.position_weight * l_pos + args.distill * l_kd
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            for k, v in zip(sums, (l_things, l_scenes, l_pos, l_kd), strict=True):
                sums[k] += float(v.detach())
            n += 1
        elapsed += time.perf_counter() - t
        log(f"epoch {epoch} ({elapsed:.0f} s): " + " ".join(f"{k} {v / n:.4f}" for k, v in sums.items()))
        save_checkpoint(
            out_dir / "checkpoint.pth",
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "epoch": epoch,
                "seconds": elapsed,
                "args": {k: str(v) for k, v in vars(args).items()},
                "python_rng": random.getstate(),
            },
        )
        if epoch % 4 == 3 or epoch == args.epochs - 1:
            r = evaluate(model, dev_maps, dev, names)
            log(f"  everyday-dev: best-position mAP {r['positions_map']:.3f}, photo head {r['photo_head_map']:.3f}")
    results = evaluate(model, dev_maps, dev, names)
    log(f"everyday-dev: best-position mAP {results['positions_map']:.3f}, photo head {results['photo_head_map']:.3f}")
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    if args.export:
        export(args.export, model.tail, backbone, names, results, elapsed, args)


@torch.inference_mode()
def imagenet_temperature(tail: nets.EverydayTail, folded: nets.EfficientNetLite0) -> tuple[float, dict]:
    """The factor on the ImageNet classifier's logits that makes its probabilities honest at the app's view.

    A whole photo at 384 pixels averages more positions than the 224-pixel crop the classifier was trained on,
    and its probabilities flatten (on the 250 real photos, ImageNet's own kind, the median top probability
    drops from 0.77 to 0.21 while top-1 accuracy rises): the words' thresholds and the backbone's bird
    verdicts mean what they meant once the logits are scaled back. The factor minimises the negative
    log-likelihood of the true class on the real photos (one number, on ImageNet photos).
    """
    rows = real_photos.rows()
    labels = torch.tensor([int(r["imagenet_index"]) for r in rows])
    logits = []
    for r in rows:
        x = _tensor(_view(config.real_photos_dir() / r["file"], 384, False), [0.5] * 3, [0.5] * 3)
        logits.append(tail._fc(tail.maps(folded.lower(x, tail.start)).mean((2, 3)))[0])
    z = torch.stack(logits).float()
    grid = torch.linspace(0.5, 5.0, 91)
    nll = torch.stack([F.cross_entropy(z * t, labels) for t in grid])
    best = float(grid[int(nll.argmin())])
    accuracy = float((z.argmax(1) == labels).float().mean())
    at_one = float(F.cross_entropy(z, labels))
    calibration = {
        "real_photos_top1": round(accuracy, 4),
        "nll_at_1": round(at_one, 4),
        "nll": round(float(nll.min()), 4),
    }
    return best, calibration | {"temperature": best}


def export(
    path: Path,
    tail: nets.EverydayTail,
    backbone: files.LoadedModel,
    names: list[str],
    results: dict,
    elapsed: float,
    args: argparse.Namespace,
) -> None:
    vocabulary = load_vocabulary()
    evidence = [[vocabulary.class_names.index(c) for c in w.imagenet] for w in D.things()]
    temperature, calibration = imagenet_temperature(tail.eval(), nets.fold_batchnorm(backbone.module))
    print(f"ImageNet classifier at the photo view: logits x {temperature:.2f} ({calibration})")
    meta = files.ModelMeta(
        arch="everyday-tail",
        arch_args=tail.arch_args(),
        classes=names,
        version=datetime.date.today().isoformat(),
        input_size=384,
        resize="fit-long",
        mean=list(backbone.meta.mean),
        std=list(backbone.meta.std),
        training={
            "data": "coco-train (1,832 COCO 2017 photos with boxes and captions) and their mirror images; random "
            "crops of the cached frozen-block maps with labels recounted from the boxes",
            "recipe": "AdamW, one-cycle; per-position BCE from boxes, whole-photo BCE (things, caption words), "
            "ImageNet distillation (KL, T=2) from the original network",
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "seconds": round(elapsed, 1),
            "machine": machine(),
            "command": "python training/train_everyday.py " + " ".join(sys.argv[1:]),
        },
        metrics={"everyday_dev": results, "imagenet_calibration": calibration},
        extra={
            "backbone_sha256": backbone.sha256,
            "imagenet_evidence": evidence,
            "imagenet_temperature": temperature,
            "role": "the backbone's blocks from 'start' on, fine-tuned on everyday photos, with per-position "
            "scores of the everyday things",
        },
    )
    tail = copy.deepcopy(tail).half().float()  # shipped in float16 (half the size; outputs change ~1e-3)
    files.save(path, meta, {k: v.half() if v.is_floating_point() else v for k, v in tail.state_dict().items()})
    if path.resolve().parent == config.models_dir().resolve():
        print(f"exported {path}; shipped manifest updated, sha256 {runner.record_shipped(path)}")
    else:
        print(f"exported {path} sha256 {files.sha256_of(path)}")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
