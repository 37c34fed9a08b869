"""Memory and time of the inputs that used to run away: a large real-size PNG, a PNG bomb and a
50,000-point ROI (issue 12).

    python benchmarks/bench_hostile_import.py [--side 12000]

Each case runs `mammo-annotator import` (or the contour check) in a fresh interpreter and
prints that interpreter's peak resident memory (its own ru_maxrss) and wall time.
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MAKE_LARGE = """
import sys
import numpy as np
from PIL import Image
from mammo_annotator.core.synthetic import synthetic_mammogram
side = int(sys.argv[2])
px = (synthetic_mammogram(1, size=(1000, 1000)).pixels >> 4).astype(np.uint8)
reps = -(-side // 1000)
Image.fromarray(np.kron(px, np.ones((reps, reps), np.uint8))[:side, :side]).save(sys.argv[1], compress_level=1)
"""
ROI_CHECK = """
import numpy as np
from mammo_annotator.core.contours import check_contour
from mammo_annotator.core.errors import InvalidContourError
pts = np.random.default_rng(0).random((50_000, 2)) * [3000, 4000]
try:
    check_contour(pts, 3328, 4084)
except InvalidContourError as exc:
    print(exc)
"""


# runs a module or a code string in this child and reports the child's own peak memory at exit
WRAP = """
import atexit, resource, runpy, sys
atexit.register(lambda: print("MAXRSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr))
what, sys.argv = sys.argv[1], sys.argv[1:]
if what == "-m":
    sys.argv = sys.argv[1:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    exec(what)
"""


def child(args: list[str], env: dict) -> tuple[float, float, str]:
    """(peak MB, seconds, first line of output) of one fresh interpreter."""
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", WRAP, *args], capture_output=True, text=True, env=env, cwd=REPO)
    seconds = time.perf_counter() - t0
    peak = [int(line.split()[1]) for line in run.stderr.splitlines() if line.startswith("MAXRSS")]
    lines = run.stdout.strip().splitlines()
    return (peak[-1] / 1024 if peak else float("nan")), seconds, lines[0] if lines else f"exit {run.returncode}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=12000)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mammo-hostile-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "MAMMO_ANNOTATOR_CACHE": str(tmp / "cache"), "OMP_NUM_THREADS": "1"}
        bomb = tmp / "bomb.png"
        Image.fromarray(np.full((8, 8), 90, np.uint8)).save(bomb)
        data = bytearray(bomb.read_bytes())
        data[16:24] = struct.pack(">II", 2**31 - 1, 2**31 - 1)
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
        bomb.write_bytes(bytes(data))
        big = tmp / "large.png"
        # written by a child: Linux carries a parent's peak RSS into its children, so this process stays small
        subprocess.run([sys.executable, "-c", MAKE_LARGE, str(big), str(args.side)], check=True, cwd=REPO)
        cli = ["-m", "mammo_annotator", "import", "--db"]
        cases = [("PNG claiming 2^31 x 2^31 pixels", cli + [str(tmp / "a.sqlite"), str(bomb)]),
                 ("50,000-point random ROI (check_contour)", [ROI_CHECK]),
                 (f"{args.side} x {args.side} 8-bit PNG import", cli + [str(tmp / "b.sqlite"), str(big)])]
        for name, cmd in cases:
            mb, seconds, line = child(cmd, env)
            print(f"{name:42s} peak {mb:7.0f} MB  {seconds:6.1f} s  {line[:90]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
