"""Training loop for the heads: Adam + L2, dropout, mini-batches of whole images, a warmup +
cosine learning-rate schedule, early stopping on a patient-wise validation split, warm start,
progress callback, cancel token and divergence detection.

Speed: the shared FC runs on flat region rows (no compute on padding), the top-k masks and
softmaxes are batched tensors, and mini-batches are gathered with vectorised indices, so an
epoch has no Python loop over images.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator, Protocol

import numpy as np
import torch

from .dataset import PackedData, RegionDataset, concat_datasets
from .losses import ObjectiveWeights, objective
from .model import DualBranchHead, HeadConfig, TrainedModel

ProgressFn = Callable[[int, int, float, float], None]  # (epoch, n_epochs, loss, elapsed_s)


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (plain values; stored with the model).

    Defaults were chosen on the 3,000 x 200 x 128 synthetic benchmark (benchmarks/bench_heads.py):
    lr 1e-2 with warmup + cosine decay and batches of 128 images reaches, in 10 epochs, the test
    AUROC of a 60-epoch lr-3e-3 run (the paper's 1e-4 needs hundreds of epochs).
    """

    epochs: int = 10
    lr: float = 1e-2
    weight_decay: float = 1e-4  # Adam's coupled L2 penalty (the paper's "l2-regularization")
    batch_size: int | None = 128  # images per step, with all their regions; None = full batch
    warmup_frac: float = 0.05
    min_lr_frac: float = 0.05
    seed: int = 0
    device: str = "auto"
    num_threads: int | None = None  # None: all cores
    val_fraction: float = 0.0  # patient-wise validation split for early stopping (0 = none)
    patience: int = 5  # epochs without validation improvement before stopping
    region_dropout: float = 0.0  # feature-level augmentation: drop each region from the softmaxes w.p.
    # the shared FC in bfloat16 on CPU (rows cast once); None: where the CPU has native bfloat16 matmuls
    # (1.8x faster training here, the same accuracy: docs/results.md). False: float32 throughout.
    bf16: bool | None = None

    def to_json(self) -> dict:
        return asdict(self)


# a warm retrain of a 3,000-image project (ml/warm.py scales the epochs with the project and picks the
# images that join every batch): one epoch at lr 3e-3 took in new contours (docs/results.md, "Warm retrain")
WARM_START = TrainConfig(epochs=1, lr=3e-3, warmup_frac=0.0)


@dataclass
class TrainResult:
    status: str  # "done" | "cancelled" | "diverged"
    model: TrainedModel | None
    history: list[dict] = field(default_factory=list)
    epochs_run: int = 0
    best_epoch: int = -1
    elapsed_s: float = 0.0
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "done"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Use n intra-op threads (default: every core) and restore the caller's setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, n or os.cpu_count() or 1))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def patient_split(ds: RegionDataset, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) image indices with no patient on both sides."""
    patients = np.array(sorted(set(ds.patient_ids.tolist())), dtype=object)
    rng = np.random.default_rng(seed)
    n_val = int(round(fraction * len(patients)))
    if fraction <= 0 or n_val == 0 or n_val >= len(patients):
        return np.arange(len(ds)), np.zeros(0, dtype=np.int64)
    val_p = set(rng.choice(patients, n_val, replace=False).tolist())
    is_val = np.array([p in val_p for p in ds.patient_ids])
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


NORMALISER_ROWS = 65_536


def feature_normaliser(x: torch.Tensor, seed: int = 0, max_rows: int = NORMALISER_ROWS) -> tuple[torch.Tensor, torch.Tensor]:
    """Column mean and std of the region features, from a seeded sample of ``max_rows`` rows when
    there are more: a standardisation needs two digits, and torch's column std over 600,000 rows
    took a tenth of a whole training. Up to ``max_rows`` rows every row is used."""
    if len(x) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(x), max_rows, replace=False))
        x = x[torch.from_numpy(rows)]
    if len(x) < 2:  # one region (a one-window breast): no spread to measure, and torch's std would be NaN
        return x.mean(0), torch.ones(x.shape[1], dtype=x.dtype, device=x.device)
    return x.mean(0), x.std(0)


def standardised(head: DualBranchHead, x: torch.Tensor, dtype: torch.dtype, chunk: int = 8192) -> torch.Tensor:
    """The head's standardisation of ``x`` in ``dtype``, in cache-sized chunks: one pass over the
    rows instead of a subtraction, a division and a cast that each read and write them all."""
    out = torch.empty(x.shape, dtype=dtype, device=x.device)
    with torch.no_grad():
        for a in range(0, len(x), chunk):
            out[a:a + chunk] = head.normalise(x[a:a + chunk])
    return out


def _lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    warm = int(cfg.warmup_frac * total)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * t)))


def _drop_regions(data: PackedData, p: float, gen: torch.Generator) -> PackedData:
    """Random subset of each image's regions (at least one kept): cheap feature-level augmentation."""
    r = torch.rand(data.valid.shape, generator=gen, device="cpu").to(data.valid.device)
    r = torch.where(data.valid, r, torch.full_like(r, -1.0))
    keep = (r > p) | (r == r.amax(dim=1, keepdim=True))
    return dataclasses.replace(data, valid=data.valid & keep)


def use_bf16(setting: bool | None, device: torch.device) -> bool:
    """Whether a training runs its shared FC in bfloat16: only on CPU, and by default only where
    oneDNN has native bfloat16 kernels (emulated ones would be slower than float32)."""
    if device.type != "cpu" or setting is False:
        return False
    if setting is None:
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return True


def _loss(head: DualBranchHead, data: PackedData, cfg: HeadConfig, w: ObjectiveWeights, scale: float) -> torch.Tensor:
    # the shared FC runs in the dtype of the cached rows (bfloat16 or float32), the logits in float32
    return objective(head(data, normalised=True), data, cfg, w, scale)[0]


def evaluate_loss(head: DualBranchHead, ds: RegionDataset, cfg: HeadConfig, device: torch.device) -> float:
    """The objective (per the dataset's own normalisers) in eval mode: for validation."""
    head.eval()
    with torch.no_grad():
        data = ds.pack(device)
        return float(objective(head(data), data, cfg, ObjectiveWeights.from_dataset(ds, cfg))[0])


def train(ds: RegionDataset, cfg: HeadConfig, tcfg: TrainConfig = TrainConfig(), *,
          init: TrainedModel | None = None, progress: ProgressFn | None = None,
          cancel: CancelToken | None = None, extra_views: list[RegionDataset] | None = None,
          focus: np.ndarray | None = None) -> TrainResult:
    """Train a head on ``ds`` (deterministic given ``tcfg.seed`` on CPU).

    init: warm start from a previous model (same input dim and head shape; its feature
    normaliser is kept). extra_views: precomputed feature sets of the same images seen
    differently (e.g. flipped), appended to the training images as augmentation. focus: indices
    of ``ds`` that join every batch: a warm retrain after new contours sees those images at
    every step, where a plain epoch shows each of them once among thousands.
    """
    t0 = time.perf_counter()
    device = resolve_device(tcfg.device)
    torch.manual_seed(tcfg.seed)
    gen = torch.Generator().manual_seed(tcfg.seed)
    rng = np.random.default_rng(tcfg.seed)
    if init is not None and init.feature_key and ds.feature_key and init.feature_key != ds.feature_key:
        raise ValueError(f"warm start from a model on features {init.feature_key!r}, data has {ds.feature_key!r}")
    tr_idx, va_idx = patient_split(ds, tcfg.val_fraction, tcfg.seed)
    train_ds = ds.subset(tr_idx) if len(va_idx) else ds
    val_ds = ds.subset(va_idx) if len(va_idx) else None
    focus_idx = np.zeros(0, dtype=np.int64)
    if focus is not None and len(focus):
        pos = np.full(len(ds), -1)
        pos[tr_idx] = np.arange(len(tr_idx))
        focus_idx = pos[np.unique(np.asarray(focus, dtype=np.int64))]
        focus_idx = focus_idx[focus_idx >= 0]  # a validation image never joins a training batch
    if extra_views:
        train_ds = concat_datasets([train_ds] + [v.subset(tr_idx) if len(va_idx) else v for v in extra_views])
    with torch_threads(tcfg.num_threads):
        head = DualBranchHead(ds.dim, cfg).to(device)
        if init is not None:
            if init.in_dim != ds.dim:
                raise ValueError(f"warm start: model expects {init.in_dim}-d features, data has {ds.dim}")
            head.load_state_dict(init.head.state_dict())
        else:
            mean, std = feature_normaliser(torch.from_numpy(train_ds.features), tcfg.seed)
            head.set_normaliser(mean.to(device), std.to(device))
        weights = ObjectiveWeights.from_dataset(train_ds, cfg)
        packed = train_ds.pack(device)
        bf16 = use_bf16(tcfg.bf16, device)
        # standardised and cast once, not in every step; the shared FC computes in this dtype
        packed.x = standardised(head, packed.x, torch.bfloat16 if bf16 else torch.float32)
        n = len(train_ds)
        bs = n if not tcfg.batch_size or tcfg.batch_size >= n else tcfg.batch_size
        steps_per_epoch = math.ceil(n / bs)
        total_steps = steps_per_epoch * tcfg.epochs
        opt = torch.optim.Adam(head.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
        result = TrainResult("done", None)
        best_val, best_state, bad_epochs, step = math.inf, None, 0, 0
        for epoch in range(tcfg.epochs):
            head.train()
            order = rng.permutation(n) if bs < n else np.arange(n)
            ep_loss = 0.0
            for b0 in range(0, n, bs):
                if cancel is not None and cancel.is_set():
                    result.status, result.message = "cancelled", f"cancelled in epoch {epoch + 1}"
                    return _finish(result, head, cfg, ds, tcfg, t0, epoch)
                if bs == n:
                    data = packed
                else:
                    idx = order[b0:b0 + bs]
                    if len(focus_idx):
                        idx = np.concatenate([idx, focus_idx[~np.isin(focus_idx, idx)]])
                    data = packed.batch(idx)
                if tcfg.region_dropout > 0:
                    data = _drop_regions(data, tcfg.region_dropout, gen)
                for g in opt.param_groups:
                    g["lr"] = _lr_at(step, total_steps, tcfg)
                loss = _loss(head, data, cfg, weights, n / data.n)
                if not torch.isfinite(loss):
                    result.status = "diverged"
                    result.message = f"non-finite loss at epoch {epoch + 1}, step {step}; weights before it kept"
                    return _finish(result, head, cfg, ds, tcfg, t0, epoch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                bad = [p for p in head.parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
                if bad:
                    result.status, result.message = "diverged", f"non-finite gradient at epoch {epoch + 1}"
                    return _finish(result, head, cfg, ds, tcfg, t0, epoch)
                opt.step()
                ep_loss += float(loss.detach()) * data.n / n
                step += 1
            entry = {"epoch": epoch + 1, "loss": ep_loss}
            if val_ds is not None:
                entry["val_loss"] = evaluate_loss(head, val_ds, cfg, device)
                if entry["val_loss"] < best_val - 1e-6:
                    best_val, best_state, bad_epochs = entry["val_loss"], copy.deepcopy(head.state_dict()), 0
                    result.best_epoch = epoch + 1
                else:
                    bad_epochs += 1
            result.history.append(entry)
            if progress is not None:
                progress(epoch + 1, tcfg.epochs, ep_loss, time.perf_counter() - t0)
            if val_ds is not None and bad_epochs >= tcfg.patience:
                result.message = f"early stop at epoch {epoch + 1} (best {result.best_epoch})"
                break
        if best_state is not None:
            head.load_state_dict(best_state)
        return _finish(result, head, cfg, ds, tcfg, t0, len(result.history))


def _finish(result: TrainResult, head: DualBranchHead, cfg: HeadConfig, ds: RegionDataset, tcfg: TrainConfig,
            t0: float, epochs_run: int) -> TrainResult:
    head.eval()
    result.epochs_run = epochs_run
    result.elapsed_s = time.perf_counter() - t0
    result.model = TrainedModel(
        head=head.cpu(), config=cfg, feature_key=ds.feature_key, train_summary=ds.summary(),
        metrics={"final_loss": result.history[-1]["loss"] if result.history else None, "status": result.status},
        train_config=tcfg.to_json(),
    )
    return result
