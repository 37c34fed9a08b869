"""Patient-wise cross-validation (and a train/test mode) over named method configurations.

Folds: sklearn StratifiedGroupKFold on the image class (N/B/M/MB) with patients as groups, so
no patient is in two folds. Semi-supervised runs keep the region labels of a deterministic
fraction of each training fold's malignant images (the paper annotates malignant images only);
every other training image is weak. Test images never need region labels except for FROC.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from .dataset import REGION_IGNORED, RegionDataset
from .froc import froc
from .metrics import bootstrap_ci, breast_keys, image_and_breast_metrics, task_labels, task_scores
from .model import HeadConfig, method
from .scoring import Scores, score
from .train import CancelToken, TrainConfig, train

CVProgress = Callable[[str, int, int], None]  # (method name, fold index, n folds)


@dataclass(frozen=True)
class RunSpec:
    """One row of the results table."""

    name: str
    head: HeadConfig
    local_fraction: float | None = None  # None = weak only; f = keep region labels of f of M images
    train: TrainConfig = TrainConfig()


def default_runs(tcfg: TrainConfig = TrainConfig()) -> list[RunSpec]:
    """The paper's Table 2: the baselines, then SS Cls-Det-RS with 25/50/75/100 % local labels."""
    runs = [RunSpec(n, method(n), None, tcfg) for n in ("db_baseline", "max_region", "cls_det", "cls_det_rs")]
    # SS-Baseline-RS at 50 % is the paper's comparison with SS-Cls-Det-RS.50; 100 % as well
    for f in (0.5, 1.0):
        runs.append(RunSpec(f"ss_baseline_rs_{int(f * 100)}", method("ss_baseline_rs"), f, tcfg))
    for f in (0.25, 0.5, 0.75, 1.0):
        runs.append(RunSpec(f"ss_cls_det_rs_{int(f * 100)}", method("ss_cls_det_rs"), f, tcfg))
    return runs


def folds_problem(ds: RegionDataset, k: int) -> str | None:
    """Why ``ds`` cannot be split into ``k`` patient-wise folds stratified by class, or None."""
    if k < 2:
        return f"cross-validation needs at least 2 folds, not {k}"
    patients = len(set(ds.patient_ids.tolist()))
    if patients < k:
        return (f"{k}-fold cross-validation keeps each patient in one fold, so it needs {k} patients with "
                f"regions; there are {patients}")
    largest = int(np.unique(ds.class_names(), return_counts=True)[1].max())
    if largest < k:
        return (f"{k} folds stratified by image class need {k} images of the most common class "
                f"(N, B, M or MB); the largest has {largest}")
    return None


def patient_folds(ds: RegionDataset, k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) image indices per fold; stratified by image class, grouped by patient."""
    problem = folds_problem(ds, k)
    if problem:
        raise ValueError(problem)
    classes = ds.class_names()
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in splitter.split(np.zeros(len(ds)), classes, groups=ds.patient_ids.astype(str))]


FoldScores = Callable[[int, int, RegionDataset, RegionDataset], tuple[np.ndarray, np.ndarray]]


def split_aurocs(ds: RegionDataset, splits: Sequence[int], fold_scores: FoldScores, k: int = 5) -> np.ndarray:
    """(len(splits), 2): per split seed, the fold-mean M vs BN and MB vs N AUROC of the (p_M, p_B)
    that ``fold_scores(split, fold, train, test)`` gives the test images. On a few hundred images
    the split alone moves a row by up to 0.15, so a variant is read split by split."""
    out = []
    for split in splits:
        folds = []
        for f, (tr, te) in enumerate(patient_folds(ds, k, split)):
            test = ds.subset(te)
            p_m, p_b = fold_scores(split, f, ds.subset(tr), test)
            m = image_and_breast_metrics(test.y_m, test.y_b, p_m, p_b)
            folds.append((m["M_vs_BN/auroc"], m["MB_vs_N/auroc"]))
        out.append(np.mean(folds, axis=0))
    return np.array(out, dtype=float).reshape(len(splits), 2)


def split_row(label: str, v: np.ndarray) -> str:
    """A markdown row: label, then the mean and the per-split values of both AUROCs of ``v``."""
    per = lambda j: " / ".join(f"{x:.3f}" for x in v[:, j])  # noqa: E731
    cell = label.replace("|", "\\|")
    return f"| {cell} | {v[:, 0].mean():.3f} | {per(0)} | {v[:, 1].mean():.3f} | {per(1)} |"


def select_local(ds: RegionDataset, fraction: float | None, seed: int) -> RegionDataset:
    """Keep region labels on ``round(fraction * n)`` of the malignant images that have them
    (a seeded permutation: deterministic per fold), drop all others'."""
    if fraction is None or fraction <= 0:
        return ds.without_local_labels()
    cand = np.flatnonzero(ds.has_local & (ds.y_m == 1))
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(cand)[: int(round(fraction * len(cand)))]
    keep = np.zeros(len(ds), dtype=bool)
    keep[chosen] = True
    return ds.with_local_labels(keep)


def concat_scores(parts: list[Scores]) -> Scores:
    cat = lambda k: np.concatenate([getattr(p, k) for p in parts])  # noqa: E731
    counts = np.concatenate([np.diff(p.offsets) for p in parts])
    return Scores(cat("image_ids"), cat("p_m"), cat("p_b"), cat("p_cls"), cat("p_det"), cat("p_maskdet"), cat("d"),
                  np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))


def fold_metrics(test: RegionDataset, sc: Scores) -> dict[str, float]:
    out = image_and_breast_metrics(test.y_m, test.y_b, sc.p_m, sc.p_b, test.patient_ids, test.laterality)
    for c in ("M", "B", "MB"):
        for k, v in froc(test, sc, c).summary().items():
            out[f"froc_{c}/{k}"] = v
    return out


@dataclass
class MethodResult:
    name: str
    fold_metrics: list[dict[str, float]] = field(default_factory=list)
    fold_scores: list[Scores] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)

    def mean_std(self) -> dict[str, tuple[float, float]]:
        keys = self.fold_metrics[0].keys() if self.fold_metrics else []
        out = {}
        for k in keys:
            v = np.array([m[k] for m in self.fold_metrics], dtype=float)
            v = v[~np.isnan(v)]
            out[k] = (float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0) if len(v) else (np.nan, np.nan)
        return out


@dataclass
class CVResult:
    dataset: RegionDataset  # the pooled test images, in fold order (aligned with pooled scores)
    folds: list[tuple[np.ndarray, np.ndarray]]
    methods: dict[str, MethodResult]
    mode: str = "cv"

    def pooled_scores(self, name: str) -> Scores:
        return concat_scores(self.methods[name].fold_scores)

    def pooled(self, name: str, n_boot: int = 1000, seed: int = 0) -> dict[str, tuple[float, float, float]]:
        """Pooled out-of-fold AUROC per task with a patient-grouped bootstrap 95% CI."""
        ds, sc = self.dataset, self.pooled_scores(name)
        ys, ss = task_labels(ds.y_m, ds.y_b), task_scores(sc.p_m, sc.p_b)
        return {f"{t}/auroc": bootstrap_ci(ys[t], ss[t], n_boot=n_boot, seed=seed, groups=ds.patient_ids)
                for t in ys}


def same_selection(view: RegionDataset, chosen: RegionDataset) -> RegionDataset:
    """An augmented view (same images, row for row) with region labels on exactly the images
    ``chosen`` keeps them on: a view never adds contours that its row may not use."""
    keep = chosen.has_local & view.has_local
    labels = np.where(np.repeat(keep, view.n_regions), view.region_labels, REGION_IGNORED).astype(np.int8)
    return dataclasses.replace(view, has_local=keep.copy(), region_labels=labels)


def _run(runs: list[RunSpec], splits, train_sets, test_sets, seed, progress, cancel,
         view_sets: list[list[RegionDataset]] | None = None) -> dict[str, MethodResult]:
    results: dict[str, MethodResult] = {}
    for run in runs:
        res = results.setdefault(run.name, MethodResult(run.name))
        for f, (tr, te) in enumerate(zip(train_sets, test_sets)):
            if cancel is not None and cancel.is_set():
                return results
            if progress is not None:
                progress(run.name, f, len(train_sets))
            data = select_local(tr, run.local_fraction if run.head.semi else None, seed * 1000 + f)
            t0 = time.perf_counter()
            views = [same_selection(v, data) for v in view_sets[f]] if view_sets else None
            out = train(data, run.head, run.train, cancel=cancel, extra_views=views)
            res.train_seconds.append(time.perf_counter() - t0)
            res.statuses.append(out.status)
            sc = score(out.model, te)
            res.fold_scores.append(sc)
            res.fold_metrics.append(fold_metrics(te, sc))
    return results


def _check_views(ds: RegionDataset, views: Sequence[RegionDataset]) -> None:
    for v in views:
        if len(v) != len(ds) or not np.array_equal(v.offsets, ds.offsets) or list(v.image_ids) != list(ds.image_ids):
            raise ValueError("an augmented view must hold the dataset's images and regions row for row")


def cross_validate(ds: RegionDataset, runs: list[RunSpec] | None = None, k: int = 5, seed: int = 0,
                   progress: CVProgress | None = None, cancel: CancelToken | None = None,
                   views: Sequence[RegionDataset] = ()) -> CVResult:
    """k-fold patient-wise CV of every run; metrics per fold plus pooled out-of-fold scores.

    ``views``: augmented feature sets of the same images (row for row, e.g. flipped), added to
    each fold's training images with the same contour selection as the row's own images."""
    runs = runs if runs is not None else default_runs()
    _check_views(ds, views)
    splits = patient_folds(ds, k, seed)
    train_sets = [ds.subset(tr) for tr, _ in splits]
    test_sets = [ds.subset(te) for _, te in splits]
    view_sets = [[v.subset(tr) for v in views] for tr, _ in splits]
    methods = _run(runs, splits, train_sets, test_sets, seed, progress, cancel, view_sets)
    pooled = ds.subset(np.concatenate([te for _, te in splits]))
    return CVResult(pooled, splits, methods, "cv")


def train_test(train_ds: RegionDataset, test_ds: RegionDataset, runs: list[RunSpec] | None = None, seed: int = 0,
               progress: CVProgress | None = None, cancel: CancelToken | None = None,
               views: Sequence[RegionDataset] = ()) -> CVResult:
    """Train on one dataset, test on another (e.g. the paper's INbreast 50/50 patient split);
    ``views`` as in ``cross_validate``, of the training dataset."""
    runs = runs if runs is not None else default_runs()
    shared = set(train_ds.patient_ids.tolist()) & set(test_ds.patient_ids.tolist())
    if shared:
        raise ValueError(f"{len(shared)} patients are in both the training and the test set, e.g. {sorted(shared)[:3]}")
    _check_views(train_ds, views)
    methods = _run(runs, [(None, None)], [train_ds], [test_ds], seed, progress, cancel, [list(views)])
    return CVResult(test_ds, [(np.arange(len(train_ds)), np.arange(len(test_ds)))], methods, "train_test")


__all__ = ["RunSpec", "default_runs", "patient_folds", "select_local", "cross_validate", "train_test", "CVResult",
           "MethodResult", "breast_keys"]
