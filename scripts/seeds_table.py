"""One table from several runs of scripts/eval_pretrained.py that differ only in --seed (the split)
and --head-seed.

    .venv/bin/python scripts/seeds_table.py out/eval_s57 out/eval_s57_seed1 out/eval_s57_seed2 [--row "Lite0 frozen"]

A single 5-fold split of 214 images moves an AUROC by up to 0.15 (docs/results.md), so the
table gives, per method, the mean over the splits of the fold means, each split's fold mean, and
the pooled out-of-fold FROC sensitivity at 1 false positive per image averaged over the splits.
Runs of one split with several head seeds are averaged within the split first: each split's
figure is then the expected value of one head, not one draw of it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def load(folder: Path, row: str) -> tuple[int, int, dict]:
    """(split seed, head seed, the row's methods) of one run; runs before --head-seed used head seed 0."""
    d = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    return int(d["args"]["seed"]), int(d["args"].get("head_seed", 0)), d["rows"][row]


def _per_split(runs: list[tuple[int, int, dict]], value) -> list[float]:
    """``value(methods)`` of each split, averaged over that split's head seeds (in split order)."""
    splits = sorted({s for s, _h, _r in runs})
    return [float(np.mean([value(r) for s, _h, r in runs if s == split])) for split in splits]


def table(runs: list[tuple[int, int, dict]]) -> str:
    splits = sorted({s for s, _h, _r in runs})
    heads = {s: sorted(h for s2, h, _r in runs if s2 == s) for s in splits}
    head = ["method", "M vs BN, mean", "M vs BN per split", "MB vs N, mean", "MB vs N per split",
            "pooled M vs BN per split", "FROC M @1 FP", "FROC MB @1 FP"]
    about = ", ".join(f"{s}" + (f" (head seeds {', '.join(map(str, heads[s]))})" if heads[s] != [0] else "") for s in splits)
    lines = [f"splits (seeds): {about}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in runs[0][2]:
        cells = [name]
        for task in ("M_vs_BN/auroc", "MB_vs_N/auroc"):
            per = _per_split(runs, lambda r: r[name]["metrics"][task]["mean"])
            cells += [f"{np.mean(per):.3f}", " / ".join(f"{v:.3f}" for v in per)]
        pooled = _per_split(runs, lambda r: r[name]["pooled"]["M_vs_BN/auroc"]["estimate"])
        cells.append(" / ".join(f"{v:.3f}" for v in pooled))
        for c in ("M", "MB"):
            cells.append(f"{np.mean(_per_split(runs, lambda r: r[name]['pooled_froc'][f'{c}/sens@1fppi'])):.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", type=Path)
    p.add_argument("--row", default="Lite0 frozen")
    a = p.parse_args(argv)
    runs = [load(f, a.row) for f in a.folders]
    if len({(s, h) for s, h, _ in runs}) != len(runs):
        raise SystemExit("two folders hold the same split and head seed")
    print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
