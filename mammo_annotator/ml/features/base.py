"""The extractor interface, image normalisation and dense box pooling shared by all extractors.

Every extractor computes maps over the whole (downsampled) image once and pools them per
window: box means come from integral images, box maxima from one separable max filter per
window size, so the cost does not grow with the number of (overlapping) windows.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np
from scipy import ndimage


class FeatureExtractor(ABC):
    """name + version identify the features; ``key`` is stored beside cached features so that
    features of different extractors (or versions, weights, options) are never mixed."""

    name: str = "abstract"
    version: str = "0"

    @property
    @abstractmethod
    def dim(self) -> int: ...

    @property
    def key(self) -> str:
        return f"{self.name}:{self.version}"

    @abstractmethod
    def extract(self, pixels: np.ndarray, boxes: np.ndarray, pixel_spacing_mm: float | None = None) -> np.ndarray:
        """(m, dim) float32 features of the windows ``boxes`` (m x 4: x0, y0, x1, y1, full-res px)."""


def usable_spacing(pixel_spacing_mm: float | None) -> float | None:
    """The spacing when it is a positive finite number, else None (unknown): a project made before
    imports checked spacings may hold an infinite or NaN one, and a scale factor made from it
    would be zero or NaN."""
    if pixel_spacing_mm is None:
        return None
    s = float(pixel_spacing_mm)
    return s if math.isfinite(s) and s > 0 else None


# The largest work image an extractor runs on (4096 x 4096): a 4096 x 3328 full field still runs at
# native scale, about 2.8 GB and 11 s for the pretrained network on two cores, and 0.2 mm images of
# any real breast are a tenth of it. A larger one (a film scan with no spacing, a header's wrong
# spacing) is resampled down to it, so that no image can exhaust memory.
MAX_WORK_PIXELS = 4096 * 4096


def spacing_factor(pixel_spacing_mm: float | None, target_spacing_mm: float, default: int) -> int:
    """Whole-pixel downsampling to about ``target_spacing_mm`` (never up); ``default`` when the
    spacing is unknown."""
    spacing = usable_spacing(pixel_spacing_mm)
    return max(1, int(round(target_spacing_mm / spacing))) if spacing else default


def least_factor(shape: tuple[int, ...]) -> float:
    """The smallest downsampling that keeps a ``shape`` image's work image within MAX_WORK_PIXELS."""
    return math.sqrt(shape[0] * shape[1] / MAX_WORK_PIXELS)


def within_work_budget(factor: int, shape: tuple[int, ...]) -> int:
    """Whole-pixel ``factor``, raised where the work image would exceed MAX_WORK_PIXELS."""
    return max(factor, math.ceil(least_factor(shape)))


def normalise_image(pixels: np.ndarray, lo_pct: float = 1.0, hi_pct: float = 99.5) -> np.ndarray:
    """Float32 in about [0, 1] from robust percentiles of the non-zero pixels (the background of
    a mammogram is mostly zero), so bit depth and exposure do not change the features."""
    img = np.asarray(pixels, dtype=np.float32)
    sample = img[::4, ::4]
    fg = sample[sample > sample.min()]
    ref = fg if fg.size > 100 else sample.ravel()
    lo, hi = np.percentile(ref, [lo_pct, hi_pct]) if ref.size else (0.0, 1.0)
    return np.clip((img - lo) / max(float(hi - lo), 1e-6), -0.5, 1.5).astype(np.float32)


def block_downsample(img: np.ndarray, factor: int) -> np.ndarray:
    """Mean over factor x factor blocks (the border remainder is dropped)."""
    if factor <= 1:
        return img
    h, w = (img.shape[0] // factor) * factor, (img.shape[1] // factor) * factor
    return img[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3)).astype(np.float32)


def scale_boxes(boxes: np.ndarray, scale: float, shape: tuple[int, int]) -> np.ndarray:
    """Full-resolution boxes -> integer cells of a map ``scale`` times smaller (>= 1 cell each)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) / scale
    h, w = shape
    x0 = np.clip(np.floor(b[:, 0] + 1e-6), 0, w - 1)
    y0 = np.clip(np.floor(b[:, 1] + 1e-6), 0, h - 1)
    x1 = np.clip(np.ceil(b[:, 2] - 1e-6), x0 + 1, w)
    y1 = np.clip(np.ceil(b[:, 3] - 1e-6), y0 + 1, h)
    return np.stack([x0, y0, x1, y1], axis=1).astype(np.int64)


def box_means(maps: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Mean of each map (C, H, W) over each box (m, 4 cells) via one integral image: (m, C)."""
    c, h, w = maps.shape
    integral = np.zeros((c, h + 1, w + 1), dtype=np.float64)
    integral[:, 1:, 1:] = maps.astype(np.float64).cumsum(1).cumsum(2)
    x0, y0, x1, y1 = cells.T
    s = integral[:, y1, x1] - integral[:, y0, x1] - integral[:, y1, x0] + integral[:, y0, x0]
    return (s / ((x1 - x0) * (y1 - y0))).T


def box_maxima(maps: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Max of each map over each box: one max filter per distinct box size (grid windows share
    one), read at the box centre; (m, C)."""
    out = np.zeros((len(cells), maps.shape[0]), dtype=np.float64)
    sizes = np.stack([cells[:, 3] - cells[:, 1], cells[:, 2] - cells[:, 0]], axis=1)
    for hh, ww in np.unique(sizes, axis=0):
        sel = np.flatnonzero((sizes[:, 0] == hh) & (sizes[:, 1] == ww))
        cy, cx = cells[sel, 1] + hh // 2, cells[sel, 0] + ww // 2
        for j, m in enumerate(maps):
            out[sel, j] = ndimage.maximum_filter(m, size=(int(hh), int(ww)), mode="nearest")[cy, cx]
    return out
