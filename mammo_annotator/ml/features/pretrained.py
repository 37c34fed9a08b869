"""Region features from a frozen ImageNet EfficientNet-Lite, run densely once per image.

The whole image goes through the network once (batch norms folded, channels-last: about 0.4 s
for 1024 x 1024 on two CPU cores); the maps after the tapped stages are pooled inside each
window (mean from integral images, max from a separable max pool) and concatenated. The whole
image, not a crop around the windows: the deepest tap sees hundreds of pixels of context, and a
crop changed its pooled values by 15-20 %. Grey is copied to three channels and mapped by the
TensorFlow original's (x - 127) / 128. Scale: ``native`` pixels, ``2x`` upsampled, or ``spacing`` (resampled to
``target_spacing_mm`` when the pixel spacing is known, native otherwise). Whatever the scale, the
work image is at most ``MAX_WORK_PIXELS``: a larger one is resampled down to that size, so that
no image (a film scan at native scale, a header's wrong spacing) can exhaust memory.

The key names the architecture, taps, pooling, scale and a digest of the weights file, so
features of two configurations are never mixed in the cache.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..train import resolve_device
from .base import FeatureExtractor, box_means, least_factor, normalise_image, scale_boxes, usable_spacing
from .efficientnet_lite import LiteSpec, fused_for_inference, imagenet_input, pretrained_lite, weights_digest
from .learned import fast_box_maxima

POOLS = ("mean", "max", "meanmax")
SCALES = ("native", "2x", "spacing")


_FROZEN: dict[tuple[str, str], torch.nn.Module] = {}


def _frozen_net(arch: str, device: torch.device) -> torch.nn.Module:
    """One folded, frozen network per architecture and device for the whole process: a project
    builds its extractor often, and it is never trained (fine-tuning copies ``pretrained_lite``)."""
    key = (arch, str(device))
    if key not in _FROZEN:
        _FROZEN[key] = fused_for_inference(pretrained_lite(arch)).to(device)
    return _FROZEN[key]


# Stages 5 and 7 (strides 16 and 32, 112 + 320 channels): chosen in patient-wise CV over 11 tap sets, the
# best four again over three split seeds (docs/results.md); the probe tapped 3, 5 and 7.
DEFAULT_STAGES = (5, 7)


class PretrainedExtractor(FeatureExtractor):
    version = "1"

    def __init__(self, arch: str = "efficientnet-lite0", stages: tuple[int, ...] | list[int] = DEFAULT_STAGES,
                 pool: str = "mean", scale: str = "spacing", target_spacing_mm: float = 0.2,
                 device: str = "auto"):
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
        self.spec = LiteSpec(arch, tuple(sorted(int(s) for s in stages)))
        if not self.spec.stages or not all(1 <= s <= 7 for s in self.spec.stages):
            raise ValueError(f"stages must be among 1..7, got {stages!r}")
        if not usable_spacing(target_spacing_mm):
            raise ValueError(f"target_spacing_mm must be a positive number of millimetres, got {target_spacing_mm!r}")
        self.pool, self.scale, self.target_spacing_mm = pool, scale, float(target_spacing_mm)
        self.device = resolve_device(device)
        self.net = _frozen_net(arch, self.device)
        self.digest = weights_digest(arch)
        taps = "".join(str(s) for s in self.spec.stages)
        sc = f"spacing{self.target_spacing_mm:g}" if scale == "spacing" else scale
        self.name = f"{arch}-s{taps}-{pool}-{sc}"

    @property
    def dim(self) -> int:
        return sum(self.spec.channels()) * (2 if self.pool == "meanmax" else 1)

    @property
    def key(self) -> str:
        return f"{self.name}:{self.version}:{self.digest}"

    def factor(self, pixel_spacing_mm: float | None) -> float:
        """Full-resolution pixels per work pixel (< 1 when the image is upsampled)."""
        if self.scale == "2x":
            return 0.5
        spacing = usable_spacing(pixel_spacing_mm)
        if self.scale == "spacing" and spacing:
            return self.target_spacing_mm / spacing
        return 1.0

    def work_image(self, pixels: np.ndarray, pixel_spacing_mm: float | None) -> tuple[np.ndarray, float]:
        img = normalise_image(pixels)
        f, least = self.factor(pixel_spacing_mm), least_factor(img.shape)
        if f >= least:
            if abs(f - 1.0) < 0.02:
                return img, 1.0
            h, w = max(1, int(round(img.shape[0] / f))), max(1, int(round(img.shape[1] / f)))
        else:  # over the cap: rounded down, so that h * w <= base.MAX_WORK_PIXELS
            f = least
            h, w = max(1, int(img.shape[0] / f)), max(1, int(img.shape[1] / f))
        t = torch.from_numpy(np.ascontiguousarray(img))[None, None]
        mode = "area" if f > 1 else "bilinear"
        out = F.interpolate(t, size=(h, w), mode=mode, **({} if mode == "area" else {"align_corners": False}))
        return out[0, 0].numpy(), f

    def feature_map(self, work: np.ndarray) -> list[np.ndarray]:
        """The tapped maps (C, h, w) of a work-scale image, one pass."""
        with torch.no_grad():
            t = torch.from_numpy(np.ascontiguousarray(work, dtype=np.float32))[None, None].to(self.device)
            x = imagenet_input(t).contiguous(memory_format=torch.channels_last)
            return [m[0].float().cpu().numpy() for m in self.net.stage_maps(x, self.spec.stages)]

    def pool_boxes(self, maps: list[np.ndarray], boxes: np.ndarray, factor: float,
                   work_shape: tuple[int, int]) -> np.ndarray:
        """Full-resolution ``boxes`` pooled on the maps of a work image ``factor`` times smaller."""
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        means, maxima = [], []
        for m, stride in zip(maps, self.spec.strides()):
            if self.pool != "max":
                means.append(box_means(m, scale_boxes(b, factor * stride, m.shape[1:])))
            if self.pool != "mean":
                maxima.append(fast_box_maxima(m, b, factor * stride))
        parts = means + maxima  # all means, then all maxima
        return np.concatenate(parts, axis=1).astype(np.float32)

    def extract(self, pixels: np.ndarray, boxes: np.ndarray, pixel_spacing_mm: float | None = None) -> np.ndarray:
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if len(boxes) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        work, f = self.work_image(pixels, pixel_spacing_mm)
        return self.pool_boxes(self.feature_map(work), boxes, f, work.shape)

    def extract_crops(self, pixels: np.ndarray, boxes: np.ndarray, pixel_spacing_mm: float | None = None,
                      batch: int = 16) -> np.ndarray:
        """Per-window reference: each window cropped and run alone, its maps pooled whole."""
        work, f = self.work_image(pixels, pixel_spacing_mm)
        out = []
        wb = np.round(np.asarray(boxes, dtype=np.float64).reshape(-1, 4) / f).astype(np.int64)
        with torch.no_grad():
            for a in range(0, len(wb), batch):
                crops = np.stack([work[y0:y1, x0:x1] for x0, y0, x1, y1 in wb[a:a + batch]])
                t = torch.from_numpy(np.ascontiguousarray(crops, dtype=np.float32))[:, None].to(self.device)
                x = imagenet_input(t).contiguous(memory_format=torch.channels_last)
                maps = self.net.stage_maps(x, self.spec.stages)
                means = [m.mean(dim=(2, 3)) for m in maps]
                maxes = [m.amax(dim=(2, 3)) for m in maps]
                parts = {"mean": means, "max": maxes, "meanmax": means + maxes}[self.pool]
                out.append(torch.cat(parts, 1).cpu().numpy())
        return np.concatenate(out).astype(np.float32)
