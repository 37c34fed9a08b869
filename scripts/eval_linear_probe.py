"""A location-trained linear probe on the project's features: the reference the heads are read against.

    .venv/bin/python scripts/eval_linear_probe.py --db out/mias.sqlite [--splits 0 1 2] [--C 0.001 0.01 0.1 1]

A logistic regression (scikit-learn, class-balanced, features standardised on the training fold)
classifies windows: positive = the malignant-labelled windows of the training fold's contoured
malignant images, negative = every window of its images without malignancy and the BN windows of
its contoured malignant images. An image's score is its highest window score. This is the probe of
``../shared/docs/what-is-known.md``, run on the same patient-wise folds as
``scripts/eval_pretrained.py``: it sees every contour, as SS-Cls-Det-RS 100 % does, but no weak
label of a malignant image without a contour, and no benign contour. It prints, per C, the
fold-mean AUROC (M vs BN, and MB vs N from the same score) per split and over the splits.

Context around a window (``--context R``): each window's features are joined by the mean
features of the windows whose centres lie within R window sizes of its own (R = 0.5: the 3 x 3
windows around it at half-window stride; 1.0: 5 x 5). ``--smooth R`` instead averages the
window scores over the same neighbourhood before the image's maximum, so that an isolated
high window counts less than a cluster of them.

Input scale (``--target-spacing MM``): the pretrained network sees the image resampled to MM per
pixel (the default extractor's is 0.2).
"""

from __future__ import annotations

import argparse
import warnings
from dataclasses import replace

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from mammo_annotator.ml.cv import split_aurocs, split_row
from mammo_annotator.ml.dataset import REGION_BN, REGION_M, RegionDataset
from mammo_annotator.ml.features.registry import DEFAULT_EXTRACTOR, build_extractor
from mammo_annotator.services.datasets import load_dataset
from mammo_annotator.services.features import ensure_features
from mammo_annotator.services.project import open_project


def window_targets(ds: RegionDataset) -> np.ndarray:
    """1 = malignant window, 0 = a window known to hold no malignancy, -1 = not used."""
    y_m = np.repeat(ds.y_m, ds.n_regions)
    local = np.repeat(ds.has_local, ds.n_regions)
    t = np.full(len(ds.features), -1, dtype=np.int8)
    t[y_m == 0] = 0
    t[local & (ds.region_labels == REGION_BN)] = 0
    t[local & (ds.region_labels == REGION_M)] = 1
    return t


def image_max(ds: RegionDataset, window_scores: np.ndarray) -> np.ndarray:
    return np.maximum.reduceat(window_scores, ds.offsets[:-1])


def neighbour_means(ds: RegionDataset, values: np.ndarray, reach: float) -> np.ndarray:
    """Per window, the mean of ``values`` over the windows of its image whose centres lie within
    ``reach`` window sizes of its own (itself included)."""
    out = np.empty_like(values)
    for i in range(len(ds.offsets) - 1):
        rows = slice(ds.offsets[i], ds.offsets[i + 1])
        boxes = ds.boxes[rows].astype(np.float64)
        if len(boxes) == 0:
            continue
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        size = float(np.median(boxes[:, 2] - boxes[:, 0]))
        near = (np.abs(centres[:, None] - centres[None]).max(-1) <= reach * size + 1e-6).astype(np.float64)
        out[rows] = (near / near.sum(1, keepdims=True)) @ values[rows]
    return out


def with_context(ds: RegionDataset, reach: float) -> RegionDataset:
    return replace(ds, features=np.hstack([ds.features, neighbour_means(ds, ds.features, reach)]))


def probe_fold(train: RegionDataset, test: RegionDataset, c: float, smooth: float | None = None) -> np.ndarray:
    """Per test image: the max of its windows' decision values (averaged over neighbours with ``smooth``)."""
    t = window_targets(train)
    scaler = StandardScaler().fit(train.features)
    clf = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs on 20,000+ standardised windows may warn and still converge
        clf.fit(scaler.transform(train.features[t >= 0]), t[t >= 0])
    scores = clf.decision_function(scaler.transform(test.features))
    if smooth is not None:
        scores = neighbour_means(test, scores, smooth)
    return image_max(test, scores)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--splits", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--C", type=float, nargs="*", default=[0.001, 0.01, 0.1, 1.0])
    ap.add_argument("--extractor", default=DEFAULT_EXTRACTOR, help="registry name (features extracted if missing)")
    ap.add_argument("--context", type=float, default=None, help="join the mean features of neighbours within R windows")
    ap.add_argument("--smooth", type=float, default=None, help="average window scores over neighbours within R windows")
    ap.add_argument("--target-spacing", type=float, default=None,
                    help="mm per pixel the image is resampled to before the pretrained network (default 0.2)")
    a = ap.parse_args(argv)
    options: dict = {}
    if a.target_spacing is not None:
        options["target_spacing_mm"] = a.target_spacing
    project, ext = open_project(a.db), build_extractor(a.extractor, **options)
    ensure_features(project, ext)
    ds = load_dataset(project, ext.key).data
    if a.context is not None:
        ds = with_context(ds, a.context)
    print("| C | M vs BN, mean | per split | MB vs N, mean | per split |\n|---|---|---|---|---|")
    for c in a.C:
        def fold_scores(split: int, fold: int, train: RegionDataset, test: RegionDataset) -> tuple[np.ndarray, np.ndarray]:
            s = probe_fold(train, test, c, a.smooth)
            return s, s  # one malignancy score serves both tasks

        print(split_row(f"{c:g}", split_aurocs(ds, a.splits, fold_scores)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
