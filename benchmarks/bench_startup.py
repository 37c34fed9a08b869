"""Start-up time of the app: ``mammo-annotator screenshot`` (start, open the example project,
render, exit) as a fresh process, and which heavy modules that start imported (target < 3 s on a
quiet machine; torch and scikit-learn are meant to load only when a model is trained or scored,
scipy only to segment an image not shown before (the viewer caches its breast mask), Alembic only
to migrate).

    python benchmarks/bench_startup.py [--repeat 3] [--db FILE]

Each run uses a throwaway data folder (a fresh copy of the example) and settings file, so the
first-start copy is included; the pixel and mask caches are warmed by one untimed run first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "sklearn", "scipy", "alembic", "matplotlib", "highdicom", "pydicom")

PROBE = """
import sys, time
t0 = time.perf_counter()
from mammo_annotator.qt.app import render_screenshot
render_screenshot({db!r}, {out!r})
print("SECONDS", time.perf_counter() - t0)
print("HEAVY", ",".join(m for m in {heavy!r} if m in sys.modules))
"""


def run_once(db: str | None, folder: Path) -> tuple[float, float, str]:
    """(wall seconds of the whole process, seconds inside Python after start, heavy modules imported)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", MAMMO_ANNOTATOR_DATA=str(folder / "data"),
               MAMMO_ANNOTATOR_CACHE=os.environ.get("MAMMO_ANNOTATOR_CACHE", str(folder.parent / "cache")),
               XDG_CONFIG_HOME=str(folder / "config"))
    code = PROBE.format(db=db, out=str(folder / "shot.png"), heavy=HEAVY)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"screenshot failed:\n{done.stderr[-3000:]}")
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if line.startswith(("SECONDS", "HEAVY")))
    return wall, float(lines.get("SECONDS", "nan")), lines.get("HEAVY", "").strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--db", help="project to open (default: a fresh copy of the embedded example)")
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="mammo-startup-"))
    run_once(args.db, root / "warm")  # fills the pixel cache, as the first real start does
    walls, inside, heavy = [], [], ""
    for i in range(args.repeat):
        w, s, heavy = run_once(args.db, root / f"run{i}")
        walls.append(w)
        inside.append(s)
    print(f"mammo-annotator screenshot, {args.repeat} fresh processes (os.cpu_count()={os.cpu_count()}):")
    print(f"  whole process: median {statistics.median(walls):.2f} s, worst {max(walls):.2f} s")
    print(f"  import + open + render inside Python: median {statistics.median(inside):.2f} s")
    print(f"  heavy modules imported at start: {heavy or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
