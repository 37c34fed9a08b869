"""Training the learned backbone on windows of the project's images (CPU-sized budgets).

Modes:
* ``supervised``: window targets from the region labels that contours give (M windows are
  positive; BN windows and every window of an image whose weak label says "no malignant" are
  negative) plus a multiple-instance term on the weak image labels (a bag of random windows per
  image, log-mean-exp pooled), with strong augmentation. With no contour at all it is pure MIL.
* ``simclr``: contrastive (NT-Xent) on two augmentations of random windows; no label is read.

What it may see is exactly a ``TrainImages``: pixels, window boxes, weak labels and region labels
of the images the caller allows, never lesion outlines (see ``training_images``). Every step is
a pure function of (seed, step), so a run resumed from its checkpoint continues identically.
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..dataset import REGION_BN, REGION_M, RegionDataset
from ..train import CancelToken, resolve_device, torch_threads
from .augment import augment, crop_windows
from .cnn import file_digest
from .efficientnet_lite import weights_digest
from .learned import BackboneConfig, LearnedExtractor, build_backbone, global_pool

StepProgress = Callable[[int, int, float, float], None]  # (step, total, loss, elapsed_s)
MODES = ("supervised", "simclr")


@dataclass(frozen=True)
class ExtractorTrainConfig:
    mode: str = "supervised"
    steps: int = 300
    batch: int = 48  # windows per step (simclr: pairs per step)
    mil_images: int = 4  # supervised: weakly labelled images per step ...
    bag: int = 8  # ... each with this many random windows
    mil_weight: float = 0.5
    lr: float = 2e-3
    weight_decay: float = 1e-4
    temperature: float = 0.2
    seed: int = 0
    device: str = "auto"
    num_threads: int | None = None
    checkpoint_every: int = 50
    context: int = 0  # work px of context around each training window; features pool the window cells only

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class TrainImages:
    """Work-scale images and what the trainer may know about them (no lesion outlines)."""

    images: list[np.ndarray]
    boxes: list[np.ndarray]  # work-scale (m, 4) int
    labels: list[np.ndarray | None]  # per window 1 = M, 0 = BN, -1 ignored; None = no local annotation
    y_m: np.ndarray
    y_b: np.ndarray
    image_ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)


def training_images(ds: RegionDataset, work_of: Callable[[str], tuple[np.ndarray, int]]) -> TrainImages:
    """The trainer's view of ``ds``: region labels only where ``ds.has_local`` (the caller has
    already chosen which images keep them), weak labels, and pixels from ``work_of(image_id)``
    -> (work-scale image, downsampling factor). ``ds.lesions`` is never read."""
    images, boxes, labels = [], [], []
    for i in range(len(ds)):
        work, f = work_of(str(ds.image_ids[i]))
        images.append(work)
        boxes.append(np.round(ds.boxes[ds.region_slice(i)] / f).astype(np.int64))
        labels.append(ds.region_labels[ds.region_slice(i)].copy() if ds.has_local[i] else None)
    return TrainImages(images, boxes, labels, ds.y_m.copy(), ds.y_b.copy(), [str(x) for x in ds.image_ids])


@dataclass
class ExtractorTrainResult:
    status: str  # done | cancelled
    extractor: LearnedExtractor
    history: list[float]
    steps_run: int
    elapsed_s: float
    resumed_from: int = 0


def _pools(data: TrainImages) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(img, box) pairs: labelled-M windows, negative windows, all windows."""
    pos, neg, every = [], [], []
    for i, (b, lab) in enumerate(zip(data.boxes, data.labels)):
        idx = np.arange(len(b))
        pairs = np.stack([np.full(len(b), i), idx], 1)
        every.append(pairs)
        if lab is not None:
            pos.append(pairs[lab == REGION_M])
            neg.append(pairs[lab == REGION_BN])
        elif data.y_m[i] == 0:
            neg.append(pairs)
    cat = lambda xs: np.concatenate(xs) if xs else np.zeros((0, 2), np.int64)  # noqa: E731
    return cat(pos), cat(neg), cat(every)


def _lr(step: int, cfg: ExtractorTrainConfig) -> float:
    warm = max(1, cfg.steps // 20)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = (step - warm) / max(1, cfg.steps - warm)
    return cfg.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))


def _bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy over the known (non-NaN) targets, 0 when none is known. Masked,
    not indexed or branched on the data, so that a GPU never waits for the host here."""
    known = ~torch.isnan(target)
    per = F.binary_cross_entropy_with_logits(logits, torch.where(known, target, torch.zeros_like(target)),
                                             reduction="none")
    return (per * known).sum() / known.sum().clamp_min(1)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR loss: each view must pick its partner among the 2N - 1 others."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = len(z1)
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


class _Trainer:
    def __init__(self, data: TrainImages, cfg: ExtractorTrainConfig, bcfg: BackboneConfig, patch: int,
                 net: nn.Module, device: torch.device):
        self.data, self.cfg, self.bcfg, self.patch, self.device = data, cfg, bcfg, patch, device
        self.net = net.to(device)
        self.pos, self.neg, self.every = _pools(data)
        if cfg.mode == "supervised":
            self.aux: nn.Module = nn.Linear(bcfg.dim, 2)
        else:
            self.aux = nn.Sequential(nn.Linear(bcfg.dim, 128), nn.ReLU(), nn.Linear(128, 64))
        self.aux.to(device)
        self.weak = np.flatnonzero(~np.isnan(data.y_m))

    def embed(self, pairs: np.ndarray, rng: np.random.Generator, gen: torch.Generator) -> torch.Tensor:
        ctx = self.cfg.context
        side = self.patch + 2 * ctx
        crops = crop_windows(self.data.images, self.data.boxes, pairs, rng, side)
        x = augment(torch.from_numpy(crops), side, gen).to(self.device)
        fmap = self.net(x)
        if ctx:  # pool the window's cells only, as dense extraction does (no crop-border effects)
            s = self.bcfg.stride
            a, b = ctx // s, (ctx + self.patch + s - 1) // s
            fmap = fmap[:, :, a:b, a:b]
        return global_pool(fmap, self.bcfg.pool)

    def loss(self, step: int) -> torch.Tensor:
        cfg = self.cfg
        rng = np.random.default_rng([cfg.seed, step])
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        if cfg.mode == "simclr":
            pairs = self.every[rng.integers(0, len(self.every), cfg.batch)]
            z1 = self.aux(self.embed(pairs, rng, gen))
            z2 = self.aux(self.embed(pairs, rng, gen))
            return nt_xent(z1, z2, cfg.temperature)
        n_pos = cfg.batch // 3 if len(self.pos) else 0
        parts, t_m = [], []
        if n_pos:
            parts.append(self.pos[rng.integers(0, len(self.pos), n_pos)])
            t_m += [1.0] * n_pos
        if len(self.neg):
            parts.append(self.neg[rng.integers(0, len(self.neg), cfg.batch - n_pos)])
            t_m += [0.0] * (cfg.batch - n_pos)
        bags = []
        if cfg.mil_images and len(self.weak):
            pos_img = self.weak[self.data.y_m[self.weak] == 1]
            half = cfg.mil_images // 2 if len(pos_img) else 0
            chosen = np.concatenate([rng.choice(pos_img, half) if half else np.zeros(0, np.int64),
                                     rng.choice(self.weak, cfg.mil_images - half)]).astype(np.int64)
            for i in chosen:
                bags.append(np.stack([np.full(cfg.bag, i), rng.integers(0, len(self.data.boxes[i]), cfg.bag)], 1))
        pairs = np.concatenate(parts + bags) if parts or bags else self.every[:1]
        logits = self.aux(self.embed(pairs, rng, gen))  # (n, 2): columns (B, M)
        n_win = len(t_m)
        loss = logits.sum() * 0.0
        if n_win:
            yb = self.data.y_b[pairs[:n_win, 0]]
            t_b = torch.tensor(np.where(yb == 0, 0.0, np.nan), dtype=torch.float32, device=self.device)
            loss = _bce(logits[:n_win, 1], torch.tensor(t_m, device=self.device)) + 0.5 * _bce(logits[:n_win, 0], t_b)
        if bags:
            bag_logits = logits[n_win:].view(len(bags), cfg.bag, 2)
            img_logit = torch.logsumexp(bag_logits, dim=1) - math.log(cfg.bag)
            imgs = np.array([b[0, 0] for b in bags])
            y = torch.tensor(np.stack([self.data.y_b[imgs], self.data.y_m[imgs]], 1), dtype=torch.float32,
                             device=self.device)
            loss = loss + cfg.mil_weight * _bce(img_logit, y)
        return loss


def _checkpoint_tag(cfg: ExtractorTrainConfig, bcfg: BackboneConfig, origin: str) -> str:
    """What a checkpoint must match to be resumed: training and backbone configuration, and start."""
    return repr((cfg.to_json(), bcfg.to_json(), origin))


def _save_checkpoint(path: Path, tr: _Trainer, opt: torch.optim.Optimizer, step: int, history: list[float],
                     tag: str) -> None:
    payload = {"config": tag, "step": step, "net": tr.net.state_dict(), "aux": tr.aux.state_dict(),
               "opt": opt.state_dict(), "history": torch.tensor(history, dtype=torch.float64)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def train_extractor(data: TrainImages, cfg: ExtractorTrainConfig = ExtractorTrainConfig(),
                    bcfg: BackboneConfig = BackboneConfig(), *, patch: int = 112,
                    progress: StepProgress | None = None, cancel: CancelToken | None = None,
                    checkpoint: str | Path | None = None, imagenet_weights: str | Path | None = None,
                    init: LearnedExtractor | None = None) -> ExtractorTrainResult:
    """Train a backbone; ``patch`` = window side in work pixels. A checkpoint with the same
    config is resumed from; a stop saves it and returns status "cancelled".

    ``imagenet_weights``: a torchvision state-dict file for ``bcfg.arch`` (resnet18/34/50,
    vgg16), or "packaged" for an EfficientNet-Lite: the mode then fine-tunes that ImageNet
    trunk instead of training the small net from scratch. ``init``: continue from this extractor's weights and backbone configuration
    (a backbone refresh after more contours)."""
    if init is not None:
        if imagenet_weights is not None:
            raise ValueError("give either an initial extractor or ImageNet weights, not both")
        bcfg = init.cfg
    if len(data) == 0:
        raise ValueError("no training images")
    torch.manual_seed(cfg.seed)  # the small net's initial weights
    start_net = copy.deepcopy(init.net) if init is not None else build_backbone(bcfg, imagenet_weights)
    if init is not None:
        origin = init.key
    elif imagenet_weights == "packaged":
        origin = f"imagenet:{bcfg.arch}:{weights_digest(bcfg.arch)}"
    else:
        origin = f"imagenet:{file_digest(imagenet_weights)}" if imagenet_weights else "scratch"
    t0 = time.perf_counter()
    device = resolve_device(cfg.device)
    with torch_threads(cfg.num_threads):
        torch.manual_seed(cfg.seed)
        tr = _Trainer(data, cfg, bcfg, patch, start_net.train(), device)
        params = list(tr.net.parameters()) + list(tr.aux.parameters())
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        start, history = 0, []
        ckpt = Path(checkpoint) if checkpoint else None
        tag = _checkpoint_tag(cfg, bcfg, origin)
        if ckpt is not None and ckpt.is_file():
            state = torch.load(ckpt, map_location=device, weights_only=True)
            if state.get("config") == tag:
                tr.net.load_state_dict(state["net"])
                tr.aux.load_state_dict(state["aux"])
                opt.load_state_dict(state["opt"])
                start, history = int(state["step"]), [float(v) for v in state["history"]]
        status = "done"
        tr.net.train()
        for step in range(start, cfg.steps):
            if cancel is not None and cancel.is_set():
                status = "cancelled"
                break
            for g in opt.param_groups:
                g["lr"] = _lr(step, cfg)
            loss = tr.loss(step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            history.append(float(loss.detach()))
            if ckpt is not None and (step + 1) % cfg.checkpoint_every == 0:
                _save_checkpoint(ckpt, tr, opt, step + 1, history, tag)
            if progress is not None:
                progress(step + 1, cfg.steps, history[-1], time.perf_counter() - t0)
        steps_run = len(history)
        if ckpt is not None and status == "cancelled":
            _save_checkpoint(ckpt, tr, opt, steps_run, history, tag)
        tr.net.eval()  # the extractor below puts it on its own device
    meta = {"train": cfg.to_json(), "n_images": len(data), "start": origin, "n_pos_windows": int(len(tr.pos)),
            "n_neg_windows": int(len(tr.neg)), "train_seconds": round(time.perf_counter() - t0, 2)}
    ext = LearnedExtractor(tr.net, bcfg, cfg.mode, meta)
    return ExtractorTrainResult(status, ext, history, steps_run, time.perf_counter() - t0, start)


def subset_images(data: TrainImages, idx: Sequence[int]) -> TrainImages:
    idx = list(idx)
    return TrainImages([data.images[i] for i in idx], [data.boxes[i] for i in idx], [data.labels[i] for i in idx],
                       data.y_m[idx], data.y_b[idx], [data.image_ids[i] for i in idx] if data.image_ids else [])
