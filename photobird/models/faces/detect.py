"""Find the faces in a photo: MTCNN (Zhang et al. 2016), with the weights that facenet-pytorch 2.6.0 ships (MIT).

Three small networks in cascade. P-Net slides over an image pyramid and proposes boxes; R-Net re-scores
24x24 crops of them; O-Net re-scores 48x48 crops and places five landmarks. The arithmetic follows
facenet-pytorch (its crops and pyramid levels are area-resized, its box conventions 1-based like the original
MATLAB code), so the shipped weights see what they were converted for, with three deliberate differences:

- crops that reach past the image border are padded with zeros, as the original MTCNN does, where
  facenet-pytorch squeezes the part inside the image into the square (which distorts a face cut by the edge);
- the number of candidates each stage passes on is capped, so a texture that lights P-Net up everywhere costs
  a bounded time;
- O-Net must also accept the mirrored crop, which rejects some patterns that look like a face one way round.

Area resizing of many crops of different sizes is done exactly, in one vectorized gather, from a summed-area
table of the image: that is what ``interpolate(mode="area")`` computes per crop, without a Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import nms

from photobird import config
from photobird.models.files import ModelFileError, sha256_of

#: The shipped weights (byte-identical to facenet-pytorch 2.6.0's data/*.pt), by file name in models_dir().
WEIGHTS_SHA256 = {
    "mtcnn-pnet.pt": "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
    "mtcnn-rnet.pt": "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
    "mtcnn-onet.pt": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
}

#: Longer inputs are area-reduced to this first: it bounds time and memory (the summed-area table stays in
#: int32), and the app hands over 1024-px views anyway.
MAX_SIDE = 2048
#: The image pyramid's step, MTCNN's: each level is 0.709 (about 1/sqrt(2)) the size of the one before.
PYRAMID_FACTOR = 0.709
#: Crop pixels per network call on a CPU: 64 crops for R-Net, 16 for O-Net (measured best on a 2-core CPU).
CPU_BATCH_PIXELS = 64 * 24 * 24
#: Proposals kept for R-Net and for O-Net, best first. A crowd needs about 5 and 1.5 per face (a tiled crowd of 192
#: faces: 191 found with caps of 1000 and 300), and a texture that fools P-Net everywhere stays under a second.
MAX_RNET = 1500
MAX_ONET = 400


# --------------------------------------------------------------------------------------------------------------
# The networks. Attribute names are those of the shipped state dicts.


class PNet(nn.Module):
    """Fully convolutional 12x12 face/not-face classifier with box regression, stride 2 over its input."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Face probability (N, h, w) and box offsets (N, 4, h, w) per 12x12 window."""
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 2, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_1(x).softmax(1)[:, 1], self.conv4_2(x)


def _caffe_flatten(x: torch.Tensor) -> torch.Tensor:
    """Flatten as (W, H, C): the weights come from Caffe models trained on transposed (MATLAB) images."""
    return x.permute(0, 3, 2, 1).flatten(1)


class RNet(nn.Module):
    """24x24 crop -> face probability (N,) and box offsets (N, 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = self.prelu4(self.dense4(_caffe_flatten(self.prelu3(self.conv3(x)))))
        return self.dense5_1(x).softmax(1)[:, 1], self.dense5_2(x)


class ONet(nn.Module):
    """48x48 crop -> face probability (N,), box offsets (N, 4) and landmarks (N, 10: five x then five y)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
        x = self.prelu5(self.dense5(_caffe_flatten(self.prelu4(self.conv4(x)))))
        return self.dense6_1(x).softmax(1)[:, 1], self.dense6_2(x), self.dense6_3(x)


def load_net(net: nn.Module, name: str) -> nn.Module:
    """Fill ``net`` from the shipped file ``name``, refusing a file that is missing or not the one we ship."""
    path = config.models_dir() / name
    if not path.is_file():
        raise ModelFileError(f"{path}: face detector weights not found.")
    digest = sha256_of(path)
    if digest != WEIGHTS_SHA256[name]:
        raise ModelFileError(f"{path}: sha256 {digest} is not that of the shipped {name}; refusing it.")
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    return net.eval()


# --------------------------------------------------------------------------------------------------------------
# Geometry. A "box" row is (x1, y1, x2, y2, score): MTCNN's 1-based convention, where the crop of a box is the
# 0-based pixel range [trunc(x1) - 1, trunc(x2)).


def _summed_area(image: np.ndarray) -> torch.Tensor:
    """(H+1, W+1, 3) int32 running sums of a (H, W, 3) uint8 image (exact; MAX_SIDE keeps them in range).

    NumPy's in-place cumsum is several times faster here than torch's, which converts as it goes.
    """
    sat = np.zeros((image.shape[0] + 1, image.shape[1] + 1, 3), np.int32)
    sat[1:, 1:] = image
    sat.cumsum(0, out=sat)
    sat.cumsum(1, out=sat)
    return torch.from_numpy(sat)


def _bins(start: torch.Tensor, length: torch.Tensor, out: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per region, the [begin, end) of each of ``out`` output cells: adaptive average pooling's bins."""
    i = torch.arange(out)
    begin = start[:, None] + torch.div(i * length[:, None], out, rounding_mode="floor")
    end = start[:, None] - torch.div(-(i + 1) * length[:, None], out, rounding_mode="floor")
    return begin, end


def _area_resize(sat: torch.Tensor, regions: torch.Tensor, out_h: int, out_w: int) -> torch.Tensor:
    """Regions (N, 4 int: x0, y0, x1, y1, 0-based, half-open) area-resized to (N, 3, out_h, out_w) floats.

    Equal to ``interpolate(crop, mode="area")`` per region, with zeros wherever a region leaves the image.
    """
    h, w = sat.shape[0] - 1, sat.shape[1] - 1
    ys, ye = _bins(regions[:, 1], regions[:, 3] - regions[:, 1], out_h)
    xs, xe = _bins(regions[:, 0], regions[:, 2] - regions[:, 0], out_w)
    area = ((ye - ys)[:, :, None] * (xe - xs)[:, None, :]).unsqueeze(-1)
    ys, ye, xs, xe = ys.clamp(0, h), ye.clamp(0, h), xs.clamp(0, w), xe.clamp(0, w)
    flat = sat.view(-1, 3)

    def at(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return flat.index_select(0, (y[:, :, None] * (w + 1) + x[:, None, :]).flatten()).view(*area.shape[:3], 3)

    total = at(ye, xe) - at(ys, xe) - at(ye, xs) + at(ys, xs)
    return (total.float() / area).permute(0, 3, 1, 2)


def _normalize(x: torch.Tensor) -> torch.Tensor:
    """Pixel values as the networks were trained on them: (x - 127.5) / 128."""
    return (x - 127.5) * 0.0078125


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Each box grown to a square about its centre (MTCNN's ``rerec``)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(w, h)
    x1, y1 = boxes[:, 0] + (w - side) / 2, boxes[:, 1] + (h - side) / 2
    return torch.stack([x1, y1, x1 + side, y1 + side, boxes[:, 4]], 1)


def _regress(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Apply R-Net/O-Net box offsets, in units of the inclusive box size (MTCNN's ``bbreg``)."""
    size = (boxes[:, 2:4] - boxes[:, 0:2] + 1).repeat(1, 2)
    return torch.cat([boxes[:, :4] + offsets * size, boxes[:, 4:]], 1)


def _crop_regions(boxes: torch.Tensor) -> torch.Tensor:
    """The 0-based half-open pixel range each box's crop covers."""
    b = boxes[:, :4].trunc().long()
    return torch.stack([b[:, 0] - 1, b[:, 1] - 1, b[:, 2], b[:, 3]], 1)


def _nms_min(boxes: torch.Tensor, threshold: float) -> torch.Tensor:
    """Greedy NMS on intersection over the smaller box: drops a box mostly inside a better one (O-Net's last step)."""
    b = boxes.numpy().astype(np.float64)
    area = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    order = np.argsort(-b[:, 4], kind="stable")
    keep: list[int] = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        iw = np.maximum(0.0, np.minimum(b[i, 2], b[rest, 2]) - np.maximum(b[i, 0], b[rest, 0]) + 1)
        ih = np.maximum(0.0, np.minimum(b[i, 3], b[rest, 3]) - np.maximum(b[i, 1], b[rest, 1]) + 1)
        order = rest[iw * ih / np.minimum(area[i], area[rest]) <= threshold]
    return torch.tensor(keep, dtype=torch.long)


# --------------------------------------------------------------------------------------------------------------
# The detector


@dataclass(frozen=True)
class DetectedFace:
    """One face; the box may reach past the image's border when the face is cut by it."""

    box: tuple[float, float, float, float]  # left, top, right, bottom in pixels of the image given
    score: float  # O-Net probability
    landmarks: np.ndarray  # (5, 2) x, y: left eye, right eye, nose, mouth left, mouth right


class FaceDetector:
    """MTCNN over RGB photos; one instance per device, reused for every photo.

    ``min_face``: the smallest face side in pixels looked for (the pyramid starts at 12 / min_face); 32 finds
    faces of 40 px in the 1024-px view reliably. ``thresholds``: P-Net, R-Net and O-Net probabilities a
    candidate must pass; the last one is the real decision, set high so dolls, animals and textures are not
    faces. P-Net's 0.7 (MTCNN's 0.6) sends R-Net a quarter to a third fewer candidates (189 -> 148 on a 12 MP
    photo of four people, 142 -> 97 on one of none) and costs almost only faces under 20 px: on faces-dev,
    everyday-dev, 700 COCO photos of people and tiled crowds of 40-px faces it missed 1 of 678, 3 of 219, 3 of
    287 and none of the crowds' faces it found at 0.6 (one of the seven 51 px, the others 13-17 px).
    ``mirror_threshold``: O-Net must also score the mirrored crop this high (0 turns the check off).
    ``max_faces``: at most this many faces per photo, the best scored.
    """

    def __init__(
        self,
        device: torch.device,
        min_face: int = 32,
        thresholds: tuple[float, float, float] = (0.7, 0.7, 0.97),
        mirror_threshold: float = 0.9,
        max_faces: int = 200,
    ) -> None:
        self.device = device
        self.min_face = min_face
        self.thresholds = thresholds
        self.mirror_threshold = mirror_threshold
        self.max_faces = max_faces
        # Channels-last: the crops come out of the summed-area gather in that layout, and oneDNN runs these small
        # networks 1.4x (P-Net) to 3x (R-Net) faster in it (measured on a 2-core AVX2 CPU).
        self.pnet, self.rnet, self.onet = (
            load_net(net, name).to(device, memory_format=torch.channels_last)
            for net, name in ((PNet(), "mtcnn-pnet.pt"), (RNet(), "mtcnn-rnet.pt"), (ONet(), "mtcnn-onet.pt"))
        )

    def detect(self, images: list[np.ndarray]) -> list[list[DetectedFace]]:
        """Faces of each (H, W, 3) uint8 RGB image, best first; boxes and landmarks in that image's pixels."""
        with torch.inference_mode():
            return [self._detect_one(image) for image in images]

    def _detect_one(self, image: np.ndarray) -> list[DetectedFace]:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
        pixels = image
        shrink = max(image.shape[:2]) / MAX_SIDE
        if shrink > 1:
            size = (max(1, round(image.shape[0] / shrink)), max(1, round(image.shape[1] / shrink)))
            chw = torch.tensor(image).permute(2, 0, 1)[None].float()
            pixels = F.interpolate(chw, size=size, mode="area")[0].round().to(torch.uint8).permute(1, 2, 0).numpy()
        if min(pixels.shape[:2]) < 12:
            return []
        sat = _summed_area(pixels)
        boxes = self._propose(sat)
        boxes = self._refine(sat, boxes)
        faces = self._output(sat, boxes)
        if shrink > 1:
            scale_x, scale_y = image.shape[1] / pixels.shape[1], image.shape[0] / pixels.shape[0]
            faces = [_rescaled(f, scale_x, scale_y) for f in faces]
        return faces

    def _scales(self, h: int, w: int) -> list[float]:
        scales, scale = [], 12.0 / self.min_face
        while min(h, w) * scale >= 12:
            scales.append(scale)
            scale *= PYRAMID_FACTOR
        return scales

    def _run(self, net: nn.Module, crops: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``net`` over the crops; on a CPU in batches small enough for the activations to stay in its caches,
        which runs R-Net and O-Net 3-4x faster than one batch of hundreds of crops."""
        chunk = max(1, CPU_BATCH_PIXELS // (crops.shape[2] * crops.shape[3])) if self.device.type == "cpu" else None
        outs = [
            net(_normalize(c).to(self.device, memory_format=torch.channels_last))
            for c in crops.split(chunk or len(crops))
        ]
        return tuple(torch.cat(parts).cpu() for parts in zip(*outs, strict=True))

    def _propose(self, sat: torch.Tensor) -> torch.Tensor:
        """P-Net over the pyramid: candidate boxes, regressed and squared, at most MAX_RNET of them."""
        h, w = sat.shape[0] - 1, sat.shape[1] - 1
        whole = torch.tensor([[0, 0, w, h]])
        found = []
        for scale in self._scales(h, w):
            level = _area_resize(sat, whole, int(h * scale + 1), int(w * scale + 1))
            prob, offsets = self._run(self.pnet, level)
            cells = (prob[0] >= self.thresholds[0]).nonzero()
            if not len(cells):
                continue
            score = prob[0, cells[:, 0], cells[:, 1]]
            top = score.argsort(descending=True)[:MAX_RNET]
            cells, score = cells[top], score[top]
            xy = cells.flip(1).float()
            boxes = torch.cat([((2 * xy + 1) / scale).floor(), ((2 * xy + 12) / scale).floor(), score[:, None]], 1)
            offsets = offsets[0, :, cells[:, 0], cells[:, 1]].T
            keep = nms(boxes[:, :4], score, 0.5)
            found.append(torch.cat([boxes[keep], offsets[keep]], 1))
        if not found:
            return torch.zeros(0, 5)
        cand = torch.cat(found)
        cand = cand[nms(cand[:, :4], cand[:, 4], 0.7)[:MAX_RNET]]
        size = (cand[:, 2:4] - cand[:, 0:2]).repeat(1, 2)  # P-Net's offsets: units of the size without the +1
        return _square(torch.cat([cand[:, :4] + cand[:, 5:9] * size, cand[:, 4:5]], 1))

    def _refine(self, sat: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """R-Net on 24x24 crops: the survivors, re-scored, regressed and squared, at most MAX_ONET."""
        boxes = boxes[_has_pixels(boxes)]
        if not len(boxes):
            return boxes
        prob, offsets = self._run(self.rnet, _area_resize(sat, _crop_regions(boxes), 24, 24))
        passed = prob > self.thresholds[1]
        boxes = torch.cat([boxes[passed, :4], prob[passed, None]], 1)
        keep = nms(boxes[:, :4], boxes[:, 4], 0.7)[:MAX_ONET]
        return _square(_regress(boxes[keep], offsets[passed][keep]))

    def _output(self, sat: torch.Tensor, boxes: torch.Tensor) -> list[DetectedFace]:
        """O-Net on 48x48 crops: final scores, boxes and landmarks of the faces, overlaps removed.

        A face must convince O-Net twice, as it is and mirrored. Faces are near enough symmetric that the
        mirror image of a face scores about as high; on the shared photos a saddle, a painted portrait and a
        dark stage corner scored >= 0.97 only one way round (their mirror 0.45-0.88), while 256 of 259 real
        faces kept >= 0.9.
        """
        boxes = boxes[_has_pixels(boxes)]
        if not len(boxes):
            return []
        regions = _crop_regions(boxes)
        crops = _area_resize(sat, regions, 48, 48)
        prob, offsets, marks = self._run(self.onet, crops)
        passed = prob > self.thresholds[2]
        regions, marks, crops = regions[passed].float(), marks[passed], crops[passed]
        size = regions[:, 2:4] - regions[:, 0:2]
        points = torch.stack(
            [regions[:, 0:1] + marks[:, :5] * size[:, 0:1], regions[:, 1:2] + marks[:, 5:] * size[:, 1:2]], 2
        )
        boxes = _regress(torch.cat([boxes[passed, :4], prob[passed, None]], 1), offsets[passed])
        faces = []
        for i in self._nms_mirrored(boxes, crops)[: self.max_faces].tolist():
            x1, y1, x2, y2, score = boxes[i].tolist()
            faces.append(DetectedFace((x1 - 1, y1 - 1, x2, y2), score, points[i].numpy()))
        return faces

    def _nms_mirrored(self, boxes: torch.Tensor, crops: torch.Tensor) -> torch.Tensor:
        """The boxes kept by ``_nms_min`` over those whose mirrored crop also passes, best first.

        Only the boxes that NMS keeps need the mirrored check: a box that fails it is dropped and suppresses
        nothing, so NMS runs again without it, and the kept set is the same as checking every box first. On a
        photo of four people 30-55 boxes pass O-Net and 4-8 are kept: O-Net sees 4-8 mirrored crops, not 30-55.
        """
        alive = torch.ones(len(boxes), dtype=torch.bool)
        checked = torch.zeros(len(boxes), dtype=torch.bool)
        while True:
            candidates = alive.nonzero()[:, 0]
            keep = candidates[_nms_min(boxes[candidates], 0.7)]
            unchecked = keep[~checked[keep]]
            if self.mirror_threshold <= 0 or not len(unchecked):
                return keep
            mirrored = self._run(self.onet, crops[unchecked].flip(3))[0]
            checked[unchecked] = True
            alive[unchecked[mirrored < self.mirror_threshold]] = False


def _has_pixels(boxes: torch.Tensor) -> torch.Tensor:
    """Boxes whose crop is at least one pixel each way (regression can collapse a box)."""
    r = _crop_regions(boxes)
    return (r[:, 2] > r[:, 0]) & (r[:, 3] > r[:, 1])


def _rescaled(face: DetectedFace, sx: float, sy: float) -> DetectedFace:
    x1, y1, x2, y2 = face.box
    scale = np.array([sx, sy], np.float32)
    return DetectedFace((x1 * sx, y1 * sy, x2 * sx, y2 * sy), face.score, face.landmarks * scale)
