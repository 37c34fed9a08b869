"""FROC for localisation (method section 7).

For class c: images are classified as c at the operating point where the image-level
sensitivity is ``image_sensitivity`` (0.85). In each image classified as c, the regions with
d_c above a moving threshold are detections; a detection is correct when its IoM with a true
lesion of class c is >= alpha. Sensitivity = fraction of true-positive images (with a known
lesion outline of class c) with at least one correct detection; false positives per image =
incorrect detections (in all images classified as c) / all evaluated images (the usual FROC
normalisation; images not classified as c have no detections).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.iom import iom_matrix
from ..core.types import LesionClass
from .dataset import RegionDataset
from .metrics import has_both_classes, operating_point, task_labels
from .scoring import Scores

DEFAULT_FPPI = (0.25, 0.5, 1.0, 2.0)


@dataclass
class FrocCurve:
    cls: str
    fppi: np.ndarray  # increasing
    sensitivity: np.ndarray
    thresholds: np.ndarray  # d_c thresholds, decreasing
    image_threshold: float
    n_tp_images: int  # true positives with a lesion outline (the sensitivity denominator)
    n_tp_without_outline: int
    n_images: int

    def sensitivity_at(self, fppi: float) -> float:
        """Best sensitivity reached with at most ``fppi`` false positives per image."""
        if self.n_tp_images == 0:
            return float("nan")
        ok = self.fppi <= fppi + 1e-12
        return float(self.sensitivity[ok].max()) if ok.any() else 0.0

    def summary(self, levels: tuple[float, ...] = DEFAULT_FPPI) -> dict[str, float]:
        return {f"sens@{f:g}fppi": self.sensitivity_at(f) for f in levels}


def froc(ds: RegionDataset, scores: Scores, cls: str = "M", image_sensitivity: float = 0.85,
         alpha: float = 0.5) -> FrocCurve:
    """FROC of class ``cls`` for images ``ds`` scored by ``scores`` (same order).

    "M" or "B": that class's image label, p(y_c) and d_c. "MB" (abnormal vs normal, the paper's
    Fig. 4 left): an image is positive when it is abnormal (``task_labels``), scored by
    max(p_M, p_B); a region's score is max(d_B, d_M), and it is correct on a lesion of either class.
    """
    if len(ds) != len(scores):
        raise ValueError("dataset and scores differ in length")
    if cls == "MB":
        y, p, d_all = task_labels(ds.y_m, ds.y_b)["MB_vs_N"], scores.p_mb, scores.d.max(axis=1)
    elif cls in ("M", "B"):
        y = ds.y_m if cls == "M" else ds.y_b
        p = scores.p_m if cls == "M" else scores.p_b
        d_all = scores.d_of(cls)
    else:
        raise ValueError(f"cls must be 'M', 'B' or 'MB', got {cls!r}")
    known = ~np.isnan(y)
    empty = FrocCurve(cls, np.zeros(1), np.zeros(1), np.array([np.inf]), float("nan"), 0, 0, int(known.sum()))
    if not has_both_classes(y):
        return empty
    thr, _ = operating_point(y[known], p[known], image_sensitivity)
    wanted = {"M": {LesionClass.MALIGNANT}, "B": {LesionClass.BENIGN},
              "MB": {LesionClass.MALIGNANT, LesionClass.BENIGN}}[cls]
    hit_d, wrong_d = [], []
    n_no_outline = 0
    for i in np.flatnonzero(known & (p >= thr)):
        s = ds.region_slice(i)
        d = d_all[s]
        lesions = [les for les in ds.lesions[i] if les.cls in wanted]
        correct = np.zeros(len(d), dtype=bool)
        if lesions:
            correct = iom_matrix(ds.boxes[s], lesions).max(axis=1) >= alpha
        if y[i] == 1:
            if not lesions:
                n_no_outline += 1
            else:
                hit_d.append(d[correct].max() if correct.any() else -np.inf)
        wrong_d.append(d[~correct])
    hit = np.asarray(hit_d, dtype=float)
    wrong = np.sort(np.concatenate(wrong_d) if wrong_d else np.zeros(0))
    cand = np.unique(np.concatenate([hit[np.isfinite(hit)], wrong]))[::-1]
    n_img = int(known.sum())
    hit_sorted = np.sort(hit)
    sens = (len(hit) - np.searchsorted(hit_sorted, cand, side="left")) / max(1, len(hit))
    fp = (len(wrong) - np.searchsorted(wrong, cand, side="left")) / max(1, n_img)
    fppi = np.concatenate([[0.0], fp])
    sensitivity = np.concatenate([[0.0], sens])
    thresholds = np.concatenate([[np.inf], cand])
    return FrocCurve(cls, fppi, sensitivity, thresholds, float(thr), len(hit), n_no_outline, n_img)
