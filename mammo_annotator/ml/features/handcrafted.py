"""Hand-crafted texture / intensity features, computed densely (maps once, pooled per window).

The measured floor on mini-MIAS (what-is-known.md): better than random CNN features in every
comparison, hence the default offline extractor until a learned one beats it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .base import (FeatureExtractor, block_downsample, box_maxima, box_means, normalise_image, scale_boxes,
                   spacing_factor, usable_spacing, within_work_budget)

CONTRAST_SIGMAS = (2.0, 8.0)  # work-scale pixels
DOG_SIGMAS = (1.0, 2.0, 4.0, 8.0)
LBP_BINS = 10  # rotation-invariant uniform LBP(8, 1): 0..8 ones, 9 = non-uniform


def lbp_riu2(img: np.ndarray) -> np.ndarray:
    """Rotation-invariant uniform LBP codes (0..9) of 8 neighbours at radius 1, vectorised."""
    p = np.pad(img, 1, mode="edge")
    h, w = img.shape
    offs = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]  # circular order
    bits = np.stack([p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] >= img for dy, dx in offs]).astype(np.int8)
    transitions = np.abs(np.diff(np.concatenate([bits, bits[:1]]), axis=0)).sum(0)
    ones = bits.sum(0)
    return np.where(transitions <= 2, ones, 9).astype(np.int64)


class HandcraftedExtractor(FeatureExtractor):
    """35 values per window: intensity (mean, std, max, min); local contrast at 2 scales (mean,
    std, max); difference-of-Gaussians blob responses at 4 scales (mean, bright max, dark max);
    gradient magnitude (mean, std, max); LBP histogram (10 bins).

    Maps are computed at ``target_spacing_mm`` (block-mean downsampling; factor ``default_factor``
    when the spacing is unknown).
    """

    name = "handcrafted"
    version = "1"

    def __init__(self, target_spacing_mm: float = 0.2, default_factor: int = 2):
        if not usable_spacing(target_spacing_mm) or int(default_factor) < 1:
            raise ValueError(f"target_spacing_mm must be a positive number of millimetres and default_factor a whole "
                             f"number of at least 1, got {target_spacing_mm!r} and {default_factor!r}")
        self.target_spacing_mm = float(target_spacing_mm)
        self.default_factor = int(default_factor)
        self.name = f"handcrafted-t{self.target_spacing_mm:g}-d{self.default_factor}"

    @property
    def dim(self) -> int:
        return 4 + 3 * len(CONTRAST_SIGMAS) + 3 * len(DOG_SIGMAS) + 3 + LBP_BINS

    def factor(self, pixel_spacing_mm: float | None) -> int:
        return spacing_factor(pixel_spacing_mm, self.target_spacing_mm, self.default_factor)

    def extract(self, pixels: np.ndarray, boxes: np.ndarray, pixel_spacing_mm: float | None = None) -> np.ndarray:
        boxes = np.asarray(boxes).reshape(-1, 4)
        if len(boxes) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        f = within_work_budget(self.factor(pixel_spacing_mm), pixels.shape)
        img = block_downsample(normalise_image(pixels), f)
        cells = scale_boxes(boxes, f, img.shape)
        mean_maps, max_maps = [img, img * img], [img, -img]
        for s in CONTRAST_SIGMAS:
            c = img - ndimage.gaussian_filter(img, s)
            mean_maps += [c, c * c]
            max_maps.append(c)
        for s in DOG_SIGMAS:
            dog = ndimage.gaussian_filter(img, s) - ndimage.gaussian_filter(img, 1.6 * s)
            mean_maps.append(dog)
            max_maps += [dog, -dog]
        smooth = ndimage.gaussian_filter(img, 1.0)
        grad = np.hypot(ndimage.sobel(smooth, 0), ndimage.sobel(smooth, 1))
        mean_maps += [grad, grad * grad]
        max_maps.append(grad)
        codes = lbp_riu2(smooth)
        mean_maps += [(codes == b).astype(np.float32) for b in range(LBP_BINS)]
        mu = box_means(np.stack(mean_maps), cells)
        mx = box_maxima(np.stack(max_maps), cells)
        std = lambda m, m2: np.sqrt(np.maximum(m2 - m * m, 0.0))  # noqa: E731
        cols = [mu[:, 0], std(mu[:, 0], mu[:, 1]), mx[:, 0], -mx[:, 1]]
        k = 2
        for j in range(len(CONTRAST_SIGMAS)):
            cols += [mu[:, k], std(mu[:, k], mu[:, k + 1]), mx[:, 2 + j]]
            k += 2
        base = 2 + len(CONTRAST_SIGMAS)
        for j in range(len(DOG_SIGMAS)):
            cols += [mu[:, k], mx[:, base + 2 * j], mx[:, base + 2 * j + 1]]
            k += 1
        cols += [mu[:, k], std(mu[:, k], mu[:, k + 1]), mx[:, -1]]
        k += 2
        cols += [mu[:, k + b] for b in range(LBP_BINS)]
        return np.stack(cols, axis=1).astype(np.float32)
