"""Head learning rates on small synthetic projects: a check of a setting on data other than mini-MIAS.

    .venv/bin/python scripts/eval_lr_synthetic.py [--images 200] [--lrs 1e-2 3e-3] [--projects 5]

Each project is ``ml.simulate.sim_for_size(--images)`` with its own seed, trained for the epochs
the app gives a project of that size (``services.training.auto_epochs``), float32, one thread,
two head seeds per setting; every head is scored on one synthetic test set of 1,000 images.
Rows: weak-only Cls-Det-RS, SS-Cls-Det-RS with 50 % and 100 % of the malignant images contoured.
Prints the test AUROC, mean ± std over projects and head seeds.
"""

from __future__ import annotations

import argparse

import numpy as np

from mammo_annotator.ml.cv import select_local
from mammo_annotator.ml.metrics import image_and_breast_metrics
from mammo_annotator.ml.model import method
from mammo_annotator.ml.scoring import score
from mammo_annotator.ml.simulate import sim_for_size
from mammo_annotator.ml.train import TrainConfig, train
from mammo_annotator.services.training import auto_epochs

ROWS = {"weak Cls-Det-RS": ("cls_det_rs", None), "SS-Cls-Det-RS 50 %": ("ss_cls_det_rs", 0.5),
        "SS-Cls-Det-RS 100 %": ("ss_cls_det_rs", 1.0)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--lrs", type=float, nargs="+", default=[1e-2, 3e-3])
    ap.add_argument("--projects", type=int, default=5)
    a = ap.parse_args(argv)
    test = sim_for_size(1000, seed=99)
    results: dict[tuple[str, float], list[tuple[float, float]]] = {}
    epochs = 0
    for p in range(a.projects):
        project = sim_for_size(a.images, seed=100 + p)
        epochs = auto_epochs(len(project))
        for row, (name, fraction) in ROWS.items():
            data = select_local(project, fraction, p)
            for lr in a.lrs:
                for head_seed in range(2):
                    cfg = TrainConfig(epochs=epochs, lr=lr, num_threads=1, bf16=False, seed=head_seed)
                    sc = score(train(data, method(name), cfg).model, test, num_threads=1)
                    m = image_and_breast_metrics(test.y_m, test.y_b, sc.p_m, sc.p_b)
                    results.setdefault((row, lr), []).append((m["M_vs_BN/auroc"], m["MB_vs_N/auroc"]))
    print(f"{a.projects} synthetic projects of about {a.images} images, {epochs} epochs, test set of {len(test)}")
    print("| row | lr | M vs BN | MB vs N |\n|---|---|---|---|")
    for (row, lr), v in results.items():
        r = np.array(v)
        print(f"| {row} | {lr:g} | {r[:, 0].mean():.3f} ± {r[:, 0].std():.3f} | {r[:, 1].mean():.3f} ± {r[:, 1].std():.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
