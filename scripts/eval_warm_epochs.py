"""Does a short warm-started retrain take in the contours just drawn? Epochs of the warm retrain
against accuracy, on the heads benchmark's synthetic data (3,000 training images, 1,000 test).

    .venv/bin/python scripts/eval_warm_epochs.py [--seeds 0 1 2 3] [--warm 1:1e-3 2:1e-3] [--new 1 20]

Per seed: SS-Cls-Det-RS trained (``--base-epochs``) with half of the malignant images contoured (the app's start),
then ``--new`` more malignant images contoured and a warm retrain (``WARM_START`` with each
``--warm`` EPOCHS:LR). Printed per setting, as means over the seeds: test AUROC M and B; the top-1
malignant region on the lesion in the test images; and "take-in", the same top-1 hit on the
images just contoured, before the retrain and after it. A retrain that misses a new contour
leaves take-in where it was. A full retrain from scratch with every contour is the reference.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from mammo_annotator.ml.cv import select_local
from mammo_annotator.ml.dataset import RegionDataset
from mammo_annotator.ml.metrics import auroc, top1_hit_rate
from mammo_annotator.ml.model import TrainedModel, method
from mammo_annotator.ml.scoring import score
from mammo_annotator.ml.simulate import sim_for_size
from mammo_annotator.ml.train import WARM_START, TrainConfig, train


def top1_hits(model: TrainedModel, ds: RegionDataset, images: np.ndarray) -> float:
    """Share of ``images`` whose highest d_M region is a malignant one (ground truth of the simulation)."""
    sub = ds.subset(images)
    return top1_hit_rate(sub.region_labels, score(model, sub).d[:, 1], sub.offsets, np.arange(len(sub)))


def held_out_row(model: TrainedModel, te: RegionDataset) -> np.ndarray:
    sc = score(model, te)
    return np.array([auroc(te.y_m, sc.p_m), auroc(te.y_b, sc.p_b), top1_hits(model, te, np.flatnonzero(te.y_m == 1))])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--warm", nargs="+", default=["1:1e-3", "2:1e-3", "2:3e-3"], help="EPOCHS:LR[:focus] of each warm retrain (focus: the new images join every batch)")
    ap.add_argument("--images", type=int, default=3000, help="training images (the test set stays 1,000)")
    ap.add_argument("--base-epochs", type=int, default=10,
                    help="epochs of the starting model (the app: 10 at 3,000 images, 60 at 200)")
    ap.add_argument("--new", type=int, nargs="+", default=[1, 20], help="malignant images contoured before the retrain")
    a = ap.parse_args(argv)
    tr, te = sim_for_size(a.images, seed=1), sim_for_size(1000, seed=2)
    ss = method("ss_cls_det_rs")
    rows: dict[str, list[np.ndarray]] = {}
    for seed in a.seeds:
        start = select_local(tr, 0.5, seed)
        base = train(start, ss, TrainConfig(epochs=a.base_epochs, seed=seed)).model
        pending = np.random.default_rng(seed).permutation(np.flatnonzero((tr.y_m == 1) & ~start.has_local))
        for n_new in a.new:
            new = pending[:n_new]
            keep = start.has_local.copy()
            keep[new] = True
            data = tr.with_local_labels(keep)
            before = top1_hits(base, tr, new)
            for setting in a.warm:
                e, lr, *flag = setting.split(":")
                focus = new if flag == ["focus"] else None
                warm = train(data, ss, dataclasses.replace(WARM_START, epochs=int(e), lr=float(lr), seed=seed),
                             init=base, focus=focus)
                name = f"{n_new} new, warm {e} epoch{'s' * (int(e) > 1)}, lr {float(lr):g}{', focus' * (focus is not None)}"
                rows.setdefault(name, []).append(
                    np.r_[held_out_row(warm.model, te), before, top1_hits(warm.model, tr, new), warm.elapsed_s])
            full = train(data, ss, TrainConfig(epochs=a.base_epochs, seed=seed))
            rows.setdefault(f"{n_new} new, full retrain", []).append(
                np.r_[held_out_row(full.model, te), before, top1_hits(full.model, tr, new), full.elapsed_s])
        print(f"seed {seed} done", flush=True)
    print(f"\nmeans over seeds {a.seeds}\n| setting | test AUROC M | B | test top-1 on lesion | take-in before | "
          "take-in after | seconds |\n|---|---|---|---|---|---|---|")
    for name, vals in rows.items():
        m = np.mean(vals, 0)
        print(f"| {name} | {m[0]:.3f} | {m[1]:.3f} | {m[2]:.3f} | {m[3]:.2f} | {m[4]:.2f} | {m[5]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
