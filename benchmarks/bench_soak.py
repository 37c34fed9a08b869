"""Soak (issue 12): minutes of annotating while background retrains run, CLI readers, a second
app instance and SIGKILLed writers, all on one project file; then integrity and nothing lost.

    OMP_NUM_THREADS=1 python benchmarks/bench_soak.py [--seconds 300] [--seed 0]

The services are driven as the GUI drives them (``tests/reliability/soak.py``): an app instance
holding the project's lock saves a contour about every 100 ms, its training queue retrains in
the background (auto after 4 newly annotated images, plus Ctrl+R every --retrain-every s);
other processes run ``mammo-annotator info`` and ``models`` in turn; every fourth reader turn a
second app instance opens the project (it must get it read-only, naming the holder); a writer
process is started and SIGKILLed in the middle of its saves every ~--kill-every s. Prints the
load held, the faults survived, the integrity check and what was lost (must be nothing); exits
1 when anything was lost or failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> int:
    from tests.reliability.soak import build_project, run_soak

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retrain-every", type=float, default=20.0)
    parser.add_argument("--kill-every", type=float, default=4.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mammo-soak-") as tmp:
        os.environ.setdefault("MAMMO_ANNOTATOR_CACHE", str(Path(tmp) / "cache"))
        t = time.perf_counter()
        path = build_project(Path(tmp))
        print(f"project built in {time.perf_counter() - t:.0f} s: {path.name}")
        res = run_soak(path, args.seconds, seed=args.seed, retrain_every_s=args.retrain_every,
                       kill_every_s=args.kill_every)
        for line in res.lines():
            print(line)
        for what, items in (("save errors", res.save_errors), ("failed retrains", res.retrains_failed),
                            ("CLI failures", res.cli_failures), ("second instance", res.second_instance_wrong)):
            for item in items[:3]:
                print(f"  {what}: {item}")
        print("RESULT", "ok: nothing lost" if res.ok else "FAILED")
        return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
