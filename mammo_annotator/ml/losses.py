"""Method sections 3-4 as tensor functions: masked softmaxes, region selection, image
probabilities and the weak / semi-supervised objectives. Everything is batched over images
(padding handled by masks), and probabilities are combined in log space for stability.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from .dataset import REGION_M, PackedData, RegionDataset
from .model import ABNORMAL, HeadConfig, RegionOutputs

NEG_INF = float("-inf")


def masked_log_softmax(logits: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log softmax over the entries where ``mask`` is True (others -> -inf, zero gradient).

    Every slice along ``dim`` must keep at least one entry (images always have >= 1 region).
    """
    return torch.log_softmax(torch.where(mask, logits, torch.full_like(logits, NEG_INF)), dim=dim)


def topk_mask(scores: torch.Tensor, valid: torch.Tensor, k: int) -> torch.Tensor:
    """h(i) = 1 for the k highest ``scores`` among valid regions of each image (row), vectorised.

    Images with fewer than k regions keep all of them (padding never enters the mask).
    """
    k_eff = min(k, scores.shape[-1])
    masked = torch.where(valid, scores, torch.full_like(scores, NEG_INF))
    idx = torch.topk(masked, k_eff, dim=-1).indices
    sel = torch.zeros_like(valid).scatter_(-1, idx, True)
    return sel & valid


def stack_classes(planes: list[torch.Tensor]) -> torch.Tensor:
    """(n, m) planes -> an (n, m, C) tensor whose memory holds each class as a contiguous plane.

    The per-image work runs on planes: torch's CPU kernels over a class axis of 2 or 3, or over
    the regions axis of a class-last layout, were most of a training step's non-matmul time."""
    return torch.stack(planes, 0).permute(1, 2, 0)


def class_log_probs(out: RegionOutputs, cfg: HeadConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p_cls(c|r), log(1 - p_cls(c|r))) for c in (B, M): two (n, m, 2) tensors.

    1 - p_cls(c) is the softmax mass of the other classes, a logaddexp of their logits less the
    log-normaliser (exact and stable, never log(1 - p))."""
    planes = out.cls_logits.unbind(-1)  # one backward for all planes (a select's allocates the whole tensor)
    cols = [cfg.cls_index(c) for c in ABNORMAL]
    others = [functools.reduce(torch.logaddexp, [planes[i] for i in range(cfg.n_cls) if i != j]) for j in cols]
    lse_all = torch.logaddexp(planes[cols[0]], others[0])  # the log-normaliser over every class
    return stack_classes([planes[j] - lse_all for j in cols]), stack_classes([o - lse_all for o in others])


def selection_masks(out: RegionOutputs, cfg: HeadConfig, log_pcls: torch.Tensor) -> torch.Tensor:
    """(n, m, 2) masks of the regions the detection softmax runs over, per class (B, M)."""
    valid = out.valid.unsqueeze(-1).expand_as(log_pcls)
    if not cfg.region_selection:
        return valid
    return stack_classes([topk_mask(plane, out.valid, cfg.k) for plane in log_pcls.unbind(-1)])


def det_log_probs(out: RegionOutputs, mask: torch.Tensor) -> torch.Tensor:
    """log p_det^c(i|x): softmax over the image's regions (dim 1) restricted to ``mask``; (n, m, 2)."""
    return stack_classes([masked_log_softmax(logits, m, dim=-1)
                          for logits, m in zip(out.det_logits.unbind(-1), mask.unbind(-1))])


@dataclass
class ImageLogProbs:
    logp: torch.Tensor  # (n, 2) log p(y_c = 1 | x), columns (B, M)
    log1mp: torch.Tensor  # (n, 2) log p(y_c = 0 | x)
    log_pcls: torch.Tensor  # (n, m, 2)
    log1m_pcls: torch.Tensor  # (n, m, 2)
    sel: torch.Tensor  # (n, m, 2) selection masks (valid when no RS)


def image_log_probs(out: RegionOutputs, cfg: HeadConfig) -> ImageLogProbs:
    """p(y_c = 1|x) = sum_i p_maskdet^c(i|x) p_cls(c|r_i), or max_i p_cls for Max-Region.

    Since the masked detection weights sum to one, 1 - p = sum_i q_i (1 - p_cls(c|r_i)): both
    log p and log(1 - p) come from a logsumexp without cancellation.
    """
    log_pcls, log1m = class_log_probs(out, cfg)
    valid = out.valid.unsqueeze(-1).expand_as(log_pcls)
    if cfg.aggregation == "max":
        logp = torch.where(valid, log_pcls, torch.full_like(log_pcls, NEG_INF)).amax(dim=1)
        log1mp = torch.where(valid, log1m, torch.full_like(log1m, float("inf"))).amin(dim=1)
        return ImageLogProbs(logp, log1mp, log_pcls, log1m, valid)
    sel = selection_masks(out, cfg, log_pcls.detach())
    log_q = det_log_probs(out, sel)
    q, pos, neg = log_q.unbind(-1), log_pcls.unbind(-1), log1m.unbind(-1)
    logp = torch.stack([torch.logsumexp(a + b, dim=-1) for a, b in zip(q, pos)], -1)
    log1mp = torch.stack([torch.logsumexp(a + b, dim=-1) for a, b in zip(q, neg)], -1)
    return ImageLogProbs(logp, log1mp, log_pcls, log1m, sel)


def bernoulli_ll(logp: torch.Tensor, log1mp: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """log p(y | x) per image; 0 where y is unknown (NaN)."""
    known = ~torch.isnan(y)
    ll = torch.where(y > 0.5, logp, log1mp)
    return torch.where(known, ll, torch.zeros_like(ll))


@dataclass(frozen=True)
class ObjectiveWeights:
    """Normalisers of eqs. (5), (10)-(12) from the whole training set (so mini-batches estimate
    the full objective without bias). Per-image / per-region weights; 0 disables a term."""

    w_weak_m: float
    w_weak_b: float
    w_full_cls: float  # lambda2 * lambda1 = lambda2 * beta / m_f
    w_full_det: float  # lambda2 / |F_det|
    n_images: int

    @classmethod
    def from_dataset(cls, ds: RegionDataset, cfg: HeadConfig) -> "ObjectiveWeights":
        semi = cfg.semi and bool(ds.has_local.any())
        weak_m = ~np.isnan(ds.y_m) & (~ds.has_local if semi else True)
        n_wm, n_b = int(weak_m.sum()), int((~np.isnan(ds.y_b)).sum())
        w_cls = w_det = 0.0
        if semi:
            local_rows = np.repeat(ds.has_local, ds.n_regions)
            m_f = int(np.sum(local_rows & (ds.region_labels >= 0)))
            img_has_m = np.add.reduceat((ds.region_labels == REGION_M).astype(np.int64), ds.offsets[:-1]) > 0
            n_fdet = int(np.sum(ds.has_local & img_has_m))
            if cfg.full_cls and m_f:
                w_cls = cfg.lambda2 * cfg.beta / m_f
            if cfg.full_det and n_fdet:
                w_det = cfg.lambda2 / n_fdet
        return cls(1.0 / n_wm if n_wm else 0.0, 1.0 / n_b if n_b else 0.0, w_cls, w_det, len(ds))


def objective(out: RegionOutputs, data: PackedData, cfg: HeadConfig, w: ObjectiveWeights,
              scale: float = 1.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The loss to minimise, -(L_W + lambda2 L_F), and its parts (for logging).

    L_W: M term over the weak subset W (a fully labelled image is not a weak M sample when the
    method is semi-supervised), B term over all images. L_F_cls: log p_cls(M) for M regions,
    log(1 - p_cls(M)) for BN regions. L_F_det: log of the detection mass on the M regions, on the
    softmax selected by ``cfg.full_det_mask``. ``scale`` = n_train / n_batch for mini-batches.
    """
    ilp = image_log_probs(out, cfg)
    # as in ObjectiveWeights: a semi method leaves the fully labelled images out of W even when
    # no full term is on (lambda2 = 0), so the weak M sum and its normaliser count the same images
    semi = cfg.semi
    ll_b = bernoulli_ll(ilp.logp[:, 0], ilp.log1mp[:, 0], data.y_b)
    ll_m = bernoulli_ll(ilp.logp[:, 1], ilp.log1mp[:, 1], data.y_m)
    if semi:
        ll_m = torch.where(data.has_local, torch.zeros_like(ll_m), ll_m)
    parts = {"weak_m": w.w_weak_m * ll_m.sum(), "weak_b": w.w_weak_b * ll_b.sum()}
    total = parts["weak_m"] + parts["weak_b"]
    if semi:
        labels = data.region_labels
        is_m, is_bn = labels == REGION_M, labels == 0
        if w.w_full_cls > 0:
            lc = torch.where(is_m, ilp.log_pcls[..., 1], ilp.log1m_pcls[..., 1])
            parts["full_cls"] = w.w_full_cls * torch.where(is_m | is_bn, lc, torch.zeros_like(lc)).sum()
            total = total + parts["full_cls"]
        if w.w_full_det > 0:
            if cfg.full_det_mask == "union":
                mask = (ilp.sel[..., 1] | is_m) & out.valid
            else:
                mask = out.valid
            # log sum_{i in M} p_det(i) = logsumexp_M(u.phi) - logsumexp_mask(u.phi) on the F-M images.
            # Every other image takes its mask in both sums: exactly 0, with a zero (finite) gradient, so
            # no step picks rows by the data (a GPU would wait for it at every step).
            img_m = is_m.any(dim=1) & data.has_local
            logits = out.det_logits[..., 1]
            ninf = torch.full_like(logits, NEG_INF)
            lse_m = torch.logsumexp(torch.where(torch.where(img_m.unsqueeze(1), is_m, mask), logits, ninf), dim=1)
            lse_all = torch.logsumexp(torch.where(mask, logits, ninf), dim=1)
            parts["full_det"] = w.w_full_det * (lse_m - lse_all).sum()
            total = total + parts["full_det"]
    return -scale * total, parts
