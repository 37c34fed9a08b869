"""Batched inference: image probabilities and per-region scores from cached features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .dataset import RegionDataset
from .losses import det_log_probs, image_log_probs
from .model import TrainedModel
from .train import resolve_device, torch_threads


@dataclass
class Scores:
    """Outputs for n images; region arrays are flat, rows of image i at offsets[i]:offsets[i+1].

    p_cls columns (N, B, M) (N = 0 for the DB-Baseline, which has no normal class); p_det,
    p_maskdet and d columns (B, M). p_det is the detection softmax over all the image's regions,
    p_maskdet the one restricted to the RS top-k (what p(y_c) uses), d_c = p_cls(c) * p_det^c
    (Max-Region, whose detection branch is never trained: d_c = p_cls(c)).
    """

    image_ids: np.ndarray
    p_m: np.ndarray  # (n,)
    p_b: np.ndarray  # (n,)
    p_cls: np.ndarray  # (N, 3)
    p_det: np.ndarray  # (N, 2)
    p_maskdet: np.ndarray  # (N, 2)
    d: np.ndarray  # (N, 2)
    offsets: np.ndarray  # (n + 1,)

    def __len__(self) -> int:
        return len(self.p_m)

    @property
    def p_mb(self) -> np.ndarray:
        """MB vs N score: max(p(y_M), p(y_B))."""
        return np.maximum(self.p_m, self.p_b)

    def regions(self, i: int) -> dict[str, np.ndarray]:
        s = slice(int(self.offsets[i]), int(self.offsets[i + 1]))
        return {"p_cls": self.p_cls[s], "p_det": self.p_det[s], "p_maskdet": self.p_maskdet[s], "d": self.d[s]}

    def d_of(self, cls: str) -> np.ndarray:
        return self.d[:, 0 if cls == "B" else 1]


def score(model: TrainedModel, ds: RegionDataset, device: str = "auto", chunk_images: int = 1024,
          num_threads: int | None = None) -> Scores:
    """Score every image of ``ds`` (eval mode, no dropout), in chunks to bound memory."""
    if model.in_dim != ds.dim:
        raise ValueError(f"model expects {model.in_dim}-d features, dataset has {ds.dim}-d")
    if model.feature_key and ds.feature_key and model.feature_key != ds.feature_key:
        raise ValueError(f"model trained on features {model.feature_key!r}, dataset has {ds.feature_key!r}")
    dev = resolve_device(device)
    cfg = model.config
    head = model.head.to(dev).eval()
    n = len(ds)
    p_img = np.zeros((n, 2), dtype=np.float64)
    N = len(ds.features)
    p_cls = np.zeros((N, 3), dtype=np.float32)
    p_det = np.zeros((N, 2), dtype=np.float32)
    p_mdet = np.zeros((N, 2), dtype=np.float32)
    with torch_threads(num_threads), torch.no_grad():
        packed = ds.pack(dev)
        for a in range(0, n, chunk_images):
            idx = np.arange(a, min(n, a + chunk_images))
            data = packed if len(idx) == n else packed.batch(idx)
            out = head(data)
            ilp = image_log_probs(out, cfg)
            p_img[idx] = ilp.logp.exp().double().cpu().numpy()
            rows = slice(int(ds.offsets[idx[0]]), int(ds.offsets[idx[-1] + 1]))
            at = (data.img, data.pos)
            pc = torch.softmax(out.cls_logits, -1)[at]
            cols = [cfg.classes.index(c) if c in cfg.classes else None for c in "NBM"]
            for j, c in enumerate(cols):
                if c is not None:
                    p_cls[rows, j] = pc[:, c].cpu().numpy()
            p_det[rows] = det_log_probs(out, out.valid.unsqueeze(-1).expand(-1, -1, 2)).exp()[at].cpu().numpy()
            p_mdet[rows] = det_log_probs(out, ilp.sel).exp()[at].cpu().numpy()
    head.cpu()
    # Max-Region never trains its detection branch: it localises by p_cls(c | r) alone.
    d = p_cls[:, 1:].copy() if cfg.aggregation == "max" else p_cls[:, 1:] * p_det
    return Scores(ds.image_ids.copy(), p_img[:, 1], p_img[:, 0], p_cls, p_det, p_mdet, d, ds.offsets.copy())
