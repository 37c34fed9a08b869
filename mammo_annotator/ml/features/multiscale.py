"""Multi-scale region descriptors: each grid window described at its own size and at 2x / 4x
context windows about the same centre (e.g. 112, 224 and 448 px at 200 micron).

The grid (and so region labels, IoM and FROC) is unchanged; only the features see more
context. Dense extractors pool all scales from one feature map; any other extractor is called
once per scale. The scales are part of the key, so multi- and single-scale features never mix.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .base import FeatureExtractor


def context_boxes(boxes: np.ndarray, factor: float) -> np.ndarray:
    """Boxes ``factor`` times larger about the same centres (pooling clips them to the image)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    hw, hh = (b[:, 2] - b[:, 0]) * factor / 2, (b[:, 3] - b[:, 1]) * factor / 2
    return np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=1)


class MultiScaleExtractor(FeatureExtractor):
    """Concatenated features of ``base`` over the windows scaled by each of ``scales``."""

    def __init__(self, base: FeatureExtractor, scales: Sequence[float] = (1, 2)):
        if not scales or scales[0] != 1:
            raise ValueError("scales must start with 1 (the window itself)")
        self.base, self.scales = base, tuple(float(s) for s in scales)
        tag = "-".join(f"{s:g}" for s in self.scales)
        self.name, self.version = f"{base.name}-ms{tag}", base.version

    @property
    def dim(self) -> int:
        return self.base.dim * len(self.scales)

    @property
    def key(self) -> str:
        return f"{self.base.key}+ms{'-'.join(f'{s:g}' for s in self.scales)}"

    def extract(self, pixels: np.ndarray, boxes: np.ndarray, pixel_spacing_mm: float | None = None) -> np.ndarray:
        boxes = np.asarray(boxes).reshape(-1, 4)
        sets = [boxes if s == 1 else context_boxes(boxes, s) for s in self.scales]
        if hasattr(self.base, "feature_map") and hasattr(self.base, "work_image"):
            work, f = self.base.work_image(pixels, pixel_spacing_mm)
            fmap = self.base.feature_map(work)
            parts = [self.base.pool_boxes(fmap, b, f, work.shape) for b in sets]
        else:
            parts = [self.base.extract(pixels, b, pixel_spacing_mm) for b in sets]
        return np.concatenate(parts, axis=1).astype(np.float32)
