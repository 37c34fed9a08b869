"""Build one small project database per schema revision (tests/store/fixtures/schema_NNNN.db).

Each file is what a release at that revision wrote: the schema of exactly that migration (the
Alembic upgrade stops there) with a little data in every table that revision has, written with
plain SQL against that schema, so the test that opens it with today's code checks the real
upgrade path and the reading of old rows. Run it once when a migration is added:

    .venv/bin/python scripts/make_schema_fixtures.py

Existing fixture files are kept (an old release's file never changes); pass --force to rebuild.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mammo_annotator.core.iom import label_regions  # noqa: E402
from mammo_annotator.core.regions import region_grid  # noqa: E402
from mammo_annotator.core.types import GridSpec, Lesion, LesionClass, Polygon  # noqa: E402

OUT = REPO / "tests" / "store" / "fixtures"
VERSIONS = REPO / "mammo_annotator" / "store" / "migrations" / "versions"
T = "2025-01-02 03:04:05.000000"
SIZE = (448, 336)  # rows, columns
CONTOUR = [[100.0, 120.0], [180.0, 120.0], [180.0, 200.0], [100.0, 200.0]]


def revisions() -> list[str]:
    return sorted(p.name[:4] for p in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))


def fill_0001(con: sqlite3.Connection) -> None:
    """Two images of one patient: a contoured malignant one with labels, and a normal one."""
    spec = GridSpec()
    con.execute("INSERT INTO settings VALUES ('grid', ?)", (json.dumps(spec.__dict__),))
    con.execute("INSERT INTO settings VALUES ('alpha', '0.5')")
    con.execute("INSERT INTO settings VALUES ('export.pseudonym_secret', ?)", (json.dumps("s" * 64),))
    con.execute("INSERT INTO patients (id, patient_key, created_at) VALUES (1, 'OLD-P1', ?)", (T,))
    con.execute("INSERT INTO studies (id, patient_id, study_key, study_date) VALUES (1, 1, 'OLD-S1', '20240101')")
    h, w = SIZE
    for image_id, lat, y_m, status in ((1, "L", 1, "contoured"), (2, "R", 0, "not_annotated")):
        con.execute(
            "INSERT INTO images (id, study_id, source_path, sha256, width, height, bits_stored, spacing_row_mm,"
            " spacing_col_mm, laterality, view, photometric, modality, window_center, window_width, sop_instance_uid,"
            " y_m, y_b, birads, pathology, label_source, status, revision, import_warnings, created_at, updated_at)"
            " VALUES (?, 1, ?, ?, ?, ?, 12, NULL, NULL, ?, 'MLO', 'MONOCHROME2', 'MG', NULL, NULL, NULL, ?, 0, NULL,"
            " NULL, 'fixture', ?, 2, NULL, ?, ?)",
            (image_id, f"/old/{lat}MLO.png", f"{image_id}".ljust(64, "a"), w, h, lat, y_m, status, T, T))
        regions = region_grid(np.ones((h, w), dtype=bool), spec)
        size, stride = spec.resolve(None)
        con.execute("INSERT INTO region_grids (id, image_id, grid_key, size_px, stride_px, min_inside) VALUES (?, ?, ?, ?, ?, ?)",
                    (image_id, image_id, spec.key(), size, stride, spec.min_inside))
        for r in regions:
            con.execute("INSERT INTO regions (grid_id, idx, x0, y0, x1, y1, inside_fraction) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (image_id, r.index, r.box.x0, r.box.y0, r.box.x1, r.box.y1, r.inside_fraction))
        if status == "contoured":
            con.execute("INSERT INTO annotations (id, image_id, cls, polygon_json, annotator, source, created_at, modified_at,"
                        " deleted_at) VALUES (1, ?, 'M', ?, 'dr.old', 'drawn', ?, ?, NULL)", (image_id, json.dumps(CONTOUR), T, T))
            con.execute("INSERT INTO annotation_revisions (annotation_id, cls, polygon_json, annotator, action, at)"
                        " VALUES (1, 'M', ?, 'dr.old', 'create', ?)", (json.dumps(CONTOUR), T))
            lesion = Lesion(LesionClass.MALIGNANT, Polygon.from_array(CONTOUR), 1)
            for lab in label_regions(regions, [lesion], 0.5):
                rid = con.execute("SELECT id FROM regions WHERE grid_id = ? AND idx = ?", (image_id, lab.region_index)).fetchone()[0]
                con.execute("INSERT INTO region_labels VALUES (?, ?, ?, 0.5, ?, ?)",
                            (rid, lab.label.value, lab.iom, lab.annotation_id, T))


def fill_0002(con: sqlite3.Connection) -> None:
    con.execute("INSERT INTO extractor_weights VALUES ('learned-old', ?, '{}', ?)", (T, b"old weights"))


def fill_0003(con: sqlite3.Connection) -> None:
    pass  # leases and job locks are short-lived: an old file holds none


def fill_0004(con: sqlite3.Connection) -> None:
    """The first image came from a PACS: its DICOMweb root and UIDs."""
    con.execute("INSERT INTO pacs_instances VALUES (1, 'https://pacs.old/dicom-web', '1.2.3', '1.2.3.4', '1.2.3.4.5')")


def fill_0005(con: sqlite3.Connection) -> None:
    """The study has the accession number its DICOM header gave."""
    con.execute("UPDATE studies SET accession_number = 'OLD-ACC-7' WHERE id = 1")


FILL = {"0001": fill_0001, "0002": fill_0002, "0003": fill_0003, "0004": fill_0004, "0005": fill_0005}


def build(rev: str, dest: Path) -> None:
    from alembic import command

    from mammo_annotator.store.engine import make_engine
    from mammo_annotator.store.revisions import alembic_config

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.sqlite"
        engine = make_engine(path)
        for step in revisions():
            if step > rev:
                break
            command.upgrade(alembic_config(engine), step)
            engine.dispose()
            con = sqlite3.connect(path)
            FILL[step](con)
            con.commit()
            con.close()
        engine.dispose()
        con = sqlite3.connect(path)
        con.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        con.execute(f"VACUUM INTO '{dest}'")
        con.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--force", action="store_true", help="rebuild existing fixture files too")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for rev in revisions():
        if rev not in FILL:
            raise SystemExit(f"migration {rev} has no fill function here: add one (its new tables' rows)")
        dest = OUT / f"schema_{rev}.db"
        if dest.exists() and not args.force:
            print(f"{dest.relative_to(REPO)} kept")
            continue
        dest.unlink(missing_ok=True)
        build(rev, dest)
        print(f"{dest.relative_to(REPO)} written ({dest.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
