"""One table from several runs of scripts/eval_pretrained.py that differ only in --seed (the split).

    .venv/bin/python scripts/seeds_table.py out/eval_s57 out/eval_s57_seed1 out/eval_s57_seed2 [--row "Lite0 frozen"]

A single 5-fold split of 214 images moves an AUROC by up to 0.15 (docs/results.md), so the
table gives, per method, the mean over the splits of the fold means, each split's fold mean, and
the pooled out-of-fold FROC sensitivity at 1 false positive per image averaged over the splits.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def load(folder: Path, row: str) -> tuple[int, dict]:
    d = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    return int(d["args"]["seed"]), d["rows"][row]


def table(runs: list[tuple[int, dict]]) -> str:
    seeds = [s for s, _ in runs]
    head = ["method", "M vs BN, mean", "M vs BN per split", "MB vs N, mean", "MB vs N per split",
            "pooled M vs BN per split", "FROC M @1 FP", "FROC MB @1 FP"]
    lines = [f"splits (seeds): {', '.join(map(str, seeds))}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in runs[0][1]:
        cells = [name]
        for task in ("M_vs_BN/auroc", "MB_vs_N/auroc"):
            per = [r[name]["metrics"][task]["mean"] for _, r in runs]
            cells += [f"{np.mean(per):.3f}", " / ".join(f"{v:.3f}" for v in per)]
        cells.append(" / ".join(f"{r[name]['pooled']['M_vs_BN/auroc']['estimate']:.3f}" for _, r in runs))
        for c in ("M", "MB"):
            cells.append(f"{np.mean([r[name]['pooled_froc'][f'{c}/sens@1fppi'] for _, r in runs]):.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", type=Path)
    p.add_argument("--row", default="Lite0 frozen")
    a = p.parse_args(argv)
    runs = [load(f, a.row) for f in a.folders]
    if len({s for s, _ in runs}) != len(runs):
        raise SystemExit("two folders hold the same split seed")
    print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
