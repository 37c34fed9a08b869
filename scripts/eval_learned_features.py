"""Issue 7 experiment: hand-crafted vs learned backbones (x bilateral, x multi-scale) on a
project database, fold-wise (backbones trained inside each fold; see ml/learned_cv.py).

    MAMMO_ANNOTATOR_CACHE=out/cache .venv/bin/python scripts/eval_learned_features.py \
        --db out/i7/mias_i7.sqlite --out out/i7/sup --backbones supervised

Writes <out>/summary.json (per row: Table-2 summary with mean/std and pooled 95 % CI, timings)
and <out>/results.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

from mammo_annotator.ml.cv import default_runs
from mammo_annotator.ml.features.learned_train import ExtractorTrainConfig
from mammo_annotator.ml.learned_cv import BackboneSpec, Variant, learned_cv
from mammo_annotator.ml.report import markdown_table, summary_table
from mammo_annotator.ml.train import TrainConfig
from mammo_annotator.services.datasets import load_dataset
from mammo_annotator.services.features import project_extractor
from mammo_annotator.services.learned_features import work_image_reader
from mammo_annotator.services.project import open_project

RUNS = ("cls_det_rs", "ss_cls_det_rs_25", "ss_cls_det_rs_50", "ss_cls_det_rs_75", "ss_cls_det_rs_100")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--backbones", nargs="*", default=["supervised"], choices=["supervised", "simclr"])
    p.add_argument("--no-given", action="store_true", help="skip the hand-crafted (cached) rows")
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--budgets", nargs="*", default=["none", "0.5", "1.0"])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--context", type=int, default=0, help="work px of context around training windows")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--variants", nargs="*", default=["plain", "bilateral", "ms"])
    p.add_argument("--runs", nargs="*", default=list(RUNS), choices=RUNS, help="rows of the table (default: all)")
    p.add_argument("--e2e", nargs="*", default=[], choices=RUNS,
                   help="runs that also get an end-to-end row (backbone last stage + heads trained together)")
    p.add_argument("--e2e-epochs", type=int, default=5)
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    project = open_project(a.db)
    ds = load_dataset(project, project_extractor(project).key).data
    work_of = functools.lru_cache(maxsize=None)(work_image_reader(project, 0.2))

    t0 = time.perf_counter()
    for i in ds.image_ids:
        work_of(str(i))
    print(f"{len(ds)} images loaded in {time.perf_counter() - t0:.1f} s", flush=True)
    runs = [r for r in default_runs(TrainConfig(epochs=a.epochs, seed=0)) if r.name in a.runs]
    budgets = tuple(None if b == "none" else float(b) for b in a.budgets)
    backbones = []
    for name in a.backbones:
        cfg = ExtractorTrainConfig(mode=name, steps=a.steps, batch=a.batch, num_threads=a.threads, context=a.context)
        backbones.append(BackboneSpec(name, cfg, budgets if name == "supervised" else (None,),
                                      end_to_end=tuple(a.e2e), e2e_epochs=a.e2e_epochs))
    short = ("cls_det_rs", "ss_cls_det_rs_100")
    variants = {"plain": Variant(), "bilateral": Variant("+bilateral", bilateral=True, runs=short),
                "ms": Variant("+ms124", scales=(1.0, 2.0, 4.0), runs=short)}
    res = learned_cv(ds, work_of, runs, backbones, [variants[v] for v in a.variants], include_given=not a.no_given,
                     k=a.folds, log=lambda m: print(f"[{time.perf_counter() - t0:7.1f} s] {m}", flush=True))
    summary = {"rows": {}, "train_seconds": res.train_seconds, "extract_seconds_per_image": res.extract_seconds_per_image,
               "args": vars(a), "n_images": len(ds), "feature_key_given": ds.feature_key}
    md = []
    for name, cv in res.rows.items():
        summary["rows"][name] = summary_table(cv, n_boot=1000)
        md.append(markdown_table(summary["rows"][name], title=name))
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=float), encoding="utf-8")
    (out / "results.md").write_text("\n".join(md), encoding="utf-8")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
