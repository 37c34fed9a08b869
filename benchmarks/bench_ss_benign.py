"""How fast each objective learns the benign class: test AUROC (M and B) against the number of
epochs for weak Cls-Det-RS, SS-Cls-Det-RS and SS-Baseline-RS (50 % of malignant images with
region labels), on synthetic region features with a known answer.

    .venv/bin/python benchmarks/bench_ss_benign.py [--epochs 10 30 60 120] [--images 1500]
"""

from __future__ import annotations

import argparse

from mammo_annotator.ml.cv import select_local
from mammo_annotator.ml.metrics import auroc
from mammo_annotator.ml.model import method
from mammo_annotator.ml.scoring import score
from mammo_annotator.ml.simulate import sim_for_size
from mammo_annotator.ml.train import TrainConfig, train


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, nargs="*", default=[10, 30, 60, 120])
    ap.add_argument("--images", type=int, default=1500)
    args = ap.parse_args()
    tr, te = sim_for_size(args.images, seed=1), sim_for_size(args.images * 2 // 5, seed=2)
    data = {"cls_det_rs": tr.without_local_labels(), "ss_cls_det_rs": select_local(tr, 0.5, 0),
            "ss_baseline_rs": select_local(tr, 0.5, 0)}
    print(f"{'method':16s} {'epochs':>6s}  {'M AUROC':>8s}  {'B AUROC':>8s}  seconds")
    for name, ds in data.items():
        for epochs in args.epochs:
            res = train(ds, method(name), TrainConfig(epochs=epochs))
            sc = score(res.model, te)
            print(f"{name:16s} {epochs:6d}  {auroc(te.y_m, sc.p_m):8.3f}  {auroc(te.y_b, sc.p_b):8.3f}  "
                  f"{res.elapsed_s:7.1f}", flush=True)


if __name__ == "__main__":
    main()
