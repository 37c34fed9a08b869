"""Dense CNN features: one forward pass over the whole downsampled image, the feature map
pooled per window (RoI average and optionally max pooling on the map), instead of one forward
pass per (overlapping) window crop. ``extract_crops`` is the per-window reference."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...core.errors import MammoError
from .base import FeatureExtractor, box_maxima, box_means, normalise_image, scale_boxes
from .nets import ARCHS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class WeightsError(MammoError):
    """A user-supplied weights file cannot be used; names the file and why."""


def file_digest(path: str | Path, n: int = 12) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:n]


def load_torchvision_weights(model: nn.Module, path: str | Path, head_prefix: str) -> None:
    """Strict key/shape check against the torchvision layout; the classifier head may be absent."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found (weights are never downloaded)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        # torch's first sentence only: the rest suggests weights_only=False, which runs the file's code
        raise WeightsError(f"{path}: not a plain state-dict file ({str(exc).strip().split('. ')[0]})") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: expected a dict of tensors (a torchvision state dict)")
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.startswith(head_prefix)]
    unexpected = [k for k in state if k not in expected]
    shapes = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or shapes:
        raise WeightsError(f"{path}: keys do not match {type(model).__name__}: missing {missing[:5]}"
                           f"{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
                           f"{'...' if len(unexpected) > 5 else ''}, wrong shape {shapes[:5]}")
    model.load_state_dict({**expected, **state}, strict=True)


class DenseCNNExtractor(FeatureExtractor):
    """A trunk mapping a (1, 3, H, W) ImageNet-normalised image to (1, C, H/stride, W/stride)."""

    version = "1"

    def __init__(self, trunk: nn.Module, stride: int, channels: int, name: str, downsample: int = 2,
                 pool: str = "avg", device: str = "cpu", in_channels: int = 3, imagenet_norm: bool = True):
        if pool not in ("avg", "avgmax"):
            raise ValueError("pool must be 'avg' or 'avgmax'")
        self.trunk = trunk.eval().to(device)
        self.stride, self.channels, self.downsample, self.pool = int(stride), int(channels), int(downsample), pool
        self.device, self.in_channels, self.imagenet_norm = torch.device(device), in_channels, imagenet_norm
        self.name = f"{name}-ds{self.downsample}-{pool}"

    @property
    def dim(self) -> int:
        return self.channels * (2 if self.pool == "avgmax" else 1)

    def _tensor(self, img: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None, None].to(self.device)
        if self.downsample > 1:
            t = F.avg_pool2d(t, self.downsample)
        t = t.expand(-1, self.in_channels, -1, -1)
        if self.imagenet_norm and self.in_channels == 3:
            mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
            std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
            t = (t - mean) / std
        return t

    def feature_map(self, pixels: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.trunk(self._tensor(normalise_image(pixels)))[0].float().cpu().numpy()

    def extract(self, pixels: np.ndarray, boxes: np.ndarray, pixel_spacing_mm: float | None = None) -> np.ndarray:
        boxes = np.asarray(boxes).reshape(-1, 4)
        fmap = self.feature_map(pixels)
        cells = scale_boxes(boxes, self.downsample * self.stride, fmap.shape[1:])
        parts = [box_means(fmap, cells)]
        if self.pool == "avgmax":
            parts.append(box_maxima(fmap, cells))
        return np.concatenate(parts, axis=1).astype(np.float32)

    def extract_crops(self, pixels: np.ndarray, boxes: np.ndarray, batch: int = 32) -> np.ndarray:
        """Per-window reference: each crop through the trunk, global pooling (same normalisation)."""
        img = normalise_image(pixels)
        out = []
        with torch.no_grad():
            for a in range(0, len(boxes), batch):
                crops = [img[int(y0):int(y1), int(x0):int(x1)] for x0, y0, x1, y1 in boxes[a:a + batch]]
                t = torch.cat([self._tensor(c) for c in crops])
                fm = self.trunk(t)
                parts = [fm.mean(dim=(2, 3))]
                if self.pool == "avgmax":
                    parts.append(fm.amax(dim=(2, 3)))
                out.append(torch.cat(parts, 1).cpu().numpy())
        return np.concatenate(out).astype(np.float32)


def imagenet_extractor(arch: str = "resnet18", weights: str | Path | None = None, layer: str | None = None,
                       downsample: int = 2, pool: str = "avg", device: str = "cpu",
                       random_init: bool = False, seed: int = 0) -> DenseCNNExtractor:
    """An ImageNet trunk from a user-supplied torchvision state-dict file (never downloaded).

    ``random_init=True`` (tests, benchmarks) builds it with random weights; it is never a default.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; known: {sorted(ARCHS)}")
    make, layers, head_prefix = ARCHS[arch]
    layer = layer or ("conv4_3" if arch == "vgg16" else "layer3")
    if layer not in layers:
        raise ValueError(f"{arch} has no feature layer {layer!r}; known: {sorted(layers)}")
    torch.manual_seed(seed)
    model = make()
    if weights is not None:
        load_torchvision_weights(model, weights, head_prefix)
        tag = f"w{file_digest(weights)}"
    elif random_init:
        tag = f"random{seed}"
    else:
        raise WeightsError(f"{arch}: no weights file given (pass weights=path to a torchvision state dict)")
    stride, channels = layers[layer]
    return DenseCNNExtractor(model.trunk(layer), stride, channels, f"{arch}-{layer}-{tag}", downsample, pool, device)
