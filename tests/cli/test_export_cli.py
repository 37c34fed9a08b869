"""``mammo-annotator export`` and ``import-contours`` over the export services."""

from __future__ import annotations

import csv

from mammo_annotator.cli import main
from mammo_annotator.services.project import open_project
from tests.services.export_helpers import build_project
from tests.services.test_export_reimport import blank_twin, label_table


def make_project(tmp_path):
    project = open_project(tmp_path / "p.sqlite", create=True)
    (tmp_path / "dcm").mkdir()
    build_project(project, tmp_path / "dcm")
    return project


def test_export_all_then_import_contours(tmp_path, capsys):
    source = make_project(tmp_path)
    db = str(tmp_path / "p.sqlite")
    assert main(["export", "--db", db, "all", "--out", str(tmp_path / "out"), "--keep-ids"]) == 0
    out = capsys.readouterr().out
    assert "labels: 6 items" in out and "seg: 2 items" in out and "no trained model" in out
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["coco.json", "contours.geojson", "dicom-seg", "dicom-sr", "labels.csv", "masks", "regions.csv"]
    twin = blank_twin(source, tmp_path / "twin.sqlite", tmp_path / "dcm")
    assert main(["import-contours", "--db", str(tmp_path / "twin.sqlite"), str(tmp_path / "out" / "coco.json")]) == 0
    assert "6 contours imported on 5 images" in capsys.readouterr().out
    assert label_table(twin) == label_table(source)
    twin.close()
    source.close()


def test_export_single_formats(tmp_path, capsys):
    make_project(tmp_path).close()
    db = str(tmp_path / "p.sqlite")
    assert main(["export", "--db", db, "regions", "--out", str(tmp_path / "regions.csv")]) == 0
    with open(tmp_path / "regions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and rows[0]["image"].startswith("I-")
    assert "pseudonymised" in capsys.readouterr().out
    assert main(["export", "--db", db, "geojson", "--per-image", "--out", str(tmp_path / "gj")]) == 0
    assert len(list((tmp_path / "gj").glob("I-*.geojson"))) == 5
    assert main(["export", "--db", db, "masks", "--out", str(tmp_path / "regions.csv")]) == 2  # a file, not a folder
    assert "is a file" in capsys.readouterr().err
