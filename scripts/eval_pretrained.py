"""The results table of the pretrained-features issue, in one run with the same folds:
features {hand-crafted, EfficientNet-Lite frozen, fine-tuned from it} x every method of Table 2.

    MAMMO_ANNOTATOR_CACHE=out/cache .venv/bin/python scripts/eval_pretrained.py \
        --db out/mias.sqlite --out out/pretrained [--epochs 60] [--finetune supervised] \
        [--finetune-steps 60] [--budgets none 1.0] [--folds 5]

Hand-crafted and frozen Lite features (``--extractor``, default the app's) are computed once per image (cached in the project);
the fine-tuned rows train one backbone per fold and label budget on that fold's training
images only (``ml.learned_cv``: no leakage), starting from the packaged ImageNet weights. The
patient-wise folds are the same for every row (``ml.cv.patient_folds`` on the same images).
Writes <out>/results.md (mean ± std over folds, pooled 95 % CI, pooled FROC for M and for
MB vs N at 0.25 / 0.5 / 1 / 2 FP per image) and <out>/results.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np

from mammo_annotator.ml.cv import CVResult, cross_validate, default_runs, patient_folds
from mammo_annotator.ml.features.backbones import BackboneConfig
from mammo_annotator.ml.features.learned_train import ExtractorTrainConfig, train_extractor
from mammo_annotator.ml.features.registry import DEFAULT_EXTRACTOR, build_extractor
from mammo_annotator.ml.froc import DEFAULT_FPPI, froc
from mammo_annotator.ml.learned_cv import BackboneSpec, learned_cv
from mammo_annotator.ml.report import summary_table
from mammo_annotator.ml.train import TrainConfig
from mammo_annotator.services.datasets import load_dataset
from mammo_annotator.services.features import ensure_features
from mammo_annotator.services.learned_features import work_image_reader
from mammo_annotator.services.project import open_project

COLS = (("M_vs_BN/auroc", "M vs BN AUROC"), ("MB_vs_N/auroc", "MB vs N AUROC"), ("M_vs_BN/pauc", "M vs BN pAUCR"))


def pooled_froc(res: CVResult, name: str) -> dict[str, float]:
    sc = res.pooled_scores(name)
    out = {}
    for c in ("M", "MB"):
        for k, v in froc(res.dataset, sc, c).summary(DEFAULT_FPPI).items():
            out[f"{c}/{k}"] = v
    return out


def row_summary(res: CVResult, n_boot: int) -> dict:
    table = summary_table(res, n_boot=n_boot)
    for name in table:
        table[name]["pooled_froc"] = pooled_froc(res, name)
    return table


def markdown(tables: dict[str, dict]) -> str:
    head = (["features", "method"] + [label for _, label in COLS] + ["pooled M vs BN (95% CI)", "pooled MB vs N (95% CI)"]
            + [f"FROC M @{f:g}" for f in DEFAULT_FPPI] + [f"FROC MB @{f:g}" for f in DEFAULT_FPPI])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for feat, table in tables.items():
        for name, row in table.items():
            cells = [feat, name]
            for key, _ in COLS:
                m = row["metrics"].get(key)
                cells.append("n/a" if not m or np.isnan(m["mean"]) else f"{m['mean']:.3f} ± {m['std']:.3f}")
            for task in ("M_vs_BN/auroc", "MB_vs_N/auroc"):
                p = row["pooled"].get(task)
                cells.append(f"{p['estimate']:.3f} ({p['ci95'][0]:.3f}-{p['ci95'][1]:.3f})" if p else "n/a")
            for c in ("M", "MB"):
                cells += [f"{row['pooled_froc'][f'{c}/sens@{f:g}fppi']:.2f}" for f in DEFAULT_FPPI]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--head-seed", type=int, default=0,
                   help="seed of every head's initialisation, dropout and batch order (the split stays --seed's): the heads' own noise")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--finetune", nargs="*", default=["supervised"], choices=["supervised", "simclr"])
    p.add_argument("--finetune-steps", type=int, default=60)
    p.add_argument("--finetune-batch", type=int, default=32)
    p.add_argument("--budgets", nargs="*", default=["none", "1.0"], help="local-label budgets of the fine-tuned backbones")
    p.add_argument("--methods", nargs="*", help="run names (default: every row of default_runs)")
    p.add_argument("--e2e", nargs="*", default=[], help="runs that also get an end-to-end row (the Lite's stage 7 "
                   "trained with the heads on each fold's training images, from the fine-tuned backbone; "
                   "--finetune-steps 0 starts from the packaged weights)")
    p.add_argument("--e2e-epochs", type=int, default=5)
    p.add_argument("--e2e-init", choices=["fresh", "heads"], default="fresh",
                   help="end-to-end from fresh heads, or from the heads-only row's heads of the same fold")
    p.add_argument("--bf16", action="store_const", const=None, default=False,
                   help="heads in bfloat16 where the CPU has it, as the app trains (default: float32, the table's setting)")
    p.add_argument("--extractor", default=DEFAULT_EXTRACTOR,
                   help="registry name of the frozen row's extractor (e.g. efficientnet-lite2); fine-tuned rows "
                        "start from the same packaged network")
    p.add_argument("--scale", choices=["native", "2x", "spacing"], default=None,
                   help="input scale of the frozen row's Lite (default: the extractor's, 'spacing' at 0.2 mm)")
    p.add_argument("--target-spacing", type=float, default=None, help="mm per pixel for --scale spacing")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--rows", nargs="*", default=["hand-crafted", "frozen", "fine-tuned"],
                   choices=["hand-crafted", "frozen", "fine-tuned"],
                   help="feature rows to run (separate runs use the same folds: the split is written to the json)")
    a = p.parse_args(argv)
    if not a.extractor.startswith("efficientnet-lite") and "fine-tuned" in a.rows:
        p.error("fine-tuned rows start from a packaged EfficientNet-Lite: give --rows without fine-tuned")
    scale_opts = {k: v for k, v in (("scale", a.scale), ("target_spacing_mm", a.target_spacing)) if v is not None}
    if scale_opts and ("fine-tuned" in a.rows or not a.extractor.startswith("efficientnet-lite")):
        p.error("--scale / --target-spacing set the frozen Lite row's input: give --rows frozen (or hand-crafted)")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    project = open_project(a.db)
    runs = default_runs(TrainConfig(epochs=a.epochs, lr=a.lr, num_threads=1, bf16=a.bf16, seed=a.head_seed))
    if a.methods:
        runs = [r for r in runs if r.name in a.methods]
    hand, lite = build_extractor("handcrafted"), build_extractor(a.extractor, **scale_opts)
    short = a.extractor.replace("efficientnet-lite", "Lite")  # "Lite0 frozen", the label of the earlier tables
    frozen = f"{short} frozen" + (f" ({lite.key.split(':')[0].rsplit('-', 1)[-1]})" if scale_opts else "")
    datasets = {}
    wanted = [("hand-crafted", hand)] if "hand-crafted" in a.rows else []
    if "frozen" in a.rows or "fine-tuned" in a.rows:
        wanted.append((frozen, lite))
    for label, ext in wanted:
        t0 = time.perf_counter()
        done, failures = ensure_features(project, ext)
        print(f"{ext.key}: {done} images extracted in {time.perf_counter() - t0:.0f} s, {len(failures)} failed", flush=True)
        datasets[label] = load_dataset(project, ext.key).data
    ids = [list(d.image_ids) for d in datasets.values()]
    if any(i != ids[0] for i in ids):
        raise SystemExit("the feature sets do not cover the same images: the folds would differ")
    first = next(iter(datasets.values()))
    summary: dict = {"args": vars(a), "extractors": {k: e.key for k, e in wanted}, "rows": {}, "seconds": {},
                     "folds": [[str(first.image_ids[i]) for i in te] for _, te in patient_folds(first, a.folds, a.seed)]}
    tables = {}
    if "hand-crafted" in a.rows:
        t0 = time.perf_counter()
        tables["hand-crafted"] = row_summary(cross_validate(datasets["hand-crafted"], runs, a.folds, a.seed), a.n_boot)
        summary["seconds"]["hand-crafted"] = time.perf_counter() - t0
        print(markdown({"hand-crafted": tables["hand-crafted"]}), flush=True)

    work_of = functools.lru_cache(maxsize=None)(work_image_reader(project, 0.2))

    budgets = tuple(None if b == "none" else float(b) for b in a.budgets)
    specs = [BackboneSpec(f"{short} fine-tuned ({mode})",
                          ExtractorTrainConfig(mode=mode, steps=a.finetune_steps, batch=a.finetune_batch, mil_images=4,
                                               bag=8, lr=3e-4, device="auto", num_threads=None),
                          (None,) if mode == "simclr" else budgets, end_to_end=tuple(a.e2e), e2e_epochs=a.e2e_epochs,
                          e2e_init=a.e2e_init)
             for mode in a.finetune]  # SimCLR reads no label: one backbone per fold serves every row
    trainer = functools.partial(train_extractor, bcfg=BackboneConfig(arch=a.extractor, layer="s57", pool="avg"),
                                imagenet_weights="packaged")
    t0 = time.perf_counter()
    if "fine-tuned" not in a.rows:
        specs = []
    if "frozen" not in a.rows and not specs:
        _write(out, summary, tables)
        return 0
    lc = learned_cv(datasets[frozen], work_of, runs, specs, k=a.folds, seed=a.seed, trainer=trainer,
                    include_given="frozen" in a.rows, log=lambda m: print(m, flush=True))
    summary["seconds"][f"{short} frozen + fine-tuned"] = time.perf_counter() - t0
    summary["finetune_train_seconds"] = lc.train_seconds
    summary["extract_seconds_per_image"] = lc.extract_seconds_per_image
    for name, res in lc.rows.items():
        tables[frozen if name == "given" else name] = row_summary(res, a.n_boot)
    _write(out, summary, tables)
    return 0


def _write(out: Path, summary: dict, tables: dict) -> None:
    summary["rows"] = tables
    md = markdown(tables)
    (out / "results.md").write_text(md, encoding="utf-8")
    (out / "results.json").write_text(json.dumps(summary, indent=1, default=float), encoding="utf-8")
    print(md)


if __name__ == "__main__":
    sys.exit(main())
