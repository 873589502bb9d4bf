"""The networks PhotoBird runs, by architecture name.

A model file names one of these architectures and the arguments that build it; ``ARCHITECTURES`` is the only
place a name turns into a module, so a file naming anything else is refused before any weight is read.

- ``seed``: the network of Geitgey's "Machine Learning is Fun! Part 3", layer for layer.
- ``cifar-resnet``: a small modern CIFAR-10 network (batch norm, residual blocks) whose pooled features are
  one half of a photo's embedding.
- ``efficientnet-lite0``: the ImageNet-1k backbone; its pooled features are the other half, and its
  classifier gives the searchable labels.
- ``bird-head``: the bird model proper, two small experts over the stored embeddings, gated by image size.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------------------------------------------
# The article's network


class SeedNet(nn.Module):
    """Geitgey's bird / not-bird network (tflearn in the article), faithfully.

    32x32x3 -> conv 32 3x3 -> max-pool 2 -> conv 64 3x3 -> conv 64 3x3 -> max-pool 2 -> fc 512 -> dropout 0.5
    -> 2 outputs. tflearn's ``conv_2d`` defaults to 'same' padding and ReLU, as here.
    """

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.fc = nn.Linear(64 * 8 * 8, 512)
        self.dropout = nn.Dropout(0.5)
        self.classifier = nn.Linear(512, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc(torch.flatten(self.features(x), 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.embed(x)))


# --------------------------------------------------------------------------------------------------------------
# The CIFAR-trained network


class ConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.GELU(),
        )


class Stage(nn.Module):
    """Widen, halve the resolution, then a residual block: the airbench layout with a skip connection."""

    def __init__(self, c_in: int, c_out: int, res_convs: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = nn.GELU()
        self.res = nn.Sequential(*[ConvBN(c_out, c_out) for _ in range(res_convs)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn(self.pool(self.conv(x))))
        return x + self.res(x) if len(self.res) else x


class CifarResNet(nn.Module):
    """A small, fast CIFAR-10 network in the article's lineage, made modern.

    Three stages (32 -> 16 -> 8 -> 4 pixels), batch norm and GELU, a residual block per stage, global max
    pooling. ``embed`` returns the pooled features that the library stores; the linear classifier is scaled
    down (as airbench does) so early training is not dominated by overconfident logits.
    """

    def __init__(
        self,
        widths: tuple[int, int, int] | list[int] = (64, 256, 256),
        stem: int = 32,
        res_convs: int = 1,
        num_classes: int = 10,
        logit_scale: float = 1 / 9,
    ) -> None:
        super().__init__()
        w1, w2, w3 = widths
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem), nn.GELU())
        self.stages = nn.Sequential(Stage(stem, w1, res_convs), Stage(w1, w2, res_convs), Stage(w2, w3, res_convs))
        self.classifier = nn.Linear(w3, num_classes, bias=False)
        self.logit_scale = logit_scale
        self.embed_dim = w3

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return torch.amax(self.stages(self.stem(x)), dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x)) * self.logit_scale


# --------------------------------------------------------------------------------------------------------------
# The ImageNet backbone


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow's 'SAME' padding (extra pixel at the bottom/right on stride 2).

    EfficientNet-Lite's weights were trained in TensorFlow; PyTorch's symmetric padding shifts every strided
    layer by half a pixel and costs accuracy.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class MBConv(nn.Module):
    """Inverted residual block of EfficientNet-Lite (no squeeze-excite, ReLU6).

    Attribute names follow the published EfficientNet-Lite0 PyTorch weights so they load strictly.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int, folded: bool = False) -> None:
        super().__init__()
        mid = c_in * expand
        self.expand = expand != 1

        # ``folded``: the inference form (``fold_batchnorm``), each norm folded into its convolution's bias; what
        # the everyday tail is fine-tuned and shipped in
        def norm(c: int) -> nn.Module:
            return nn.Identity() if folded else _bn(c)

        if self.expand:
            self._expand_conv = SameConv2d(c_in, mid, 1, bias=folded)
            self._bn0 = norm(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=folded)
        self._bn1 = norm(mid)
        self._project_conv = SameConv2d(mid, c_out, 1, bias=folded)
        self._bn2 = norm(c_out)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


#: (repeats, kernel, stride, expand ratio, output channels) per stage of EfficientNet-B0/Lite0.
_LITE0_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)


def lite0_blocks(start: int = 0, folded: bool = False) -> list[MBConv]:
    """EfficientNet-Lite0's 16 inverted residual blocks from ``start`` on (block 11 begins stride 32)."""
    blocks: list[MBConv] = []
    c_in = 32
    for repeats, kernel, stride, expand, c_out in _LITE0_STAGES:
        for i in range(repeats):
            blocks.append(MBConv(c_in, c_out, kernel, stride if i == 0 else 1, expand, folded))
            c_in = c_out
    return blocks[start:]


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (Tan & Le, 2019; the TF-Lite friendly variant): ImageNet-1k, 4.7 M parameters."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        self._blocks = nn.ModuleList(lite0_blocks())
        self._conv_head = SameConv2d(_LITE0_STAGES[-1][-1], 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._dropout = nn.Dropout(0.2)
        self._fc = nn.Linear(1280, num_classes)
        self.embed_dim = 1280

    def lower(self, x: torch.Tensor, until: int) -> torch.Tensor:
        """The stem and the blocks before ``until`` (what the everyday tail continues from)."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks[:until]:
            x = block(x)
        return x

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn1(self._conv_head(self.lower(x, len(self._blocks)))))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self._dropout(self.embed(x)))


# --------------------------------------------------------------------------------------------------------------
# The everyday tail

#: Where the everyday tail takes over from the ImageNet backbone: block 11 starts the stride-32 stages.
TAIL_START = 11


class EverydayTail(nn.Module):
    """EfficientNet-Lite0's last blocks fine-tuned on everyday photos, with a score for each everyday thing at
    every position of the feature map.

    Why: a photo's pooled ImageNet prediction names its main subject only; people, cups and traffic lights that
    are not the subject vanish in the average. Geitgey's part 3 slides a window over the image; a convolutional
    network already computes that window at every position of its last feature map, so a 1x1 convolution
    (``pos``) trained from COCO's boxes scores each thing at each position, and the best position says whether
    the thing is anywhere in the photo. The blocks from ``start`` on (stride 32) were fine-tuned with that
    per-position loss, image-level losses for the things and the caption words, and distillation from the
    original network's ImageNet predictions (so ``_fc``, the 1,000 ImageNet classes, still means what it did).
    Everything before ``start`` is the registry package's backbone, unchanged. Stored in the folded form (batch
    norm inside the convolutions' biases), the form it was trained in.
    """

    def __init__(
        self, classes: int = 80, start: int = TAIL_START, features: int = 1280, imagenet: int = 1000, hidden: int = 0
    ) -> None:
        super().__init__()
        if not 0 < start < len(lite0_blocks()):
            raise TypeError(f"everyday tail: start {start} is not a block of EfficientNet-Lite0")
        self.start, self.hidden, self.classes = start, hidden, classes
        self._blocks = nn.ModuleList(lite0_blocks(start, folded=True))
        self._conv_head = SameConv2d(_LITE0_STAGES[-1][-1], features, 1, bias=True)
        self._fc = nn.Linear(features, imagenet)
        # per position: a logistic regression on the features, or (``hidden``) a small two-layer network
        self.pos: nn.Module = (
            nn.Sequential(nn.Conv2d(features, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, classes, 1))
            if hidden
            else nn.Conv2d(features, classes, 1)
        )
        self.embed_dim = features

    def arch_args(self) -> dict[str, Any]:
        return {
            "classes": self.classes,
            "start": self.start,
            "features": self.embed_dim,
            "imagenet": self._fc.out_features,
            "hidden": self.hidden,
        }

    def maps(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map (N, features, H, W) from the backbone's block ``start`` input."""
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._conv_head(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-position scores (logits) of the everyday things: (N, classes, H, W)."""
        return self.pos(self.maps(x))


class LabelHeads(nn.Module):
    """Every everyday word's head on a photo's stored embedding: re-scoring a library needs no image.

    For word k::

        logit_k = linear_k . standardized(z[:linear_dims]) + bias_k
                  + prior_k . [imagenet_k, spatial_k, position_k] + offset_k

    ``imagenet_k`` is the log-odds of the word's ImageNet classes in the whole-image prediction (``classes``: a
    0/1 matrix, ImageNet class x word), ``spatial_k`` the stored log-odds of those classes at the best position
    of the feature map, ``position_k`` the stored best-position score of the tail's own thing (``pos``). The
    evidence terms carry what the backbone already knows (a dog is one of 118 breeds) to words that COCO photos
    teach poorly, and the position score finds things that are not the photo's subject; the linear term learns
    the rest. ``offset`` is the calibration set on validation photos so that one threshold
    (``calibrated_at``) is every word's chosen operating point.
    """

    def __init__(
        self,
        words: int,
        linear_dims: int,
        spatial_offset: int,
        position_offset: int,
        things: int = 80,
        imagenet: int = 1000,
    ) -> None:
        super().__init__()
        self.words, self.linear_dims, self.things, self.imagenet = words, linear_dims, things, imagenet
        self.spatial_offset, self.position_offset = spatial_offset, position_offset
        self.register_buffer("mean", torch.zeros(linear_dims))
        self.register_buffer("std", torch.ones(linear_dims))
        self.register_buffer("classes", torch.zeros(imagenet, words))
        #: The tail's thing (index into the stored position and spatial scores) each word reads, or -1.
        self.register_buffer("thing", torch.full((words,), -1, dtype=torch.long))
        self.register_buffer("offset", torch.zeros(words))
        self.linear = nn.Parameter(torch.zeros(words, linear_dims))
        self.bias = nn.Parameter(torch.zeros(words))
        self.prior = nn.Parameter(torch.zeros(words, 3))

    def arch_args(self) -> dict[str, Any]:
        return {
            "words": self.words,
            "linear_dims": self.linear_dims,
            "spatial_offset": self.spatial_offset,
            "position_offset": self.position_offset,
            "things": self.things,
            "imagenet": self.imagenet,
        }

    def evidence(self, z: torch.Tensor, class_probs: torch.Tensor) -> torch.Tensor:
        """(N, words, 3): the ImageNet whole-image, best-position and tail position log-odds per word."""
        z = z.float()
        p = (class_probs.float() @ self.classes).clamp(1e-6, 1 - 1e-6)
        has_classes = (self.classes.sum(0) > 0).float()
        whole = (torch.log(p) - torch.log1p(-p)) * has_classes
        idx = self.thing.clamp(min=0)
        has_thing = (self.thing >= 0).float()
        spatial = z[:, self.spatial_offset + idx] * has_thing * has_classes
        position = z[:, self.position_offset + idx] * has_thing
        return torch.stack([whole, spatial, position], dim=2)

    def forward(self, z: torch.Tensor, class_probs: torch.Tensor, calibrated: bool = True) -> torch.Tensor:
        x = (z[:, : self.linear_dims].float() - self.mean) / self.std
        out = x @ self.linear.T + self.bias + (self.evidence(z, class_probs) * self.prior).sum(2)
        return out + self.offset if calibrated else out


# --------------------------------------------------------------------------------------------------------------
# Inference


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Identity:
    """Fold an inference-mode batch norm into the convolution before it; returns what replaces the norm."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    conv.weight = nn.Parameter(conv.weight * scale.view(-1, 1, 1, 1), requires_grad=False)
    conv.bias = nn.Parameter(bias, requires_grad=False)
    return nn.Identity()


@torch.no_grad()
def fold_batchnorm(module: nn.Module) -> nn.Module:
    """A copy of ``module`` for inference with every batch norm folded into its convolution.

    The outputs match to float rounding (about 1e-5) and a CPU makes one pass less over each activation: the
    ImageNet backbone runs about 15% faster. The shipped file and its sha256 are untouched; training never
    sees the folded copy.
    """
    m = copy.deepcopy(module).eval()
    if isinstance(m, EfficientNetLite0):
        m._bn0 = _fold(m._conv_stem, m._bn0)  # type: ignore[assignment]
        for block in m._blocks:
            assert isinstance(block, MBConv)
            if block.expand:
                block._bn0 = _fold(block._expand_conv, block._bn0)  # type: ignore[assignment]
            block._bn1 = _fold(block._depthwise_conv, block._bn1)  # type: ignore[assignment]
            block._bn2 = _fold(block._project_conv, block._bn2)  # type: ignore[assignment]
        m._bn1 = _fold(m._conv_head, m._bn1)  # type: ignore[assignment]
    elif isinstance(m, CifarResNet):
        m.stem[1] = _fold(m.stem[0], m.stem[1])
        for stage in m.stages:
            assert isinstance(stage, Stage)
            # conv -> max-pool -> norm: the norm moves before the pool only where it keeps the order of values
            if bool((stage.bn.weight > 0).all()):
                stage.bn = _fold(stage.conv, stage.bn)  # type: ignore[assignment]
            for block in stage.res:
                block[1] = _fold(block[0], block[1])
    return m


# --------------------------------------------------------------------------------------------------------------
# The bird head

#: What the last entries of every stored embedding are, after the networks' features: the networks' own bird
#: verdicts (log-odds; the best position finds a small bird in a street scene that the whole-photo average
#: misses) and how confident the backbone is, then the photo's size. Computed once at
#: indexing time from the full-precision outputs (``runner.Models.embed``).
VERDICTS = (
    "cifar bird log-odds",
    "backbone bird log-odds",
    "backbone confidence (log of its top probability)",
    "backbone bird log-odds at the best position of the feature map",
)
SIZE = "log2 of the short side, in pixels, of the image the networks were given"
#: Below the first short side an image is in the CIFAR network's world (32x32 thumbnails, where the ImageNet
#: backbone sees mostly blur); above the second it is a photo, where the backbone is the expert. In between,
#: the head blends the two experts (linearly in log2 of the side).
SMALL_IMAGE_SIDES = (48.0, 96.0)


class BirdHead(nn.Module):
    """Bird / not bird from a photo's stored embedding: two experts, chosen by the image's size.

    Why two: a head fitted on CIFAR-10 learns to trust the CIFAR network, which is right for 32x32 images and
    wrong for photos, where its features fire on many things that are not birds, while the ImageNet backbone's
    own 59 bird classes are near perfect on photos and weak on thumbnails (training/README.md has the figures).
    So each expert is a logistic regression over the same embedding, starting from the networks' verdicts::

        expert(z) = prior . verdicts(z) + linear . standardized(features(z)) + bias + offset

    The *small-image* expert is fitted on CIFAR-10; the *photo* expert starts as exactly the backbone's bird
    classes (``prior = [0, 1, 0]``) and moves only as far as the user's own labels take it. A gate on the
    image's size (``gate``: short sides in pixels) picks or blends them. ``offset`` is each expert's
    calibration, set on held-out data after fitting, so that one threshold (0.5) is each expert's chosen
    operating point. Everything is a function of the stored embedding: re-scoring a library needs no image.
    """

    SMALL, PHOTO = 0, 1

    def __init__(
        self, in_dim: int, verdicts: int = len(VERDICTS), gate: tuple[float, float] | list[float] = SMALL_IMAGE_SIDES
    ) -> None:
        super().__init__()
        features = in_dim - verdicts - 1
        if features < 1 or verdicts < 2 or gate[0] >= gate[1]:
            raise TypeError(f"bird head: in_dim {in_dim} with {verdicts} verdicts and gate {gate} is not a head")
        self.in_dim, self.features, self.verdicts = in_dim, features, verdicts
        # per expert: the standardization of the features (statistics of the data that expert was fitted on)
        self.register_buffer("mean", torch.zeros(2, features))
        self.register_buffer("std", torch.ones(2, features))
        self.register_buffer("offset", torch.zeros(2))
        self.register_buffer("gate", torch.tensor([float(gate[0]), float(gate[1])]))
        self.prior = nn.Parameter(torch.zeros(2, verdicts))
        self.linear = nn.Parameter(torch.zeros(2, features))
        self.bias = nn.Parameter(torch.zeros(2))
        with torch.no_grad():
            self.prior[self.PHOTO, 1] = 1.0  # the photo expert starts as the backbone's bird classes

    def arch_args(self) -> dict[str, Any]:
        """The arguments that rebuild this head (what a model file's metadata records)."""
        return {"in_dim": self.in_dim, "verdicts": self.verdicts, "gate": [float(v) for v in self.gate.tolist()]}

    def small_weight(self, z: torch.Tensor) -> torch.Tensor:
        """How much the small-image expert decides, per row: 1 for thumbnails, 0 for photos."""
        lo, hi = torch.log2(self.gate[0]), torch.log2(self.gate[1])
        return ((hi - z[:, -1].float()) / (hi - lo)).clamp(0.0, 1.0)

    def experts(self, z: torch.Tensor, calibrated: bool = True) -> torch.Tensor:
        """(N, 2) logits: the small-image expert's and the photo expert's."""
        z = z.float()
        w = self.linear / self.std
        out = z[:, : self.features] @ w.T - (self.mean * w).sum(1)
        out = out + z[:, self.features : self.features + self.verdicts] @ self.prior.T + self.bias
        return out + self.offset if calibrated else out

    def forward(self, z: torch.Tensor, calibrated: bool = True) -> torch.Tensor:
        e = self.experts(z, calibrated)
        g = self.small_weight(z)
        return g * e[:, self.SMALL] + (1 - g) * e[:, self.PHOTO]


# --------------------------------------------------------------------------------------------------------------
# The registry


@dataclass(frozen=True)
class Architecture:
    build: Callable[..., nn.Module]
    #: How many outputs the built module has, so a file's class list can be checked against it.
    outputs: Callable[[nn.Module], int]


def _linear_out(attr: str) -> Callable[[nn.Module], int]:
    def outputs(m: nn.Module) -> int:
        layer = m
        for part in attr.split("."):
            layer = getattr(layer, part)
        assert isinstance(layer, nn.Linear)
        return layer.out_features

    return outputs


ARCHITECTURES: dict[str, Architecture] = {
    "seed": Architecture(lambda num_classes=2: SeedNet(num_classes), _linear_out("classifier")),
    "cifar-resnet": Architecture(CifarResNet, _linear_out("classifier")),
    "efficientnet-lite0": Architecture(EfficientNetLite0, _linear_out("_fc")),
    "bird-head": Architecture(BirdHead, lambda m: 1),
    "everyday-tail": Architecture(EverydayTail, lambda m: m.classes),
    "label-heads": Architecture(LabelHeads, lambda m: m.words),
}


def build(arch: str, args: dict[str, Any] | None = None) -> nn.Module:
    if arch not in ARCHITECTURES:
        raise KeyError(arch)
    return ARCHITECTURES[arch].build(**(args or {}))
