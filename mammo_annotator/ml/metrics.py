"""Image-level metrics of method section 7: AUROC, pAUCR, specificity at a sensitivity, the two
tasks (M vs BN, MB vs N), breast-level aggregation and bootstrap confidence intervals.

ROC points come from sklearn's ``roc_curve`` (drop_intermediate=False), so ties are handled as
one threshold step (the standard convention).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

SENS_LEVELS = (0.85, 0.90)


def _check(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float).ravel()
    s = np.asarray(s, dtype=float).ravel()
    if y.shape != s.shape:  # before masking: a mismatch must not surface as an IndexError
        raise ValueError("labels and scores differ in length")
    keep = ~np.isnan(y)
    return y[keep].astype(int), s[keep]


def has_both_classes(y: np.ndarray) -> bool:
    y = np.asarray(y, dtype=float)
    y = y[~np.isnan(y)]
    return bool(np.any(y == 1) and np.any(y == 0))


def roc(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds), every distinct threshold kept; starts at (0, 0)."""
    from sklearn.metrics import roc_curve  # here: sklearn costs a second of start-up to every training process

    y, s = _check(y, s)
    return roc_curve(y, s, drop_intermediate=False)


def auroc(y: np.ndarray, s: np.ndarray) -> float:
    """The Mann-Whitney form (ties count one half): the value of sklearn's ``roc_auc_score``
    without its input validation, which cost 6 ms a call and made a bootstrap of 1,000 resamples
    per task the slowest part of an evaluation."""
    y, s = _check(y, s)
    pos, neg = y == 1, y == 0
    n1, n0 = int(pos.sum()), int(neg.sum())
    if not (n1 and n0):
        return float("nan")
    if n1 + n0 != y.size or not np.isfinite(s).all():
        from sklearn.metrics import roc_auc_score

        return float(roc_auc_score(y, s))  # other labels, NaN or infinite scores: sklearn's error
    _, inv, counts = np.unique(s, return_inverse=True, return_counts=True)
    mid_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based average rank of each distinct score
    rank_sum = float(mid_rank[inv.ravel()][pos].sum())
    return (rank_sum - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def pauc_high_sensitivity(y: np.ndarray, s: np.ndarray, tpr_min: float = 0.8) -> float:
    """pAUCR: ROC area in the band sensitivity (TPR) in [tpr_min, 1], divided by (1 - tpr_min).

    = the mean specificity over that sensitivity range: integral of (1 - FPR) dTPR along the ROC
    path, with linear interpolation between ROC points (horizontal steps add no area). 1 for a
    perfect ranking, 0.1 for a chance diagonal when tpr_min = 0.8.
    """
    if not has_both_classes(y):
        return float("nan")
    fpr, tpr, _ = roc(y, s)
    area = 0.0
    for f0, t0, f1, t1 in zip(fpr[:-1], tpr[:-1], fpr[1:], tpr[1:]):
        if t1 <= t0:
            continue
        a, b = max(t0, tpr_min), min(t1, 1.0)
        if b <= a:
            continue
        fa = f0 + (f1 - f0) * (a - t0) / (t1 - t0)
        fb = f0 + (f1 - f0) * (b - t0) / (t1 - t0)
        area += (b - a) * (1.0 - 0.5 * (fa + fb))
    return float(area / (1.0 - tpr_min))


def operating_point(y: np.ndarray, s: np.ndarray, sensitivity: float) -> tuple[float, float]:
    """(threshold, specificity) of the best achievable threshold with TPR >= sensitivity
    (a real score threshold, no interpolation: what a deployed model would give)."""
    fpr, tpr, thr = roc(y, s)
    ok = np.flatnonzero(tpr >= sensitivity - 1e-12)
    j = ok[np.argmin(fpr[ok])]
    return float(thr[j]), float(1.0 - fpr[j])


def spec_at_sens(y: np.ndarray, s: np.ndarray, sensitivity: float) -> float:
    if not has_both_classes(y):
        return float("nan")
    return operating_point(y, s, sensitivity)[1]


def binary_metrics(y: np.ndarray, s: np.ndarray) -> dict[str, float]:
    """AUROC, pAUCR and spec@sens 0.85 / 0.90 for one task."""
    out = {"auroc": auroc(y, s), "pauc": pauc_high_sensitivity(y, s)}
    for level in SENS_LEVELS:
        out[f"spec@{level:.2f}"] = spec_at_sens(y, s, level)
    return out


def task_labels(y_m: np.ndarray, y_b: np.ndarray) -> dict[str, np.ndarray]:
    """Binary truths of the two tasks: M vs BN (y_M) and MB vs N (y_M or y_B); NaN unknown.

    An image is abnormal when either label is 1 (a malignant image whose y_B is unknown is
    abnormal), normal when both are 0, unknown otherwise."""
    y_m, y_b = np.asarray(y_m, float), np.asarray(y_b, float)
    mb = np.where((y_m == 1) | (y_b == 1), 1.0, np.where((y_m == 0) & (y_b == 0), 0.0, np.nan))
    return {"M_vs_BN": y_m, "MB_vs_N": mb}


def task_scores(p_m: np.ndarray, p_b: np.ndarray) -> dict[str, np.ndarray]:
    return {"M_vs_BN": np.asarray(p_m, float), "MB_vs_N": np.maximum(p_m, p_b)}


def breast_level(groups: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Max of each array over the images of a group (patient + laterality); NaN labels ignored
    unless all of a group's are NaN. Returns the group keys then the aggregated arrays."""
    keys, inv = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    out = []
    for a in arrays:
        a = np.asarray(a, dtype=float)
        agg = np.full(len(keys), -np.inf)
        np.maximum.at(agg, inv, np.where(np.isnan(a), -np.inf, a))
        out.append(np.where(np.isinf(agg), np.nan, agg))
    return (keys, *out)


def breast_keys(patient_ids: np.ndarray, laterality: np.ndarray) -> np.ndarray:
    return np.array([f"{p}|{l}" for p, l in zip(patient_ids, laterality)], dtype=object)


def image_and_breast_metrics(y_m, y_b, p_m, p_b, patient_ids=None, laterality=None) -> dict[str, float]:
    """Flat dict 'M_vs_BN/auroc', ..., and 'breast/M_vs_BN/auroc' when groups are given."""
    out: dict[str, float] = {}
    ys, ss = task_labels(y_m, y_b), task_scores(p_m, p_b)
    for task in ys:
        for k, v in binary_metrics(ys[task], ss[task]).items():
            out[f"{task}/{k}"] = v
    if patient_ids is not None and laterality is not None:
        _, bym, byb, bpm, bpb = breast_level(breast_keys(patient_ids, laterality), y_m, y_b, p_m, p_b)
        ys, ss = task_labels(bym, byb), task_scores(bpm, bpb)
        for task in ys:
            for k, v in binary_metrics(ys[task], ss[task]).items():
                out[f"breast/{task}/{k}"] = v
    return out


def bootstrap_ci(y: np.ndarray, s: np.ndarray, fn: Callable[[np.ndarray, np.ndarray], float] = auroc,
                 n_boot: int = 1000, alpha: float = 0.05, seed: int = 0,
                 groups: np.ndarray | None = None) -> tuple[float, float, float]:
    """(estimate, low, high): percentile bootstrap, resampling positives and negatives separately
    (stratified), or whole groups (e.g. patients) when ``groups`` is given."""
    y, s = np.asarray(y, float), np.asarray(s, float)
    keep = ~np.isnan(y)
    y, s = y[keep], s[keep]
    est = fn(y, s)
    rng = np.random.default_rng(seed)
    vals = []
    if groups is not None:
        g = np.asarray(groups, dtype=object)[keep].astype(str)
        keys, inv = np.unique(g, return_inverse=True)
        members = [np.flatnonzero(inv == k) for k in range(len(keys))]
        for _ in range(n_boot):
            pick = np.concatenate([members[k] for k in rng.integers(0, len(keys), len(keys))])
            if has_both_classes(y[pick]):
                vals.append(fn(y[pick], s[pick]))
    else:
        pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        if len(pos) == 0 or len(neg) == 0:
            return est, float("nan"), float("nan")
        for _ in range(n_boot):
            pick = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
            vals.append(fn(y[pick], s[pick]))
    if not vals:
        return est, float("nan"), float("nan")
    lo, hi = np.quantile(vals, [alpha / 2, 1 - alpha / 2])
    return float(est), float(lo), float(hi)


def top1_hit_rate(region_labels: np.ndarray, d_m: np.ndarray, offsets: np.ndarray, images: np.ndarray) -> float:
    """Share of ``images`` whose highest d_M region carries region label 1 (malignant): whether the
    detection branch points at the lesion. ``offsets`` delimit each image's regions."""
    return float(np.mean([region_labels[offsets[i]:offsets[i + 1]][np.argmax(d_m[offsets[i]:offsets[i + 1]])] == 1
                          for i in images]))
