"""Variants of the semi-supervised region terms, on the project's default features, over CV splits.

    .venv/bin/python scripts/eval_region_terms.py --db out/mias.sqlite --variants plain bal neg bal+neg \
        [--fraction 1.0] [--splits 0 1 2]

SS-Cls-Det-RS with ``--fraction`` of each training fold's malignant images contoured, with the
folds, contour selections and head settings of ``scripts/eval_pretrained.py --rows frozen`` (60
epochs, float32, one thread, training seed 0). A variant is a ``+``-joined set of:

- ``bal``: L_F_cls as the mean of the M regions' mean and the BN regions' mean (class-balanced,
  like the linear probe of ``scripts/eval_linear_probe.py``), not the paper's mean over all
  labelled regions (lambda1 = beta / m_f);
- ``neg``: every region of an image whose weak label rules out malignancy (y_M = 0) is a BN region
  label, and the image moves from the weak M term to the fully supervised terms, as a contoured
  image does;
- ``neg-in-w``: the same region labels, but the image also stays in the weak M term.

The variants live here, not in the package, because none became the default (docs/results.md).
It prints the fold-mean AUROC per split and over the splits.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from typing import Iterator

import numpy as np

import mammo_annotator.ml.train as train_module
from mammo_annotator.ml import losses
from mammo_annotator.ml.cv import select_local, split_aurocs, split_row
from mammo_annotator.ml.dataset import REGION_BN, REGION_M, RegionDataset
from mammo_annotator.ml.features.registry import DEFAULT_EXTRACTOR, build_extractor
from mammo_annotator.ml.model import method
from mammo_annotator.ml.scoring import score
from mammo_annotator.ml.train import TrainConfig, train
from mammo_annotator.services.datasets import load_dataset
from mammo_annotator.services.project import open_project

PARTS = ("plain", "bal", "neg", "neg-in-w")


def negative_regions(ds: RegionDataset, in_weak: bool) -> RegionDataset:
    """Label every region of the y_M = 0 images BN; ``in_weak`` keeps them in the weak M term."""
    neg = ds.y_m == 0
    labels = ds.region_labels.copy()
    labels[np.repeat(neg, ds.n_regions)] = REGION_BN
    return dataclasses.replace(ds, region_labels=labels, has_local=ds.has_local if in_weak else ds.has_local | neg)


@contextlib.contextmanager
def region_cls_weights(w_m: float, w_bn: float) -> Iterator[None]:
    """Train with L_F_cls = w_m * sum_M log p_cls(M) + w_bn * sum_BN log(1 - p_cls(M)) over every
    labelled region (the package's term, weighted per class and not restricted to contoured images)."""
    plain = losses.objective

    def objective(out, data, cfg, w, scale=1.0):
        loss, parts = plain(out, data, cfg, dataclasses.replace(w, w_full_cls=0.0), scale)
        ilp = losses.image_log_probs(out, cfg)
        is_m, is_bn = data.region_labels == REGION_M, data.region_labels == REGION_BN
        lc = (w_m * ilp.log_pcls[..., 1].masked_fill(~is_m, 0).sum()
              + w_bn * ilp.log1m_pcls[..., 1].masked_fill(~is_bn, 0).sum())
        return loss - scale * lc, parts

    train_module.objective = objective
    try:
        yield
    finally:
        train_module.objective = plain


def train_variant(data: RegionDataset, parts: set[str], seed: int):
    head = method("ss_cls_det_rs")
    cfg = TrainConfig(epochs=60, num_threads=1, bf16=False, seed=seed)
    if "neg" in parts or "neg-in-w" in parts:
        data = negative_regions(data, in_weak="neg-in-w" in parts)
    if parts <= {"plain", "neg"}:
        return train(data, head, cfg).model  # the package's own weights (contoured images' regions, 1 / m_f)
    n_m, n_bn = int(np.sum(data.region_labels == REGION_M)), int(np.sum(data.region_labels == REGION_BN))
    w_m, w_bn = ((head.beta / (2 * max(1, n_m)), head.beta / (2 * max(1, n_bn))) if "bal" in parts
                 else (head.beta / max(1, n_m + n_bn),) * 2)
    with region_cls_weights(head.lambda2 * w_m, head.lambda2 * w_bn):
        return train(data, head, cfg).model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--variants", nargs="+", default=["plain"])
    ap.add_argument("--fraction", type=float, default=1.0, help="share of malignant images contoured")
    ap.add_argument("--splits", type=int, nargs="*", default=[0, 1, 2])
    a = ap.parse_args(argv)
    for v in a.variants:
        if not set(v.split("+")) <= set(PARTS):
            ap.error(f"unknown variant {v!r}: join {', '.join(PARTS)} with '+'")
    ds = load_dataset(open_project(a.db), build_extractor(DEFAULT_EXTRACTOR).key).data
    print(f"SS-Cls-Det-RS, {a.fraction:.0%} of malignant images contoured")
    print("| variant | M vs BN, mean | per split | MB vs N, mean | per split |\n|---|---|---|---|---|")
    for v in a.variants:
        def fold_scores(split: int, fold: int, train: RegionDataset, test: RegionDataset) -> tuple[np.ndarray, np.ndarray]:
            model = train_variant(select_local(train, a.fraction, split * 1000 + fold), set(v.split("+")), 0)
            sc = score(model, test, num_threads=1)
            return sc.p_m, sc.p_b

        print(split_row(v, split_aurocs(ds, a.splits, fold_scores)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
