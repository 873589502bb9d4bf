"""Synthetic data for CIFAR training, applied to whole batches of tensors.

Per-image PIL transforms would cost more than the small networks themselves on a 2-core CPU, so every
augmentation here works on an (N, C, H, W) float batch at once, with per-image random parameters.

The article's recipe (tflearn's ImageAugmentation): random left-right flip, random rotation up to 25 degrees,
random Gaussian blur with sigma up to 3, each applied to half of the images. The modern recipe: flip, random
translation by reflection padding and cropping, and optionally Cutout.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_flip(x: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    mask = torch.rand(x.shape[0], generator=generator, device="cpu").to(x.device) < p
    return torch.where(mask[:, None, None, None], x.flip(3), x)


def random_rotate(
    x: torch.Tensor, max_degrees: float, p: float = 0.5, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Rotate a random half of the batch by U(-max, max) degrees about the centre, filling with zeros."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(max_degrees)
    angle = torch.where(torch.rand(n, generator=generator) < p, angle, torch.zeros_like(angle))
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_blur(
    x: torch.Tensor, max_sigma: float, p: float = 0.5, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Gaussian blur with sigma ~ U(0, max_sigma) on a random half of the batch (one grouped convolution)."""
    n, c, h, w = x.shape
    sigma = torch.rand(n, generator=generator) * max_sigma
    sigma = torch.where(torch.rand(n, generator=generator) < p, sigma, torch.zeros_like(sigma))
    radius = max(1, math.ceil(3 * max_sigma))
    radius = min(radius, (min(h, w) - 1) // 2)
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    s = sigma.clamp_min(1e-3)[:, None]
    k1 = torch.exp(-(t[None, :] ** 2) / (2 * s**2))
    k1 = k1 / k1.sum(1, keepdim=True)  # sigma ~ 0 gives a delta kernel: the image unchanged
    k1 = k1.to(x.device, x.dtype)
    size = 2 * radius + 1
    xr = F.pad(x.reshape(1, n * c, h, w), [radius] * 4, mode="reflect")
    kh = k1.repeat_interleave(c, 0).reshape(n * c, 1, 1, size)
    kv = k1.repeat_interleave(c, 0).reshape(n * c, 1, size, 1)
    y = F.conv2d(F.conv2d(xr, kh, groups=n * c), kv, groups=n * c)
    return y.reshape(n, c, h, w)


def random_translate(x: torch.Tensor, pad: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random crop of the reflection-padded batch: each image shifted by up to ``pad`` pixels each way."""
    n, _, h, w = x.shape
    xp = F.pad(x, [pad] * 4, mode="reflect")
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    out = torch.empty_like(x)
    # group by shift: at most (2 pad + 1)^2 slicing operations instead of n
    key = dy * (2 * pad + 1) + dx
    for k in torch.unique(key).tolist():
        idx = (key == k).nonzero(as_tuple=True)[0].to(x.device)
        oy, ox = divmod(k, 2 * pad + 1)
        out[idx] = xp[idx, :, oy : oy + h, ox : ox + w]
    return out


def cutout(x: torch.Tensor, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero a random ``size`` x ``size`` square in every image (DeVries & Taylor, 2017)."""
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n,), generator=generator)
    cx = torch.randint(0, w, (n,), generator=generator)
    ys = torch.arange(h)[None, :]
    xs = torch.arange(w)[None, :]
    my = ((ys - cy[:, None]).abs() <= size // 2)[:, :, None]
    mx = ((xs - cx[:, None]).abs() <= size // 2)[:, None, :]
    mask = (my & mx)[:, None].to(x.device)
    return x.masked_fill(mask, 0.0)
