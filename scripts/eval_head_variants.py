"""Variants of the heads on the project's default (frozen) features, over several CV splits.

    .venv/bin/python scripts/eval_head_variants.py --db out/mias.sqlite --variants plain bilateral ...

Every variant runs weak-only Cls-Det-RS and SS-Cls-Det-RS with every malignant image contoured,
with the folds, contour selections and head settings of ``scripts/eval_pretrained.py --rows
frozen`` (60 epochs, float32, one thread, training seed 0), and prints the fold-mean AUROC per
split and its mean over the splits. Variants:

- ``plain``: the default; also scored four ways from the same heads: p(y_c | x) (the paper's and
  the app's), the max and the top-3 mean of p_cls(c | r), and the max of d_c(r);
- ``bilateral``: features [f, f - f_contra, has_contra] (``ml.bilateral``);
- ``centred``: f minus the image's mean feature; ``centred+plain``: both side by side;
- ``hidden32``, ``hidden512``, ``wd1e-2``, ``lr3e-3``: head size and optimisation;
- ``ensemble``: the mean of ``--heads`` heads trained with seeds 0, 1, ...
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
from typing import Callable

import numpy as np

from mammo_annotator.ml.bilateral import add_bilateral
from mammo_annotator.ml.cv import patient_folds, select_local, split_aurocs, split_row
from mammo_annotator.ml.dataset import RegionDataset
from mammo_annotator.ml.features.registry import DEFAULT_EXTRACTOR, build_extractor
from mammo_annotator.ml.model import method
from mammo_annotator.ml.scoring import Scores, score
from mammo_annotator.ml.train import TrainConfig, train
from mammo_annotator.services.datasets import load_dataset
from mammo_annotator.services.project import open_project

ROWS = {"cls_det_rs": ("cls_det_rs", None), "ss_cls_det_rs_100": ("ss_cls_det_rs", 1.0)}
HEAD = {"hidden32": ({"hidden": 32}, {}), "hidden512": ({"hidden": 512}, {}),
        "wd1e-2": ({}, {"weight_decay": 1e-2}), "lr3e-3": ({}, {"lr": 3e-3})}
FEATURES = ("plain", "bilateral", "centred", "centred+plain")


def centred(ds: RegionDataset, keep: bool) -> RegionDataset:
    means = np.add.reduceat(ds.features, ds.offsets[:-1], axis=0) / ds.n_regions[:, None]
    c = ds.features - np.repeat(means, ds.n_regions, axis=0)
    feats = np.concatenate([ds.features, c], axis=1) if keep else c
    return dataclasses.replace(ds, features=feats.astype(np.float32), feature_key=f"{ds.feature_key}+centred")


def features_of(variant: str, ds: RegionDataset) -> RegionDataset:
    if variant == "bilateral":
        return add_bilateral(ds)
    if variant in ("centred", "centred+plain"):
        return centred(ds, keep=variant == "centred+plain")
    return ds


def _per_image(sc: Scores, col: np.ndarray, fn: Callable[[np.ndarray], float]) -> np.ndarray:
    return np.array([fn(col[sc.offsets[i]:sc.offsets[i + 1]]) for i in range(len(sc))])


SCORES: dict[str, Callable[[Scores], tuple[np.ndarray, np.ndarray]]] = {
    "p(y | x)": lambda sc: (sc.p_m, sc.p_b),
    "max p_cls": lambda sc: (_per_image(sc, sc.p_cls[:, 2], np.max), _per_image(sc, sc.p_cls[:, 1], np.max)),
    "top-3 p_cls": lambda sc: (_per_image(sc, sc.p_cls[:, 2], lambda v: np.sort(v)[-3:].mean()),
                               _per_image(sc, sc.p_cls[:, 1], lambda v: np.sort(v)[-3:].mean())),
    "max d": lambda sc: (_per_image(sc, sc.d[:, 1], np.max), _per_image(sc, sc.d[:, 0], np.max)),
}


def run(ds: RegionDataset, variant: str, splits: list[int], heads: int) -> dict[str, np.ndarray]:
    """(split, 2) fold-mean AUROCs (M vs BN, MB vs N) per printed line."""
    head_kw, train_kw = HEAD.get(variant, ({}, {}))
    data_all = features_of(variant, ds)
    n_heads = heads if variant == "ensemble" else 1
    scorings = SCORES if variant == "plain" else {"p(y | x)": SCORES["p(y | x)"]}
    out: dict[str, np.ndarray] = {}
    for row, (base, fraction) in ROWS.items():
        head = method(base, **head_kw)

        @functools.lru_cache(maxsize=None)  # one set of heads per fold serves every image score
        def scored(split: int, fold: int) -> list[Scores]:
            tr, te = patient_folds(data_all, 5, split)[fold]
            data = select_local(data_all.subset(tr), fraction if head.semi else None, split * 1000 + fold)
            cfgs = [TrainConfig(epochs=60, num_threads=1, bf16=False, seed=seed, **train_kw) for seed in range(n_heads)]
            return [score(train(data, head, c).model, data_all.subset(te), num_threads=1) for c in cfgs]

        for name, fn in scorings.items():
            def fold_scores(split: int, fold: int, train_ds: RegionDataset, test: RegionDataset,
                            fn=fn) -> tuple[np.ndarray, np.ndarray]:
                pairs = [fn(sc) for sc in scored(split, fold)]
                return np.mean([p[0] for p in pairs], 0), np.mean([p[1] for p in pairs], 0)

            out[f"{variant} {row} {name}"] = split_aurocs(data_all, splits, fold_scores)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--variants", nargs="+", default=["plain"], choices=[*FEATURES, *HEAD, "ensemble"])
    ap.add_argument("--splits", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--heads", type=int, default=5, help="heads averaged by the ensemble variant")
    a = ap.parse_args(argv)
    ds = load_dataset(open_project(a.db), build_extractor(DEFAULT_EXTRACTOR).key).data
    print("| variant, row, image score | M vs BN, mean | per split | MB vs N, mean | per split |\n|---|---|---|---|---|")
    for variant in a.variants:
        for line, v in run(ds, variant, a.splits, a.heads).items():
            print(split_row(line, v), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
