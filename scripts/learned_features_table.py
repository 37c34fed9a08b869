"""Markdown tables for docs/results.md from the summary.json files of eval_learned_features.py.

    .venv/bin/python scripts/learned_features_table.py out/i7/sup/summary.json out/i7/ssl/summary.json
"""

from __future__ import annotations

import json
import sys

import numpy as np

COLS = [("cls_det_rs", "weak"), ("ss_cls_det_rs_25", "SS 25 %"), ("ss_cls_det_rs_50", "SS 50 %"),
        ("ss_cls_det_rs_75", "SS 75 %"), ("ss_cls_det_rs_100", "SS 100 %")]
NAMES = {"given": "hand-crafted (floor)", "supervised": "learned, supervised + MIL", "simclr": "learned, SimCLR (frozen)"}


def cell(row: dict, metric: str, pooled: bool) -> str:
    m = row["metrics"].get(metric)
    if m is None or m["mean"] != m["mean"]:
        return "n/a"
    s = f"{m['mean']:.3f} ± {m['std']:.3f}"
    p = row["pooled"].get(metric) if pooled else None
    return s + (f" ({p['estimate']:.2f}, {p['ci95'][0]:.2f}-{p['ci95'][1]:.2f})" if p else "")


def table(rows: dict, metric: str, pooled: bool, names: list[str]) -> list[str]:
    out = ["| features | " + " | ".join(c for _, c in COLS) + " |", "|---" * (len(COLS) + 1) + "|"]
    for name in names:
        if name in rows:
            out.append(f"| {NAMES.get(name.split('+')[0], name)}{' ' + '+'.join(name.split('+')[1:]) if '+' in name else ''} | "
                       + " | ".join(cell(rows[name][r], metric, pooled) if r in rows[name] else "-" for r, _ in COLS) + " |")
    return out


def main(paths: list[str]) -> None:
    rows, train_s, extract_s = {}, {}, {}
    for p in paths:
        d = json.load(open(p))
        rows.update(d["rows"])
        train_s.update(d["train_seconds"])
        extract_s.update(d["extract_seconds_per_image"])
    base = [n for n in ("given", "supervised", "simclr") if n in rows]
    allnames = base + sorted(n for n in rows if n not in base)
    print("M vs BN AUROC, mean ± std over 5 folds (pooled out-of-fold AUROC, patient-bootstrap 95 % CI):\n")
    print("\n".join(table(rows, "M_vs_BN/auroc", True, allnames)))
    print("\nMB vs N AUROC, mean ± std over folds (pooled, 95 % CI):\n")
    print("\n".join(table(rows, "MB_vs_N/auroc", True, allnames)))
    print("\nFROC, malignant: sensitivity at 1 false positive per image, mean ± std over folds:\n")
    print("\n".join(table(rows, "froc_M/sens@1fppi", False, allnames)))
    print("\nTimings (this run, 2 shared CPU cores):\n")
    print("| extractor | backbone trainings | train s (mean ± std) | extract s/image (3 scales) |\n|---|---|---|---|")
    for k in train_s:
        t, e = np.array(train_s[k]), np.array(extract_s[k])
        print(f"| {k} | {len(t)} | {t.mean():.0f} ± {t.std():.0f} | {e.mean():.3f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
