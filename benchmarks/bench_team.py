"""Team use under load: N annotator processes save and edit contours on a few shared images while
two "machines" try to retrain, on a SQLite file and on a PostgreSQL server.

    python benchmarks/bench_team.py [--annotators 2 4 8] [--seconds 20] [--images 4] [--backend sqlite postgresql]
                                    [--db postgresql+psycopg://user@host/empty_db]

Without ``--db`` a throw-away PostgreSQL server is started (initdb in a temp folder, as the tests
do; needs the Debian package postgresql). Prints, per backend and N: accepted writes per second,
stale edits refused, annotations lost (must be 0), images whose revision missed a write (must be
0) and how the two retraining attempts ended (one runs, one is refused).

Figures measured on the 2-core development container (numbers of one run; the annotators pause
0-10 ms between reading and saving, the retraining holds one core):

    see the closing note of issue 14 for the table of the latest run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _project(target: str, n_images: int) -> list[int]:
    from mammo_annotator.core.types import GridSpec
    from mammo_annotator.services.features import ensure_features, project_extractor
    from mammo_annotator.services.project import open_project
    from mammo_annotator.services.synthetic_source import import_synthetic
    from mammo_annotator.services.viewing import worklist

    project = open_project(target, create=True)
    project.set_grid_spec(GridSpec(size_mm=22.4, stride_mm=11.2))
    import_synthetic(project, n_patients=4, seed=1, size=(384, 320))
    ensure_features(project, project_extractor(project))
    ids = [row.image_id for row in worklist(project)][:n_images]
    project.close()
    return ids


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--annotators", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--images", type=int, default=4, help="shared images the annotators work on")
    ap.add_argument("--backend", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    ap.add_argument("--db", help="an empty PostgreSQL database to use instead of a throw-away server (one N only)")
    args = ap.parse_args(argv)

    from tests import pg_server as pg
    from tests.team_load import run_load

    tmp = Path(tempfile.mkdtemp(prefix="mammo-bench-team-"))
    os.environ["MAMMO_ANNOTATOR_CACHE"] = str(tmp / "cache")
    server = None
    try:
        if "postgresql" in args.backend and not args.db:
            server = pg.start()
            os.environ["PGPASSFILE"] = str(server.pgpass)
        print(f"{'backend':<11} {'N':>3} {'writes/s':>9} {'saves':>6} {'edits':>6} {'refused':>8} {'lost':>5} "
              f"{'rev.miss':>8} {'errors':>6}  retraining")
        for backend in args.backend:
            for n in args.annotators:
                if backend == "sqlite":
                    target = str(tmp / f"team-{n}.sqlite")
                else:
                    target = args.db if args.db else server.new_database()
                ids = _project(target, args.images)
                r = run_load(target, ids, n_annotators=n, seconds=args.seconds, trainers=2)
                done = [t for t in r.trainers if t["state"] == "done"]
                refused = [t for t in r.trainers if t["error"] and "retraining runs on" in t["error"]]
                print(f"{backend:<11} {n:>3} {r.writes_per_s:>9.1f} {r.saves:>6} {r.edits:>6} {r.conflicts:>8} {r.lost:>5} "
                      f"{r.revision_mismatches:>8} {len(r.errors):>6}  {len(done)} ran "
                      f"({', '.join(format(t['seconds'], '.0f') + ' s' for t in done)}), {len(refused)} refused", flush=True)
                for e in r.errors[:3]:
                    print(f"    error: {e}")
                if server is not None and backend == "postgresql":
                    server.drop_database(target)
    finally:
        if server is not None:
            pg.stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
