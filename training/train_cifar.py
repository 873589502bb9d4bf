"""Train and evaluate the CIFAR-10 networks: the article's ``seed`` network and PhotoBird's ``cifar-resnet``.

In the shape of torchvision's references/classification: ``train_one_epoch``, ``evaluate``, a checkpoint
after every epoch that carries the arguments it was started with, ``--resume`` and ``--test-only``. The data
is read straight from the shared CIFAR-10 JPEG archive; 10% of the training split (stratified, fixed seed) is
held out for choosing the decision threshold, and the test split only reports.

Exact commands are in training/README.md. Examples::

    python training/train_cifar.py --model seed --output-dir runs/seed            # the article, 50 passes
    python training/train_cifar.py --model seed --output-dir runs/seed --resume runs/seed/checkpoint.pth
    python training/train_cifar.py --model seed --resume runs/seed/checkpoint.pth --test-only
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from photobird import config
from photobird.learn import metrics
from photobird.models import cifar, files, nets, runner
from training import transforms as T

#: The article's operating point on 9,000 non-birds: 162 false positives, 90.83% recall.
ARTICLE_FP, ARTICLE_RECALL, ARTICLE_NEGATIVES = 162, 0.9083, 9000


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=["seed", "cifar-resnet"], default="seed")
    p.add_argument("--data-path", type=Path, default=None, help="CIFAR-10 JPEG archive (default: shared data)")
    p.add_argument("--epochs", type=int, default=None, help="passes over the data (seed 50, cifar-resnet 20)")
    p.add_argument("--batch-size", type=int, default=None, help="seed 96 (the article), cifar-resnet 512")
    p.add_argument("--lr", type=float, default=None, help="seed: Adam 0.001; cifar-resnet: SGD peak lr 0.8")
    p.add_argument("--weight-decay", type=float, default=1e-3, help="cifar-resnet only (the article used none)")
    p.add_argument("--label-smoothing", type=float, default=None)
    p.add_argument("--warmup-epochs", type=float, default=2.0)
    p.add_argument("--widths", type=int, nargs=3, default=[96, 384, 384])
    p.add_argument("--stem", type=int, default=32)
    p.add_argument("--res-convs", type=int, default=1)
    p.add_argument("--translate", type=int, default=2, help="random translation in pixels (cifar-resnet)")
    p.add_argument("--cutout", type=int, default=0, help="cutout square size, 0 for none (cifar-resnet)")
    p.add_argument("--ema", type=float, default=0.0, help="weight EMA decay per step, 0 for none")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: PHOTOBIRD_DEVICE, else cuda if any)")
    p.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bfloat16 autocast (default: on for cifar-resnet, off for the article's network)",
    )
    p.add_argument("--output-dir", type=Path, default=None, help="checkpoints and log go here")
    p.add_argument("--resume", type=Path, default=None, help="continue from this checkpoint")
    p.add_argument("--test-only", action="store_true", help="only evaluate the (resumed) model")
    p.add_argument("--export", type=Path, default=None, help="write the trained model as a PhotoBird model file")
    p.add_argument("--print-freq", type=int, default=50)
    return p


def fill_defaults(args: argparse.Namespace) -> argparse.Namespace:
    seed = args.model == "seed"
    defaults = {
        "epochs": 50 if seed else 20,
        "batch_size": 96 if seed else 512,
        "lr": 1e-3 if seed else 0.8,
        "label_smoothing": 0.0 if seed else 0.2,
        "bf16": not seed,
    }
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    return args


def pick_device(requested: str | None) -> torch.device:
    name = requested or os.environ.get("PHOTOBIRD_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# --------------------------------------------------------------------------------------------------------------
# data


class Data:
    """CIFAR-10 as uint8 tensors on the training device, split into train / val / test."""

    def __init__(self, args: argparse.Namespace, device: torch.device) -> None:
        splits = cifar.load(args.data_path)
        train_idx, val_idx = cifar.validation_split(splits["train"], args.val_fraction, seed=args.seed)

        def tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
            return x.to(device), torch.from_numpy(labels).to(device)

        tr = splits["train"]
        self.train = tensors(tr.images[train_idx], tr.labels[train_idx])
        self.val = tensors(tr.images[val_idx], tr.labels[val_idx])
        self.test = tensors(splits["test"].images, splits["test"].labels)
        x = self.train[0].float() / 255
        self.mean = x.mean(dim=(0, 2, 3)).cpu().tolist()
        self.std = x.std(dim=(0, 2, 3)).cpu().tolist()


def target(model_name: str, labels: torch.Tensor) -> torch.Tensor:
    """The article's network learns bird (1) / not bird (0); ours learns CIFAR-10's ten classes."""
    return (labels == cifar.BIRD).long() if model_name == "seed" else labels


def normalize(x_uint8: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    x = x_uint8.float() / 255
    m = torch.tensor(mean, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, 3, 1, 1)
    return ((x - m) / s).contiguous(memory_format=torch.channels_last)


def augment(x: torch.Tensor, args: argparse.Namespace, g: torch.Generator) -> torch.Tensor:
    if args.model == "seed":  # the article: flips, rotations up to 25 degrees, blur up to sigma 3
        x = T.random_flip(x, generator=g)
        x = T.random_rotate(x, 25.0, generator=g)
        x = T.random_blur(x, 3.0, generator=g)
    else:
        x = T.random_flip(x, generator=g)
        if args.translate:
            x = T.random_translate(x, args.translate, generator=g)
        if args.cutout:
            x = T.cutout(x, args.cutout, generator=g)
    return x.contiguous(memory_format=torch.channels_last)


# --------------------------------------------------------------------------------------------------------------
# model and optimizer


def build_model(args: argparse.Namespace) -> tuple[torch.nn.Module, dict]:
    if args.model == "seed":
        arch_args: dict = {"num_classes": 2}
    else:
        arch_args = {"widths": list(args.widths), "stem": args.stem, "res_convs": args.res_convs}
    return nets.build(args.model, arch_args), arch_args


def build_optimizer(model: torch.nn.Module, args: argparse.Namespace, steps_per_epoch: int):
    if args.model == "seed":  # the article: Adam, learning rate 0.001, constant
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
        return opt, sched
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        momentum=0.9,
        nesterov=True,
    )
    total = args.epochs * steps_per_epoch
    warm = max(1, int(args.warmup_epochs * steps_per_epoch))

    def shape(step: int) -> float:  # linear warm-up, then linear decay to zero
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total - step) / max(1, total - warm))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, shape)


class EMA:
    """Exponential moving average of the weights; evaluated and exported instead of the raw weights."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].lerp_(v, 1 - self.decay)
            else:
                self.shadow[k].copy_(v)


# --------------------------------------------------------------------------------------------------------------
# train and evaluate


def train_one_epoch(model, optimizer, scheduler, data: Data, args, epoch: int, g: torch.Generator, ema, log):
    model.train()
    x_all, y_all = data.train
    n = len(y_all)
    perm = torch.randperm(n, generator=g).to(x_all.device)
    steps = n // args.batch_size  # drop the last partial batch, as the article's tflearn does not
    t0 = time.time()
    total_loss, seen = 0.0, 0
    for step in range(steps):
        idx = perm[step * args.batch_size : (step + 1) * args.batch_size]
        x = augment(normalize(x_all[idx], data.mean, data.std), args, g)
        y = target(args.model, y_all[idx])
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=args.bf16):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=args.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update(model)
        total_loss += loss.item() * len(y)
        seen += len(y)
        if step % args.print_freq == 0 or step == steps - 1:
            rate = seen / max(time.time() - t0, 1e-9)
            log(
                f"epoch {epoch} [{step + 1}/{steps}] loss {total_loss / seen:.4f} "
                f"lr {optimizer.param_groups[0]['lr']:.5f} {rate:.0f} img/s"
            )
    return total_loss / max(seen, 1)


@torch.inference_mode()
def predict(model, x_uint8: torch.Tensor, data: Data, args, tta: bool = True) -> torch.Tensor:
    """Softmax probabilities, averaged with the mirrored image (test-time augmentation) when ``tta``."""
    model.eval()
    out = []
    for i in range(0, len(x_uint8), 1000):
        x = normalize(x_uint8[i : i + 1000], data.mean, data.std)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=args.bf16):
            p = model(x).float().softmax(1)
            if tta:
                p = (p + model(x.flip(3)).float().softmax(1)) / 2
        out.append(p.float())
    return torch.cat(out).cpu()


def bird_probability(model_name: str, probs: torch.Tensor) -> np.ndarray:
    return (probs[:, 1] if model_name == "seed" else probs[:, cifar.BIRD]).numpy()


def evaluate(
    model, split: tuple[torch.Tensor, torch.Tensor], data: Data, args, threshold: float | None, tta: bool = True
) -> dict:
    x, labels = split
    probs = predict(model, x, data, args, tta=tta)
    labels_np = labels.cpu().numpy()
    is_bird = labels_np == cifar.BIRD
    bird = bird_probability(args.model, probs)
    argmax = probs.argmax(1).numpy()
    pred_bird = argmax == (1 if args.model == "seed" else cifar.BIRD)
    out = {
        "n": len(labels_np),
        "birds": int(is_bird.sum()),
        "argmax": metrics.confusion(is_bird, pred_bird.astype(float), 0.5).as_dict(),
        "recall_at_article_fp_rate": metrics.recall_at_fp(
            is_bird, bird, round(ARTICLE_FP / ARTICLE_NEGATIVES * (~is_bird).sum())
        ),
        "fp_at_article_recall": metrics.fp_at_recall(is_bird, bird, ARTICLE_RECALL),
        "average_precision": metrics.pr_curve(is_bird, bird).average_precision(),
    }
    if args.model != "seed":
        out["accuracy10"] = float((argmax == labels_np).mean())
    if threshold is not None:
        out["at_threshold"] = metrics.confusion(is_bird, bird, threshold).as_dict()
        out["threshold"] = threshold
    return out


def choose_threshold(model, data: Data, args) -> float:
    """On the validation split: the lowest threshold that keeps the article's false-positive rate."""
    x, labels = data.val
    bird = bird_probability(args.model, predict(model, x, data, args))
    return metrics.threshold_for_fp_rate(labels.cpu().numpy() == cifar.BIRD, bird, ARTICLE_FP / ARTICLE_NEGATIVES)


# --------------------------------------------------------------------------------------------------------------
# checkpoints


def save_checkpoint(path: Path, state: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"


def export(
    path: Path, model, arch_args: dict, data: Data, args, threshold: float, results: dict, elapsed: float
) -> None:
    classes = ["not bird", "bird"] if args.model == "seed" else list(cifar.CLASSES)
    meta = files.ModelMeta(
        arch=args.model,
        arch_args=arch_args,
        classes=classes,
        version=datetime.date.today().isoformat(),
        input_size=32,
        resize="center-crop",
        mean=data.mean,
        std=data.std,
        threshold=threshold,
        training={
            "data": "CIFAR-10 train split minus a stratified 10% validation split (seed "
            f"{args.seed}); threshold chosen on the validation split",
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "epochs": args.epochs,
            "seconds": round(elapsed, 1),
            "machine": machine(),
            "command": "python training/train_cifar.py " + " ".join(sys.argv[1:]),
        },
        metrics=results,
        extra={"bird_index": 1 if args.model == "seed" else cifar.BIRD, "tta": "hflip"},
    )
    files.save(path, meta, model)
    if path.resolve().parent == config.models_dir().resolve():
        print(f"exported {path}; shipped manifest updated, sha256 {runner.record_shipped(path)}")
    else:
        print(f"exported {path} sha256 {files.sha256_of(path)}")


def main(args: argparse.Namespace) -> dict:
    args = fill_defaults(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    out_dir = args.output_dir
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        line = f"{datetime.datetime.now():%H:%M:%S} {msg}"
        print(line, flush=True)
        if out_dir:
            with open(out_dir / "log.txt", "a") as f:
                f.write(line + "\n")

    log(f"args {vars(args)}  device {device}  threads {torch.get_num_threads()}")
    data = Data(args, device)
    model, arch_args = build_model(args)
    model = model.to(device).to(memory_format=torch.channels_last)
    steps_per_epoch = len(data.train[1]) // args.batch_size
    optimizer, scheduler = build_optimizer(model, args, steps_per_epoch)
    ema = EMA(model, args.ema) if args.ema else None
    start_epoch, elapsed, cpu_seconds, history = 0, 0.0, 0.0, []

    if args.resume:
        ckpt = torch.load(args.resume, map_location=device, weights_only=True)
        model.load_state_dict(ckpt["model"])
        if not args.test_only:
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["lr_scheduler"])
            g.set_state(ckpt["rng"])
            if ema is not None and "ema" in ckpt:
                ema.shadow = ckpt["ema"]
        start_epoch, elapsed, history = ckpt["epoch"] + 1, ckpt["elapsed"], ckpt["history"]
        cpu_seconds = ckpt.get("cpu_seconds", 0.0)
        log(f"resumed from {args.resume} at epoch {start_epoch} ({elapsed:.0f} s of training so far)")

    if not args.test_only:
        for epoch in range(start_epoch, args.epochs):
            t0, c0 = time.time(), time.process_time()
            loss = train_one_epoch(model, optimizer, scheduler, data, args, epoch, g, ema, log)
            elapsed += time.time() - t0
            cpu_seconds += time.process_time() - c0
            eval_model = model
            if ema is not None:
                eval_model, _ = build_model(args)
                eval_model = eval_model.to(device).to(memory_format=torch.channels_last)
                eval_model.load_state_dict(ema.shadow)
            val = evaluate(eval_model, data.val, data, args, None, tta=False)
            history.append({"epoch": epoch, "loss": loss, "val": val, "elapsed": elapsed, "cpu_seconds": cpu_seconds})
            log(
                f"epoch {epoch} done: loss {loss:.4f} val acc "
                f"{val.get('accuracy10', val['argmax']['accuracy']):.4f} val recall@fp "
                f"{val['recall_at_article_fp_rate']:.4f} ({elapsed:.0f} s training so far)"
            )
            if out_dir:
                state = {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "lr_scheduler": scheduler.state_dict(),
                    "epoch": epoch,
                    "elapsed": elapsed,
                    "cpu_seconds": cpu_seconds,
                    "history": history,
                    "rng": g.get_state(),
                    "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                }
                if ema is not None:
                    state["ema"] = ema.shadow
                save_checkpoint(out_dir / "checkpoint.pth", state)
        if ema is not None:
            model.load_state_dict(ema.shadow)

    threshold = choose_threshold(model, data, args)
    results = {
        "val": evaluate(model, data.val, data, args, threshold),
        "test": evaluate(model, data.test, data, args, threshold),
        "train_seconds": round(elapsed, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),
    }
    log("results " + json.dumps(results, indent=1))
    if out_dir:
        (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    if args.export:
        export(args.export, model, arch_args, data, args, threshold, results, elapsed)
    return results


if __name__ == "__main__":
    main(get_args_parser().parse_args())
