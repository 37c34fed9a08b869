"""Does feature augmentation help? The same patient-wise CV with and without augmented views
(flips, quarter turns, a shifted grid) added to every fold's training images.

    MAMMO_ANNOTATOR_CACHE=out/cache .venv/bin/python scripts/eval_augmentation.py \
        --db out/mias.sqlite --out out/augment [--epochs 60] [--folds 5]

Computes and caches the view features the project still lacks (the project's extractor), then
writes <out>/results.md and <out>/summary.json: one table per augmentation setting.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from mammo_annotator.ml.cv import cross_validate, default_runs
from mammo_annotator.ml.report import markdown_table, summary_table
from mammo_annotator.ml.train import TrainConfig
from mammo_annotator.services.datasets import load_dataset
from mammo_annotator.services.features import ensure_features, project_extractor
from mammo_annotator.services.project import open_project
from mammo_annotator.services.training import augmented_view

SETTINGS = {"none": (), "flip_lr": ("flip_lr",), "flips+turns+shift": ("flip_lr", "flip_ud", "rot90", "shift")}
RUNS = ("cls_det_rs", "ss_cls_det_rs_50", "ss_cls_det_rs_100")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--settings", nargs="*", default=list(SETTINGS), choices=list(SETTINGS))
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    project = open_project(a.db)
    ext = project_extractor(project)
    views = sorted({v for name in a.settings for v in SETTINGS[name]})
    for view in views:
        bar = tqdm(desc=f"features {view}", unit="image")

        def progress(done, total, message, bar=bar):
            bar.total = total
            bar.n = done
            bar.refresh()

        t0 = time.perf_counter()
        done, failures = ensure_features(project, ext, progress, view=view)
        bar.close()
        print(f"{view}: {done} images computed in {time.perf_counter() - t0:.0f} s, {len(failures)} failed", flush=True)
    pd = load_dataset(project, ext.key)
    view_data = {v: augmented_view(project, pd, ext.key, v) for v in views}
    runs = [r for r in default_runs(TrainConfig(epochs=a.epochs, num_threads=a.threads)) if r.name in RUNS]
    summary, md = {"args": vars(a), "extractor": ext.key, "n_images": len(pd.data), "settings": {}}, []
    for name in a.settings:
        t0 = time.perf_counter()
        res = cross_validate(pd.data, runs, k=a.folds, views=[view_data[v] for v in SETTINGS[name]])
        summary["settings"][name] = {"table": summary_table(res, n_boot=1000), "seconds": time.perf_counter() - t0}
        md.append(markdown_table(summary["settings"][name]["table"], title=f"augmentation: {name}"))
        print(md[-1], flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=float), encoding="utf-8")
    (out / "results.md").write_text("\n".join(md), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
