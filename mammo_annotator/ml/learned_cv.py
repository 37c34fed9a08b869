"""Fold-wise cross-validation of learned extractors, with no leakage by construction.

In each fold the backbone is trained on that fold's training images only, from a view of them
that carries exactly the local labels the row may use: a weak-only row's backbone sees no region
label at all, a semi-supervised row's backbone at most the region labels of the malignant images
that ``ml.cv.select_local`` keeps for that row (the same seeded choice the heads use), and no
backbone ever reads lesion outlines (stripped from the view). Folds come from
``ml.cv.patient_folds`` (both breasts of a patient in one fold). ``trainer`` is injectable so a
test can record what each training received (tests/ml/test_learned_cv.py).

Backbones are trained for a few label budgets (e.g. none, 50 %, 100 %); a row with fraction f
uses the backbone of the largest budget <= f, so it never sees more labels than it is allowed.
An end-to-end row starts from that fold's backbone and trains its last stage with the heads on
the same ``select_local`` view the heads-only row gets; the test images are then pooled from the
fine-tuned network.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from .bilateral import add_bilateral
from .cv import CVResult, MethodResult, RunSpec, fold_metrics, patient_folds, select_local
from .dataset import RegionDataset
from .end_to_end import MapCache, cached_maps, split_top, train_end_to_end, tuned_box_features
from .features.learned_train import ExtractorTrainConfig, TrainImages, train_extractor, training_images
from .features.multiscale import context_boxes
from .scoring import score
from .train import train

Log = Callable[[str], None]


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    train: ExtractorTrainConfig
    budgets: tuple[float | None, ...] = (None,)  # local-label fractions the backbone is trained with
    end_to_end: tuple[str, ...] = ()  # runs that also get a "<name>+e2e" row: last stage + heads trained together
    e2e_epochs: int = 5
    e2e_init: str = "fresh"  # fresh heads, or "heads": the heads-only row's trained heads of the same fold

    def __post_init__(self) -> None:
        if self.e2e_init not in ("fresh", "heads"):
            raise ValueError(f"e2e_init must be 'fresh' or 'heads', got {self.e2e_init!r}")


@dataclass(frozen=True)
class Variant:
    """How fold features are post-processed for a row: scales pooled and bilateral difference."""

    suffix: str = ""
    scales: tuple[float, ...] = (1.0,)
    bilateral: bool = False
    runs: tuple[str, ...] | None = None  # None = every run


@dataclass
class LearnedCVResult:
    rows: dict[str, CVResult]
    train_seconds: dict[str, list[float]] = field(default_factory=dict)  # backbone -> per training
    extract_seconds_per_image: dict[str, list[float]] = field(default_factory=dict)
    trained_views: list[dict] = field(default_factory=list)  # what each backbone training saw (audit)


def budget_for(fraction: float | None, budgets: Sequence[float | None]) -> float | None:
    """The largest budget not above ``fraction`` (None = no local label)."""
    f = fraction or 0.0
    ok = [b for b in budgets if (b or 0.0) <= f + 1e-9]
    return max(ok, key=lambda b: b or 0.0) if ok else None


def backbone_view(train_ds: RegionDataset, budget: float | None, seed: int) -> RegionDataset:
    """What a backbone of this budget may learn from: training images, region labels of the
    selected malignant images only, no lesion outlines."""
    view = select_local(train_ds, budget, seed) if budget else train_ds.without_local_labels()
    return dataclasses.replace(view, lesions=[()] * len(view))


def _with_features(ds: RegionDataset, feats: list[np.ndarray], key: str) -> RegionDataset:
    return dataclasses.replace(ds, features=np.ascontiguousarray(np.concatenate(feats), dtype=np.float32),
                               feature_key=key)


def _extract(ds: RegionDataset, ext, work_of: Callable[[str], tuple[np.ndarray, int]],
             scales: tuple[float, ...]) -> RegionDataset:
    feats = []
    for i in range(len(ds)):
        work, fac = work_of(str(ds.image_ids[i]))
        boxes = ds.boxes[ds.region_slice(i)]
        fmap = ext.feature_map(work)
        feats.append(np.concatenate([ext.pool_boxes(fmap, boxes if s == 1 else context_boxes(boxes, s), fac, work.shape)
                                     for s in scales], axis=1))
    return _with_features(ds, feats, ext.key)


def _variant_ds(ds: RegionDataset, v: Variant, all_scales: tuple[float, ...], dim: int) -> RegionDataset:
    cols = np.concatenate([np.arange(dim) + all_scales.index(s) * dim for s in v.scales])
    out = dataclasses.replace(ds, features=np.ascontiguousarray(ds.features[:, cols]),
                              feature_key=ds.feature_key + (f"+ms{v.scales}" if len(v.scales) > 1 else ""))
    return add_bilateral(out) if v.bilateral else out


def _fit_score(res: MethodResult, run: RunSpec, tr: RegionDataset, te: RegionDataset, seed: int, fold: int):
    data = select_local(tr, run.local_fraction if run.head.semi else None, seed * 1000 + fold)
    t0 = time.perf_counter()
    out = train(data, run.head, run.train)
    res.train_seconds.append(time.perf_counter() - t0)
    res.statuses.append(out.status)
    sc = score(out.model, te)
    res.fold_scores.append(sc)
    res.fold_metrics.append(fold_metrics(te, sc))
    return out.model


def _fit_score_e2e(res: MethodResult, run: RunSpec, ext, epochs: int, tr: RegionDataset, te: RegionDataset,
                   work_of: Callable[[str], tuple[np.ndarray, int]], seed: int, fold: int,
                   cache: MapCache, init_head=None) -> None:
    data = select_local(tr, run.local_fraction if run.head.semi else None, seed * 1000 + fold)
    data = dataclasses.replace(data, lesions=[()] * len(data))
    t0 = time.perf_counter()
    new_ext, model, _ = train_end_to_end(ext, data, work_of, run.head, epochs=epochs, seed=seed + fold, cache=cache,
                                         init_head=init_head)
    res.train_seconds.append(time.perf_counter() - t0)
    res.statuses.append("done")
    # the test images' frozen maps are the backbone's (cached), only the tuned part is new
    ids = [str(i) for i in te.image_ids]
    tuned = split_top(new_ext.net)[1]
    with torch.no_grad():
        fms = cached_maps(ext, ids, work_of, cache)
        feats = tuned_box_features(tuned, [f.map.to(new_ext.device) for f in fms],
                                   [te.boxes[te.region_slice(k)] for k in range(len(te))],
                                   [f.factor * new_ext.cfg.stride for f in fms], new_ext.cfg.pool)
    fte = _with_features(te, [f.cpu().numpy() for f in feats], new_ext.key)
    sc = score(model, fte)
    res.fold_scores.append(sc)
    res.fold_metrics.append(fold_metrics(fte, sc))


def learned_cv(ds: RegionDataset, work_of: Callable[[str], tuple[np.ndarray, int]], runs: list[RunSpec],
               backbones: Sequence[BackboneSpec] = (), variants: Sequence[Variant] = (Variant(),),
               include_given: bool = True, k: int = 5, seed: int = 0, patch: int = 112,
               trainer: Callable[..., object] = train_extractor, log: Log = print) -> LearnedCVResult:
    """Rows: the dataset's own features ("given", e.g. hand-crafted) and each backbone, each with
    every variant. ``work_of(image_id)`` -> (normalised work-scale image, downsampling factor)."""
    splits = patient_folds(ds, k, seed)
    all_scales = tuple(sorted({s for v in variants for s in v.scales}))
    rows: dict[str, dict[str, MethodResult]] = {}
    result = LearnedCVResult({})
    full: RegionDataset | None = None  # every image's features from the latest backbone
    e2e_cache = MapCache()

    def row(name: str) -> dict[str, MethodResult]:
        return rows.setdefault(name, {})

    for f, (tr_idx, te_idx) in enumerate(splits):
        tr, te = ds.subset(tr_idx), ds.subset(te_idx)
        if include_given:
            for v in variants:
                if len(v.scales) > 1:
                    continue
                tv, ev = (add_bilateral(tr), add_bilateral(te)) if v.bilateral else (tr, te)
                for run in runs:
                    if v.runs is None or run.name in v.runs:
                        _fit_score(row("given" + v.suffix).setdefault(run.name, MethodResult(run.name)), run, tv, ev,
                                   seed, f)
            log(f"fold {f + 1}/{k}: given features done")
        for bb in backbones:
            for budget in bb.budgets:
                my_runs = [r for r in runs if budget_for(r.local_fraction if r.head.semi else None, bb.budgets) == budget]
                if not my_runs:
                    continue
                view = backbone_view(tr, budget, seed * 1000 + f)
                images: TrainImages = training_images(view, work_of)
                result.trained_views.append({"fold": f, "backbone": bb.name, "budget": budget,
                                             "image_ids": list(images.image_ids),
                                             "labelled_ids": [i for i, lab in zip(images.image_ids, images.labels)
                                                              if lab is not None]})
                t0 = time.perf_counter()
                out = trainer(images, dataclasses.replace(bb.train, seed=bb.train.seed + f), patch=patch)
                result.train_seconds.setdefault(bb.name, []).append(time.perf_counter() - t0)
                ext = out.extractor
                if full is None or full.feature_key != ext.key:  # a backbone left unchanged (0 steps) is extracted once
                    t0 = time.perf_counter()
                    full = _extract(ds, ext, work_of, all_scales)
                    result.extract_seconds_per_image.setdefault(bb.name, []).append((time.perf_counter() - t0) / len(ds))
                    e2e_cache.clear()  # the frozen maps of one backbone at a time
                loss = f", loss {np.mean(out.history[-20:]):.3f}" if out.history else ""
                log(f"fold {f + 1}/{k}: {bb.name} budget {budget} trained ({out.steps_run} steps{loss}) and extracted")
                heads = {}  # the plain row's trained heads, where end-to-end starts from them
                for v in variants:
                    ftr = _variant_ds(full.subset(tr_idx), v, all_scales, ext.dim)
                    fte = _variant_ds(full.subset(te_idx), v, all_scales, ext.dim)
                    for run in my_runs:
                        if v.runs is None or run.name in v.runs:
                            model = _fit_score(row(bb.name + v.suffix).setdefault(run.name, MethodResult(run.name)),
                                               run, ftr, fte, seed, f)
                            if v == Variant():
                                heads[run.name] = model.head
                for run in my_runs:
                    if run.name in bb.end_to_end:
                        init = heads.get(run.name) if bb.e2e_init == "heads" else None
                        if bb.e2e_init == "heads" and init is None:
                            raise ValueError(f"{run.name}: end-to-end from the heads needs the plain row of that run")
                        _fit_score_e2e(row(bb.name + "+e2e").setdefault(run.name, MethodResult(run.name)), run, ext,
                                       bb.e2e_epochs, tr, te, work_of, seed, f, e2e_cache, init)
                        log(f"fold {f + 1}/{k}: {bb.name} end-to-end {run.name} done")
    pooled = ds.subset(np.concatenate([te for _, te in splits]))
    order = [r.name for r in runs]
    for name, methods in rows.items():
        ordered = {n: methods[n] for n in order if n in methods}
        result.rows[name] = CVResult(pooled, splits, ordered, "cv")
    return result
