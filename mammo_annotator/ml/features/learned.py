"""A small convolutional backbone learned from the project's own mammograms, run densely.

Why small: it must train in minutes on a 2-core CPU. Why dense: one pass over the whole image
at the work spacing (200 micron), the map pooled per window (mean + max, like features/cnn.py),
so overlapping windows cost nothing extra. The patchify stem (4 x 4, stride 4) keeps full
resolution at the input, where calcifications live, while cutting the cost 16x at once.

The extractor's key carries name, version and a digest of its weights and configuration, so
cached features of two different trainings can never be mixed. Weights travel as bytes (a
dict of tensors and strings, loaded with ``torch.load(weights_only=True)``), to be stored in a
file named by that digest or in the database beside the model version that uses them.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...core.errors import MammoError
from ..train import resolve_device
from .backbones import BackboneConfig, ImageNetBackbone, LiteBackbone, SmallConvNet, build_backbone
from .efficientnet_lite import fused_for_inference
from .base import (FeatureExtractor, block_downsample, box_means, normalise_image, scale_boxes, spacing_factor,
                   within_work_budget)

FORMAT = "mammo-learned-extractor"
VERSION = "1"


class LearnedWeightsError(MammoError):
    """Bytes or a file that are not a learned extractor of this version."""


def global_pool(fmap: torch.Tensor, pool: str = "avgmax") -> torch.Tensor:
    """(B, C, h, w) -> (B, C) or (B, 2C): what dense box pooling computes for one window."""
    parts = [fmap.mean(dim=(2, 3))]
    if pool == "avgmax":
        parts.append(fmap.amax(dim=(2, 3)))
    return torch.cat(parts, 1)


def fast_box_maxima(fmap: np.ndarray, boxes: np.ndarray, scale: float) -> np.ndarray:
    """Max of each channel over each box (full-res ``boxes`` / ``scale`` -> map cells), (m, C).

    Boxes are not clipped (the map is padded with -inf instead), so grid windows and their
    context windows share one or two box sizes: one strided-1 torch max pool per size."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) / scale
    x0, y0 = np.floor(b[:, 0] + 1e-6).astype(np.int64), np.floor(b[:, 1] + 1e-6).astype(np.int64)
    x1 = np.maximum(np.ceil(b[:, 2] - 1e-6).astype(np.int64), x0 + 1)
    y1 = np.maximum(np.ceil(b[:, 3] - 1e-6).astype(np.int64), y0 + 1)
    h, w = fmap.shape[1:]
    x0, y0 = np.clip(x0, -(x1 - x0) + 1, w - 1), np.clip(y0, -(y1 - y0) + 1, h - 1)  # keep >= 1 cell inside
    pad = int(max((x1 - x0).max(), (y1 - y0).max()))
    t = torch.nn.functional.pad(torch.from_numpy(np.ascontiguousarray(fmap, dtype=np.float32))[None],
                                (pad, pad, pad, pad), value=float("-inf"))
    out = np.zeros((len(b), fmap.shape[0]), dtype=np.float32)
    sizes = np.stack([y1 - y0, x1 - x0], axis=1)
    with torch.no_grad():
        for hh, ww in np.unique(sizes, axis=0):
            sel = np.flatnonzero((sizes[:, 0] == hh) & (sizes[:, 1] == ww))
            mp = torch.nn.functional.max_pool2d
            pooled = mp(mp(t, (int(hh), 1), stride=1), (1, int(ww)), stride=1)[0].numpy()  # separable
            out[sel] = pooled[:, y0[sel] + pad, x0[sel] + pad].T
    return out


def state_digest(state: dict[str, torch.Tensor], config: dict, n: int = 12) -> str:
    """Digest of the weights (sorted keys, raw bytes) and the configuration."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:n]


class LearnedExtractor(FeatureExtractor):
    """Dense features of a trained backbone; ``mode`` names how it was trained.

    ``device="auto"`` runs on the GPU when there is one, as the frozen pretrained extractor does:
    a fine-tuned backbone's extraction and end-to-end training's frozen maps are its heaviest work.
    The key does not name the device, so features cached on either are used on both."""

    version = VERSION

    def __init__(self, net: nn.Module, cfg: BackboneConfig, mode: str, meta: dict | None = None,
                 device: str | torch.device = "auto"):
        self.device = resolve_device(device)
        self.net = net.eval().to(self.device)
        self.cfg, self.mode, self.meta = cfg, mode, dict(meta or {})
        # an EfficientNet-Lite backbone extracts through a folded, channels-last copy (1.4x faster)
        self._infer = fused_for_inference(self.net) if isinstance(net, LiteBackbone) else self.net
        self.name = f"learned-{mode}{cfg.tag}"
        self.digest = state_digest(self.net.state_dict(), {"cfg": cfg.to_json(), "mode": mode})

    @property
    def dim(self) -> int:
        return self.cfg.dim

    @property
    def inference_net(self) -> nn.Module:
        """The network ``feature_map`` runs (a Lite backbone's folded copy): frozen use only."""
        return self._infer

    @property
    def key(self) -> str:
        return f"{self.name}:{self.version}:{self.digest}"

    def factor(self, pixel_spacing_mm: float | None) -> int:
        return spacing_factor(pixel_spacing_mm, self.cfg.target_spacing_mm, self.cfg.default_factor)

    def work_image(self, pixels: np.ndarray, pixel_spacing_mm: float | None) -> tuple[np.ndarray, int]:
        f = within_work_budget(self.factor(pixel_spacing_mm), pixels.shape)
        return block_downsample(normalise_image(pixels), f), f

    def feature_map(self, work: np.ndarray) -> np.ndarray:
        """(C, h, w) map of a work-scale image, padded to a multiple of the stride."""
        s = self.cfg.stride
        h, w = work.shape
        pad = np.pad(work, ((0, -h % s), (0, -w % s)))
        with torch.no_grad():
            t = torch.from_numpy(np.ascontiguousarray(pad, dtype=np.float32))[None, None].to(self.device)
            if self._infer is not self.net:
                t = t.contiguous(memory_format=torch.channels_last)
            return self._infer(t)[0].float().cpu().numpy()

    def pool_boxes(self, fmap: np.ndarray, boxes: np.ndarray, factor: int, work_shape: tuple[int, int]) -> np.ndarray:
        cells = scale_boxes(boxes, factor * self.cfg.stride, fmap.shape[1:])
        parts = [box_means(fmap, cells)]
        if self.cfg.pool == "avgmax":
            parts.append(fast_box_maxima(fmap, boxes, factor * self.cfg.stride))
        return np.concatenate(parts, axis=1).astype(np.float32)

    def extract(self, pixels: np.ndarray, boxes: np.ndarray, pixel_spacing_mm: float | None = None) -> np.ndarray:
        boxes = np.asarray(boxes).reshape(-1, 4)
        if len(boxes) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        work, f = self.work_image(pixels, pixel_spacing_mm)
        return self.pool_boxes(self.feature_map(work), boxes, f, work.shape)

    # ------------------------------------------------------------------ persistence
    def to_bytes(self) -> bytes:
        payload = {"format": FORMAT, "version": VERSION, "mode": self.mode,
                   "config": json.dumps(self.cfg.to_json()), "meta": json.dumps(self.meta, default=str),
                   "state": {k: v.detach().cpu() for k, v in self.net.state_dict().items()}}
        buf = io.BytesIO()
        torch.save(payload, buf)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes, what: str = "learned extractor", device: str | torch.device = "auto") -> "LearnedExtractor":
        try:
            payload = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise LearnedWeightsError(f"{what}: not a weights-only learned extractor ({exc})") from exc
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise LearnedWeightsError(f"{what}: not a learned extractor")
        if payload.get("version") != VERSION:
            raise LearnedWeightsError(f"{what}: version {payload.get('version')!r}, this program reads {VERSION!r}")
        try:
            cfg = BackboneConfig.from_json(json.loads(payload["config"]))
        except (TypeError, ValueError) as exc:
            raise LearnedWeightsError(f"{what}: unusable backbone configuration ({exc})") from exc
        net = build_backbone(cfg)
        try:
            net.load_state_dict(payload["state"], strict=True)
        except RuntimeError as exc:
            raise LearnedWeightsError(f"{what}: weights do not fit the stored configuration ({exc})") from exc
        return cls(net, cfg, payload["mode"], json.loads(payload.get("meta", "{}")), device)

    def save(self, folder: str | Path) -> Path:
        """Write ``<name>-<digest>.pt`` into ``folder`` (atomic); the name is the reference."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}-{self.digest}.pt"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(self.to_bytes())
        tmp.replace(path)
        return path


def load_learned(weights: str | Path, device: str | torch.device = "auto", expect_digest: str | None = None) -> LearnedExtractor:
    """Registry builder: a learned extractor from its file; checks the digest when one is given."""
    path = Path(weights)
    if not path.is_file():
        raise LearnedWeightsError(f"{path}: learned extractor file not found")
    ext = LearnedExtractor.from_bytes(path.read_bytes(), str(path), device)
    if expect_digest and ext.digest != expect_digest:
        raise LearnedWeightsError(f"{path}: weights digest {ext.digest}, expected {expect_digest}")
    return ext


def dense_vs_patch(ext: LearnedExtractor, work: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(dense-pooled, crop-through-the-net) features of one work-scale box: a consistency check."""
    x0, y0, x1, y1 = box
    dense = ext.pool_boxes(ext.feature_map(work), np.array([box]), 1, work.shape)[0]
    with torch.no_grad():
        t = torch.from_numpy(np.ascontiguousarray(work[y0:y1, x0:x1], dtype=np.float32))[None, None]
        crop = global_pool(ext.net(t.to(ext.device)), ext.cfg.pool)[0].cpu().numpy()
    return dense, crop


__all__ = ["BackboneConfig", "SmallConvNet", "ImageNetBackbone", "build_backbone", "LearnedExtractor", "LearnedWeightsError", "load_learned",
           "global_pool", "state_digest", "fast_box_maxima"]
