"""The first `mammo-annotator train` of a new mini-MIAS project, as a new user runs it (target < 3 min).

    .venv/bin/python benchmarks/bench_first_train.py [--dataset ../shared/datasets/mini-mias] [--keep DIR]

Imports the 214 images with 112/56 px windows into a fresh project (timed on its own), then times
the first training from the command line: feature extraction of every image with the default
extractor plus the heads, validation and the stored proposals. Prints the wall time of each
command and, from the stored model version, the heads' own training time. Needs the dataset
(skips with a message when it is absent).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "mammo_annotator.cli"]


def timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return time.perf_counter() - t0, out.stdout


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=str(REPO / ".." / "shared" / "datasets" / "mini-mias"))
    ap.add_argument("--keep", help="write the project here and keep it (default: a temporary folder)")
    a = ap.parse_args(argv)
    if not Path(a.dataset).is_dir():
        print(f"skipped: {a.dataset} not found")
        return 0
    folder = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="mammo-first-train-"))
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "mias.sqlite"
    os.environ.setdefault("MAMMO_ANNOTATOR_CACHE", str(folder / "cache"))
    print(f"load average before: {os.getloadavg()[0]:.2f}, cores {os.cpu_count()}")
    t_import, _ = timed(CLI + ["import-dataset", "--db", str(db), "mini-mias", a.dataset, "--window", "112", "--stride", "56"])
    print(f"import-dataset: {t_import:.1f} s")
    t_train, out = timed(CLI + ["train", "--db", str(db)])
    print(f"train: {t_train:.1f} s", flush=True)
    con = sqlite3.connect(db)
    extractor, metrics = con.execute("SELECT extractor_key, metrics_json FROM model_versions ORDER BY id DESC LIMIT 1").fetchone()
    con.close()
    heads = json.loads(metrics).get("train_seconds", float("nan"))
    print(f"first train: {t_train:.1f} s wall (target < 180 s: {'met' if t_train < 180 else 'not met'}), "
          f"heads {heads:.1f} s, extractor {extractor}")
    print(out.strip().splitlines()[-1] if out.strip() else "")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if not a.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
