"""Which taps, pooling and scale of the frozen EfficientNet-Lite: chosen by patient-wise CV.

    .venv/bin/python scripts/eval_pretrained_taps.py --db out/mias.sqlite --out out/taps [--scales native 2x]
    .venv/bin/python scripts/eval_pretrained_taps.py --db out/mias.sqlite --out out/taps_seed1 --seed 1 \
        --only 357/mean 2357/mean 57/mean 234567/mean

Per scale, one pass per image caches the mean and max of every stage 2-7 (stored in the
project under that probe extractor's key); each candidate is a column subset of it, so every
candidate is measured on the same folds with the same heads: weak-only Cls-Det-RS and
SS-Cls-Det-RS with every malignant image contoured. Writes <out>/taps.md and <out>/taps.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from mammo_annotator.ml.cv import cross_validate, default_runs
from mammo_annotator.ml.features.efficientnet_lite import LiteSpec
from mammo_annotator.ml.features.pretrained import PretrainedExtractor
from mammo_annotator.ml.report import summary_table
from mammo_annotator.ml.train import TrainConfig
from mammo_annotator.services.datasets import load_dataset
from mammo_annotator.services.features import ensure_features
from mammo_annotator.services.project import open_project

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_pretrained import pooled_froc  # noqa: E402  (the same FROC summary as the main table)

ALL = (2, 3, 4, 5, 6, 7)
CANDIDATES = [((3, 5, 7), "mean"), ((3, 5, 7), "max"), ((3, 5, 7), "meanmax"), ((4, 6, 7), "mean"),
              ((3, 4, 5, 6, 7), "mean"), ((5, 7), "mean"), ((3, 5), "mean"), ((7,), "mean"), ((5,), "mean"),
              ((2, 3, 5, 7), "mean"), ((4, 6, 7), "meanmax")]
RUNS = ("cls_det_rs", "ss_cls_det_rs_100")
METRICS = ("M_vs_BN/auroc", "MB_vs_N/auroc")  # fold mean ± std; then the pooled FROC M at 1 FP per image


def columns(stages: tuple[int, ...], pool: str, arch: str = "efficientnet-lite0") -> np.ndarray:
    """Columns of ``stages`` / ``pool`` in the probe's features (all means, then all maxima)."""
    start = np.concatenate([[0], np.cumsum(LiteSpec(arch, ALL).channels())])
    total = int(start[-1])
    cols = []
    for part, offset in (("mean", 0), ("max", total)):
        if pool in (part, "meanmax"):
            for s in stages:
                i = ALL.index(s)
                cols.append(np.arange(start[i], start[i + 1]) + offset)
    return np.concatenate(cols)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--scales", nargs="*", default=["native"], choices=["native", "2x"])
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--candidates", type=int, default=len(CANDIDATES), help="first N candidates only")
    p.add_argument("--only", nargs="*", help="candidates as taps/pool, e.g. 357/mean 57/mean (instead of the list)")
    p.add_argument("--seed", type=int, default=0, help="split and training seed (a second look at the finalists)")
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    project = open_project(a.db)
    runs = [r for r in default_runs(TrainConfig(epochs=a.epochs, num_threads=1, bf16=False, seed=a.seed))
            if r.name in RUNS]
    candidates = ([(tuple(int(c) for c in t.split("/")[0]), t.split("/")[1]) for t in a.only] if a.only
                  else CANDIDATES[: a.candidates])
    results, lines = {}, ["| scale | taps | pool | dim | " + " | ".join(f"{r} {m}" for r in RUNS for m in (*METRICS, "FROC M@1")) + " |",
                          "|" + "---|" * (4 + len(RUNS) * (len(METRICS) + 1))]
    for scale in a.scales:
        ext = PretrainedExtractor(stages=ALL, pool="meanmax", scale=scale)
        t0 = time.perf_counter()
        done, failures = ensure_features(project, ext)
        print(f"{scale}: {done} images extracted in {time.perf_counter() - t0:.0f} s, {len(failures)} failed", flush=True)
        ds = load_dataset(project, ext.key).data
        for stages, pool in candidates:
            cols = columns(stages, pool)
            sub = dataclasses.replace(ds, features=np.ascontiguousarray(ds.features[:, cols]),
                                      feature_key=f"{ext.key}[{stages}/{pool}]")
            t0 = time.perf_counter()
            res = cross_validate(sub, runs, k=a.folds, seed=a.seed)
            table = summary_table(res, n_boot=200)
            name = f"{scale} {''.join(map(str, stages))} {pool}"
            results[name] = {r: {m: table[r]["metrics"].get(m, {"mean": float("nan")}) for m in METRICS} for r in RUNS}
            cells = []
            for r in RUNS:
                cells += [f"{results[name][r][m]['mean']:.3f} ± {results[name][r][m].get('std', float('nan')):.3f}"
                          for m in METRICS]
                results[name][r]["froc_M@1"] = pooled_froc(res, r)["M/sens@1fppi"]
                cells.append(f"{results[name][r]['froc_M@1']:.2f}")
            lines.append(f"| {scale} | {''.join(map(str, stages))} | {pool} | {len(cols)} | " + " | ".join(cells) + " |")
            print(lines[-1], f"({time.perf_counter() - t0:.0f} s)", flush=True)
    (out / "taps.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "taps.json").write_text(json.dumps(results, indent=1, default=float), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
