"""Build data.sqlite.example: a small synthetic project the app opens on first start.

Synthetic mammograms (no licensed data), their weak labels, the true contours of about half of
the malignant images (the rest are left for the annotator) and a trained model with its
proposals (the region features are not shipped: the first retrain recomputes them). Deterministic; run from the repository root:

    .venv/bin/python scripts/make_example_db.py [--out data.sqlite.example]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sqlite3
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mammo_annotator.core.types import GridSpec  # noqa: E402
from mammo_annotator.ml.features.registry import DEFAULT_EXTRACTOR  # noqa: E402
from mammo_annotator.services.importing import ImportReport, import_loaded  # noqa: E402
from mammo_annotator.services.project import open_project  # noqa: E402
from mammo_annotator.services.synthetic_source import synthetic_imports  # noqa: E402
from mammo_annotator.services.training import TrainingRequest, run_training  # noqa: E402


def build(out: Path, n_patients: int = 6, seed: int = 7) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MAMMO_ANNOTATOR_CACHE", str(Path(tmp) / "cache"))
        work = Path(tmp) / "example.sqlite"
        project = open_project(work, create=True)
        project.set_grid_spec(GridSpec(size_mm=22.4, stride_mm=11.2))  # 112 px at the generator's 0.2 mm
        project.set_setting("extractor", {"name": DEFAULT_EXTRACTOR, "options": {}})
        report = ImportReport()
        malignant_seen = 0
        for item, loaded, sha in synthetic_imports(n_patients, seed=seed, size=(1024, 832)):
            if item.weak.y_m == 1:
                malignant_seen += 1
                if malignant_seen % 2 == 0:  # every other malignant image is left for the annotator
                    item = dataclasses.replace(item, lesions=tuple(les for les in item.lesions if les.cls.value == "B"),
                                               lesions_complete=False)
            import_loaded(project, item, loaded, sha, report)
        print(report.summary())
        outcome = run_training(project, TrainingRequest(epochs=60, seed=0, activate="always"))
        print(f"model version {outcome.version_id}: {outcome.message}")
        project.close()
        con = sqlite3.connect(work)
        # region features (472 floats a window) are recomputed by the first retrain in about
        # 20 s; shipping them would make the file ten times larger
        con.execute("DELETE FROM features")
        con.commit()
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("PRAGMA journal_mode=DELETE")  # one self-contained file in the repository
        con.execute("VACUUM")
        con.close()
        os.replace(work, out)
    print(f"{out}: {out.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "data.sqlite.example")
    parser.add_argument("--patients", type=int, default=6)
    args = parser.parse_args()
    build(args.out, args.patients)
