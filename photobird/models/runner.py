"""The one small interface between the library and the networks.

``Models.prepare(image)`` turns a decoded photo into the networks' inputs (pure CPU work, safe to run in decode
workers); ``Models.analyze(batch)`` runs a batch through the networks on the chosen device and returns, per
photo, the bird probability, the searchable labels and the embedding the library stores. Everything after the
networks is a function of that stored embedding: ``Models.score(embeddings)`` (the bird head) and
``Models.labels(embeddings)`` (every searchable word), which is how a retrained head or new word heads re-score
a whole library without decoding a single JPEG.

The networks see each photo once, whole and at its own shape (long side 384 pixels): the ImageNet backbone's
early blocks, then the everyday tail (``nets.EverydayTail``), whose last feature map gives the pooled features,
each everyday thing's best-position score and the ImageNet classes' best-position probabilities; and the CIFAR
network on a 32x32 view, for thumbnail-sized images.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from photobird import config
from photobird.media.decode import fit_long, fit_square
from photobird.models import files, nets
from photobird.models.labels import Labeller
from photobird.models.words import BIRD_WORD, Lexicon, Vocabulary, load_lexicon, load_vocabulary

BACKBONE_FILE = "backbone-efficientnet-lite0.json"
TAIL_FILE = "everyday-tail.pt"
LABELS_FILE = "label-heads.pt"
CIFAR_FILE = "cifar-resnet.pt"
HEAD_FILE = "bird-head.pt"
SEED_FILE = "seed.pt"

#: The backbone's view of a thumbnail-sized image: the square it was trained on.
THUMBNAIL_VIEW = 224
#: The shorter side photos are decoded at for analysis (and thumbnails): a 4:3 photo decodes straight to the
#: networks' 384x288 view, and a 12-megapixel JPEG still decodes at 1/8 scale.
DECODE_SIDE = 288


class DeviceError(Exception):
    """A device that is not known, or not on this machine; the message names it and the usable ones."""


def usable_devices() -> list[str]:
    """The devices the networks can run on here, as ``--device`` takes them."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    apple = ["mps"] if torch.backends.mps.is_available() else []
    return ["auto", "cpu", *(["cuda"] if gpus else []), *(f"cuda:{i}" for i in range(gpus)), *apple]


def choose_device(requested: str | None = None) -> torch.device:
    """``requested``, else ``PHOTOBIRD_DEVICE``, else CUDA when a GPU is there, else the CPU.

    Anything else is refused, with the usable ones, before a model is loaded: a device torch does not know
    ("tpu") and one this machine lacks ("cuda" without a GPU) would otherwise fail later, or not at all.
    """
    name = requested or os.environ.get("PHOTOBIRD_DEVICE") or "auto"
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    usable = usable_devices()
    if name not in usable:
        source = "" if requested else " (from PHOTOBIRD_DEVICE)"
        raise DeviceError(f"PhotoBird cannot run on the device '{name}'{source}; usable here: {', '.join(usable)}.")
    return torch.device(name)


def shipped_manifest() -> dict[str, str]:
    """sha256 of each shipped model file, as committed beside them; a file that differs is refused."""
    path = config.models_dir() / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def record_shipped(path: Path) -> str:
    """Add a model file to the shipped manifest (training scripts call this when they export)."""
    path = Path(path)
    manifest = shipped_manifest()
    manifest[path.name] = files.sha256_of(path)
    out = config.models_dir() / "manifest.json"
    out.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")
    return manifest[path.name]


def load_shipped(name: str, expect_arch: str | None = None) -> files.LoadedModel:
    path = config.models_dir() / name
    expected = shipped_manifest().get(name) if path.suffix != ".json" else None
    if path.suffix != ".json" and expected is None:
        raise files.ModelFileError(f"{path}: not listed in {config.models_dir() / 'manifest.json'}")
    return files.load(path, expect_sha256=expected, expect_arch=expect_arch)


@dataclass
class Prepared:
    """A photo ready for the networks: the backbone's view (a photo whole at its own shape, long side
    ``Models.input_size``; a thumbnail-sized image as a 224-pixel square) and the CIFAR network's 32x32 view."""

    backbone: np.ndarray  # (H, W, 3) uint8
    small: np.ndarray  # (32, 32, 3) uint8
    #: Short side of the image the views were made from (decoding never reduces a photo below 256 pixels).
    side: int = 256

    @property
    def is_small(self) -> bool:
        """A thumbnail-sized image, where the CIFAR network's verdict counts (``nets.SMALL_IMAGE_SIDES``)."""
        return self.side < nets.SMALL_IMAGE_SIDES[1]


@dataclass
class Analysis:
    bird: float  # the bird model's probability
    labels: dict[str, float]  # searchable words -> probability, most probable first
    embedding: np.ndarray  # float16, stored by the library for re-scoring
    backbone_bird: float  # the ImageNet backbone's own bird classes, summed
    small_classes: dict[str, float] = field(default_factory=dict)  # the CIFAR network's ten classes


#: Images per forward pass on a CPU (see ``Models.embed``).
CPU_CHUNK = 1


def embedding_spec(
    backbone: files.LoadedModel, tail: files.LoadedModel, small: files.LoadedModel
) -> list[dict[str, Any]]:
    """What an embedding is made of; a head trained on other embeddings is refused.

    The everyday tail's pooled features, each everyday thing's best-position score, the best-position
    log-odds of the ImageNet classes that are evidence for each thing, the CIFAR network's pooled features, then
    the networks' own verdicts and the image's size (``nets.VERDICTS``, ``nets.SIZE``), which the bird head's
    experts and gate read.
    """
    things = len(tail.meta.classes)
    return [
        {
            "model": tail.meta.arch,
            "backbone": backbone.sha256,
            "sha256": tail.sha256,
            "view": {"long_side": tail.meta.input_size, "resize": tail.meta.resize},
            "dim": int(tail.module.embed_dim),
        },
        {"model": "positions", "names": list(tail.meta.classes), "dim": things},
        {"model": "imagenet positions", "names": list(tail.meta.classes), "dim": things},
        {"model": small.meta.arch, "sha256": small.sha256, "dim": int(small.module.embed_dim)},
        {"model": "verdicts", "names": list(nets.VERDICTS), "dim": len(nets.VERDICTS), "version": 2},
        {"model": "size", "names": [nets.SIZE], "dim": 1, "small_sides": list(nets.SMALL_IMAGE_SIDES)},
    ]


def _logit(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(1e-6, 1 - 1e-6)
    return torch.log(p) - torch.log1p(-p)


def _log_odds(log_p: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """log(P(one of ``classes``) / P(any other class)) per row, from log-probabilities, without underflow."""
    return torch.logsumexp(log_p[:, classes], 1) - torch.logsumexp(log_p[:, ~classes], 1)


class SeedScorer:
    """The article's network as a bird model (``photobird classify --model seed``), for the comparison."""

    def __init__(self, device: torch.device) -> None:
        self.model = load_shipped(SEED_FILE, expect_arch="seed")
        self.device = device
        self.model.module.to(device)
        meta = self.model.meta
        self.mean = torch.tensor(meta.mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(meta.std, device=device).view(1, 3, 1, 1)
        self.bird_index = int(meta.extra.get("bird_index", 1))
        self.threshold = float(meta.threshold if meta.threshold is not None else 0.5)

    @torch.inference_mode()
    def score(self, batch: list[Prepared]) -> np.ndarray:
        x = torch.from_numpy(np.stack([p.small for p in batch])).to(self.device).permute(0, 3, 1, 2).float() / 255
        x = (x - self.mean) / self.std
        # averaged with the mirror image, as training/train_cifar.py evaluated it for the README's table
        net = self.model.module
        probs = (torch.softmax(net(x), dim=1) + torch.softmax(net(x.flip(3)), dim=1)) / 2
        return probs[:, self.bird_index].float().cpu().numpy()


class Models:
    """The shipped networks and heads, loaded once, on one device."""

    def __init__(
        self,
        device: str | torch.device | None = None,
        head: files.LoadedModel | Path | None = None,
        threads: int | None = None,
        with_head: bool = True,
        with_labels: bool = True,
        tail: files.LoadedModel | Path | None = None,
    ) -> None:
        self.device = choose_device(str(device) if device is not None else None)
        if threads:
            torch.set_num_threads(threads)
        self.backbone = load_shipped(BACKBONE_FILE, expect_arch="efficientnet-lite0")
        if tail is None:
            self.tail = load_shipped(TAIL_FILE, expect_arch="everyday-tail")
        else:
            self.tail = tail if isinstance(tail, files.LoadedModel) else files.load(tail, expect_arch="everyday-tail")
        if self.tail.meta.extra.get("backbone_sha256") != self.backbone.sha256:
            raise files.ModelFileError(f"{self.tail.path}: was fine-tuned from another backbone; refusing it")
        self.small = load_shipped(CIFAR_FILE, expect_arch="cifar-resnet")
        self.vocabulary: Vocabulary = load_vocabulary()
        self.lexicon: Lexicon = load_lexicon()
        if len(self.vocabulary.class_names) != len(self.backbone.meta.classes):
            raise files.ModelFileError("words file and backbone disagree on the number of classes")
        self.spec = embedding_spec(self.backbone, self.tail, self.small)
        self.embedding_dim = sum(p["dim"] for p in self.spec)
        self.things: tuple[str, ...] = tuple(self.tail.meta.classes)
        tail_module = self.tail.module
        assert isinstance(tail_module, nets.EverydayTail)
        self.tail_start = tail_module.start
        # What runs: copies with batch norm folded into the convolutions (same outputs to ~1e-5, one pass less
        # over each activation); the loaded modules stay on the CPU, as read from their checked files.
        self._bb_net = nets.fold_batchnorm(self.backbone.module).to(self.device)
        self._tail_net = copy.deepcopy(tail_module).eval().to(self.device)
        self._small_net = nets.fold_batchnorm(self.small.module).to(self.device)
        self._bird_mask = self._class_mask(len(self.backbone.meta.classes), self.vocabulary.bird_classes)
        self._small_bird_mask = self._class_mask(len(self.small.meta.classes), [self.small.meta.classes.index("bird")])
        # which ImageNet classes count as evidence for each thing, at every position of the feature map
        spatial = torch.zeros(len(self.backbone.meta.classes), len(self.things))
        for j, classes in enumerate(self.tail.meta.extra["imagenet_evidence"]):
            spatial[classes, j] = 1.0
        self._spatial_classes = spatial.to(self.device)
        self._bird_thing = self.things.index(BIRD_WORD)
        # the ImageNet classifier's calibration at the photo view (``train_everyday.py``: a whole photo at 384
        # pixels averages more positions than the 224 crop it was trained on, and its probabilities flatten)
        self._class_scale = float(self.tail.meta.extra.get("imagenet_temperature", 1.0))
        # one batch at a time on a GPU; on a CPU, callers may run batches side by side (one thread each)
        self._lock = threading.Lock() if self.device.type != "cpu" else contextlib.nullcontext()
        self._set_norm()
        self.head: files.LoadedModel | None = None
        if with_head:
            self.set_head(head if head is not None else load_shipped(HEAD_FILE, expect_arch="bird-head"))
        self.labeller: Labeller | None = None
        if with_labels:
            self.set_labeller(load_shipped(LABELS_FILE, expect_arch="label-heads"))

    def set_labeller(self, heads: files.LoadedModel | Path) -> None:
        """Use these label heads for every word a photo gets (``training/train_labels.py`` makes them)."""
        if not isinstance(heads, files.LoadedModel):
            heads = files.load(heads, expect_arch="label-heads")
        self.labeller = Labeller(heads, self.class_probabilities, self.vocabulary, self.lexicon, self.spec, self.device)

    def _class_mask(self, n: int, classes: Iterable[int]) -> torch.Tensor:
        mask = torch.zeros(n, dtype=torch.bool)
        mask[list(classes)] = True
        return mask.to(self.device)

    @contextlib.contextmanager
    def batch_threads(self, threads: int | None = None) -> Iterator[int]:
        """How many threads should run batches through the networks side by side, with torch set up for it
        while the block runs.

        On a CPU: one per core (or ``threads``), torch single-threaded in each, so the cores work on whole
        batches in parallel (torch's kernels release the GIL) while decoding threads keep them fed, instead of
        splitting every convolution across cores; on a GPU: one thread, feeding the device.
        """
        if self.device.type != "cpu":
            yield 1
            return
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield threads or os.cpu_count() or 1
        finally:
            torch.set_num_threads(before)

    def _set_norm(self) -> None:
        def stats(meta: files.ModelMeta) -> tuple[torch.Tensor, torch.Tensor]:
            m = torch.tensor(meta.mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
            s = torch.tensor(meta.std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
            return m, s

        self._bb_norm = stats(self.tail.meta)
        self._small_norm = stats(self.small.meta)

    # ----------------------------------------------------------------------------------------------------------
    # head

    def set_head(self, head: files.LoadedModel | Path) -> None:
        if not isinstance(head, files.LoadedModel):
            head = files.load(head, expect_arch="bird-head")
        self.check_head(head)
        head.module.to(self.device)
        self.head = head

    def check_head(self, head: files.LoadedModel) -> None:
        spec = head.meta.extra.get("embedding")
        if spec != self.spec:
            raise files.ModelFileError(
                f"{head.path}: bird head was trained on embeddings {spec!r}, but this PhotoBird computes "
                f"{self.spec!r}; refusing it"
            )

    @property
    def threshold(self) -> float:
        if self.head is None:
            raise RuntimeError("no bird head loaded")
        t = self.head.meta.threshold
        return 0.5 if t is None else float(t)

    @torch.inference_mode()
    def score(self, embeddings: np.ndarray, head: files.LoadedModel | None = None) -> np.ndarray:
        """Bird probabilities for stored embeddings (N, D): no image is decoded."""
        head = head or self.head
        if head is None:
            raise RuntimeError("no bird head loaded")
        out = np.empty(len(embeddings), dtype=np.float32)
        for i in range(0, len(embeddings), 65536):
            z = torch.from_numpy(np.asarray(embeddings[i : i + 65536], dtype=np.float32)).to(self.device)
            out[i : i + len(z)] = torch.sigmoid(head.module(z)).float().cpu().numpy()
        return out

    # ----------------------------------------------------------------------------------------------------------
    # photos

    @property
    def input_size(self) -> int:
        """The long side of the backbone's view of a photo, in pixels."""
        return int(self.tail.meta.input_size)

    def prepare(self, image: Image.Image) -> Prepared:
        """The networks' two views of an RGB photo. Pure CPU work; safe to call from worker threads.

        A photo is seen whole at its own shape; a thumbnail-sized image (short side under 96 pixels, where the
        CIFAR network's verdict counts) as the backbone's own 224-pixel square: blowing 32 pixels up to 384
        shows the backbone nothing more, at three times the cost.
        """
        if min(image.size) < nets.SMALL_IMAGE_SIDES[1]:
            bb = fit_square(image, THUMBNAIL_VIEW)
        else:
            bb = fit_long(image, self.input_size)
        small = fit_square(image, 32) if image.size != (32, 32) else image
        return Prepared(np.asarray(bb, dtype=np.uint8), np.asarray(small, dtype=np.uint8), min(image.size))

    def _tensor(self, arrays: list[np.ndarray], norm: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x = torch.from_numpy(np.stack(arrays)).to(self.device, non_blocking=True)
        x = x.permute(0, 3, 1, 2).float().div_(255)
        return ((x - norm[0]) / norm[1]).contiguous(memory_format=torch.channels_last)

    def embed(self, batch: list[Prepared]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(embeddings float32 (N, D), ImageNet class probabilities (N, 1000), CIFAR probabilities (N, 10)).

        Photos go through the backbone at their own shape, so a batch is split into runs of one shape (most
        photos of a camera share one); on a CPU into chunks of ``CPU_CHUNK``: the backbone's depthwise
        convolutions run slower per image in larger batches once the activations outgrow the cache, while the
        indexer still batches its database writes.
        """
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, p in enumerate(batch):
            groups.setdefault(p.backbone.shape, []).append(i)
        chunk = len(batch) if self.device.type != "cpu" else CPU_CHUNK
        emb = np.empty((len(batch), self.embedding_dim), np.float32)
        class_probs = np.empty((len(batch), len(self.backbone.meta.classes)), np.float32)
        small_probs = np.empty((len(batch), len(self.small.meta.classes)), np.float32)
        for idx in groups.values():
            for k in range(0, len(idx), chunk):
                part = idx[k : k + chunk]
                emb[part], class_probs[part], small_probs[part] = self._embed([batch[i] for i in part])
        return emb, class_probs, small_probs

    @torch.inference_mode()
    def _embed(self, batch: list[Prepared]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One run of photos of one shape."""
        with self._lock:
            xb = self._tensor([p.backbone for p in batch], self._bb_norm)
            maps = self._tail_net.maps(self._bb_net.lower(xb, self.tail_start))
            feats = maps.mean(dim=(2, 3))
            positions = self._tail_net.pos(maps).amax(dim=(2, 3)).float()
            tail = self._tail_net
            # the ImageNet classes at every position: the evidence for each thing at its best position
            at = tail._fc(maps.flatten(2).transpose(1, 2)).float()  # (N, positions, 1000)
            spatial = _logit((torch.softmax(at, dim=2) @ self._spatial_classes).amax(dim=1))
            class_logits = tail._fc(feats).float() * self._class_scale
            xs = self._tensor([p.small for p in batch], self._small_norm)
            sm = self._small_net
            small_feats = sm.embed(xs)
            # Thumbnail-sized images, where the CIFAR network's verdict decides, are also seen mirrored
            # (test-time augmentation); for photos its features only feed the user's retrained head.
            small = [i for i, p in enumerate(batch) if p.is_small]
            if small:
                idx = torch.tensor(small, device=xs.device)
                small_feats[idx] = (small_feats[idx] + sm.embed(xs[idx].flip(3))) / 2
            # bias-free linear classifier: the logits of the mean features are the mean logits
            small_log_p = torch.log_softmax((sm.classifier(small_feats) * sm.logit_scale).float(), dim=1)
            log_p = torch.log_softmax(class_logits, dim=1)
            verdicts = torch.stack(  # in the order of nets.VERDICTS
                [
                    _log_odds(small_log_p, self._small_bird_mask),
                    _log_odds(log_p, self._bird_mask),
                    log_p.max(dim=1).values,
                    spatial[:, self._bird_thing],
                ],
                dim=1,
            )
            side = torch.tensor([[math.log2(max(p.side, 1))] for p in batch], device=xs.device)
            emb = torch.cat([feats.float(), positions, spatial, small_feats.float(), verdicts, side], dim=1)
            return emb.cpu().numpy(), log_p.exp().cpu().numpy(), small_log_p.exp().cpu().numpy()

    @torch.no_grad()
    def class_probabilities(self, embeddings: np.ndarray) -> torch.Tensor:
        """The ImageNet classes' whole-photo probabilities from stored embeddings (the classifier is linear on
        the pooled features, which lead the embedding)."""
        z = torch.from_numpy(np.asarray(embeddings, dtype=np.float32)).to(self.device)
        logits = self._tail_net._fc(z[:, : self._tail_net.embed_dim]).float() * self._class_scale
        return torch.softmax(logits, dim=1)

    def labels(self, embeddings: np.ndarray) -> list[dict[str, float]]:
        """Every photo's searchable words with their probabilities, from stored embeddings alone."""
        if self.labeller is None:
            raise RuntimeError("no label heads loaded")
        return self.labeller.labels(embeddings)

    def analyze(self, batch: list[Prepared]) -> list[Analysis]:
        if not batch:
            return []
        emb, class_probs, small_probs = self.embed(batch)
        emb16 = emb.astype(np.float16)
        bird = self.score(emb16)
        # from the stored (float16) embedding, exactly as re-labelling the library later will
        labels = self.labels(emb16) if self.labeller is not None else [{} for _ in batch]
        bb_bird = self.vocabulary.bird_probability(class_probs)
        names = self.small.meta.classes
        return [
            Analysis(
                bird=float(bird[i]),
                labels=labels[i],
                embedding=emb16[i],
                backbone_bird=float(bb_bird[i]),
                small_classes={names[j]: round(float(small_probs[i, j]), 4) for j in np.argsort(-small_probs[i])[:3]},
            )
            for i in range(len(batch))
        ]
