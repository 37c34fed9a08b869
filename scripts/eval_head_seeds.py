"""How much a CV row moves with the heads' random stream alone (initialisation, dropout, batch
order), on one patient-wise split, optionally with the package of another checkout.

    .venv/bin/python scripts/eval_head_seeds.py --db out/mias.sqlite --seeds 5 --methods ss_cls_det_rs_50 ss_cls_det_rs_100
    git worktree add /tmp/before <commit>
    .venv/bin/python scripts/eval_head_seeds.py --db out/mias.sqlite --package /tmp/before ...   # that commit's code

Heads as in scripts/eval_pretrained.py (60 epochs, float32, one thread); the row for head seed 0
equals that script's. Prints each row's fold-mean M vs BN AUROC per head seed, and mean ± std.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", required=True)
    p.add_argument("--package", help="import mammo_annotator from this checkout instead (its ml code is measured)")
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--seeds", type=int, default=5, help="head seeds 0 .. N-1")
    p.add_argument("--methods", nargs="+", required=True)
    p.add_argument("--extractor", default=None, help="feature key (default: the default extractor's)")
    a = p.parse_args(argv)
    if a.package:
        sys.path.insert(0, a.package)
    import numpy as np

    from mammo_annotator.ml.cv import cross_validate, default_runs
    from mammo_annotator.ml.features.registry import DEFAULT_EXTRACTOR, build_extractor
    from mammo_annotator.ml.train import TrainConfig
    from mammo_annotator.services.datasets import load_dataset
    from mammo_annotator.services.project import open_project

    project = open_project(a.db)
    ds = load_dataset(project, a.extractor or build_extractor(DEFAULT_EXTRACTOR).key).data
    rows: dict[str, list[float]] = {}
    for h in range(a.seeds):
        runs = [r for r in default_runs(TrainConfig(epochs=60, num_threads=1, bf16=False, seed=h)) if r.name in a.methods]
        for name, m in cross_validate(ds, runs, 5, a.split_seed).methods.items():
            rows.setdefault(name, []).append(float(np.mean([fm["M_vs_BN/auroc"] for fm in m.fold_metrics])))
        print(f"head seed {h} done", flush=True)
    for name, v in rows.items():
        print(f"{name}: {' / '.join(f'{x:.3f}' for x in v)}   mean {np.mean(v):.3f} ± {np.std(v, ddof=1) if len(v) > 1 else 0:.3f}")
    project.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
