"""Window crops and strong augmentation for training the learned backbone.

Crops are cut 1.5x larger than the window around a jittered window centre, then one batched
``affine_grid`` applies rotation (any angle), flips and a small scale change, so rotated
corners never show padding; intensity jitter (gamma, contrast, brightness, noise) follows.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

MARGIN = 1.5


def crop_windows(images: list[np.ndarray], boxes: list[np.ndarray], pairs: np.ndarray, rng: np.random.Generator,
                 patch: int, jitter: float = 0.125) -> np.ndarray:
    """(n, 1, S, S) float32 crops, S = ceil(MARGIN * patch), centred on the (jittered) windows
    ``pairs`` = (image index, box index); outside the image the image's minimum is used."""
    size = int(math.ceil(MARGIN * patch))
    out = np.empty((len(pairs), 1, size, size), dtype=np.float32)
    shifts = rng.uniform(-jitter, jitter, (len(pairs), 2)) * patch
    for k, (i, j) in enumerate(pairs):
        img = images[int(i)]
        x0, y0, x1, y1 = boxes[int(i)][int(j)]
        cx = int(round((x0 + x1) / 2 + shifts[k, 0])) - size // 2
        cy = int(round((y0 + y1) / 2 + shifts[k, 1])) - size // 2
        h, w = img.shape
        ya, yb, xa, xb = max(cy, 0), min(cy + size, h), max(cx, 0), min(cx + size, w)
        tile = out[k, 0]
        if ya > cy or xa > cx or yb < cy + size or xb < cx + size:
            tile.fill(float(img.min()))
        if yb > ya and xb > xa:
            tile[ya - cy:yb - cy, xa - cx:xb - cx] = img[ya:yb, xa:xb]
    return out


def augment(crops: torch.Tensor, patch: int, gen: torch.Generator, strong: bool = True) -> torch.Tensor:
    """(n, 1, S, S) -> (n, 1, patch, patch): random rotation, flip, scale 0.85-1.18, gamma
    0.7-1.4, contrast 0.75-1.33, brightness +-0.1, noise; ``strong=False`` only crops the centre."""
    n, _, size, _ = crops.shape
    r = patch / size
    if not strong:
        return crops[:, :, (size - patch) // 2:(size - patch) // 2 + patch, (size - patch) // 2:(size - patch) // 2 + patch]
    u = torch.rand(n, 8, generator=gen)
    ang = u[:, 0] * 2 * math.pi
    scale = torch.exp((u[:, 1] - 0.5) * 2 * math.log(1.18))
    flip = torch.where(u[:, 2] < 0.5, -1.0, 1.0)
    c, s = torch.cos(ang) * r / scale, torch.sin(ang) * r / scale
    theta = torch.stack([torch.stack([c * flip, -s, torch.zeros(n)], 1),
                         torch.stack([s * flip, c, torch.zeros(n)], 1)], 1)
    grid = F.affine_grid(theta, (n, 1, patch, patch), align_corners=False)
    x = F.grid_sample(crops, grid, mode="bilinear", padding_mode="border", align_corners=False)
    gamma = torch.exp((u[:, 3] - 0.5) * 2 * math.log(1.4)).view(n, 1, 1, 1)
    contrast = torch.exp((u[:, 4] - 0.5) * 2 * math.log(1.33)).view(n, 1, 1, 1)
    bright = ((u[:, 5] - 0.5) * 0.2).view(n, 1, 1, 1)
    x = x.clamp(min=0) ** gamma * contrast + bright
    noise = (u[:, 6] * 0.03).view(n, 1, 1, 1)
    return x + noise * torch.randn(x.shape, generator=gen)
