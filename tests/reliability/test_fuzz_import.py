"""The import fuzz corpus (issue 12): 0 tracebacks, 0 hangs, 0 good files lost, nothing half-written.

Each batch mixes good files with hostile ones (see ``fuzz_corpus``); the rule is that every bad
file fails alone with a reported reason naming it and every good file is imported. A hang fails
the test through pytest-timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mammo_annotator.cli import main
from mammo_annotator.core.types import GridSpec
from mammo_annotator.services.import_contours import import_contours
from mammo_annotator.services.importing import ImportItem, import_items
from mammo_annotator.services.project import open_project
from mammo_annotator.store import images as image_store

from .fuzz_corpus import SHARED, build_corpus
from .fuzz_run import run_batch, tally

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("fuzz") / "corpus", seed=12)


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    p = open_project(tmp_path / "fuzz.sqlite", create=True)
    p.set_grid_spec(GridSpec(size_px=64, stride_px=64))
    yield p
    p.close()


@pytest.mark.timeout(240)
def test_every_bad_file_fails_alone_and_every_good_file_is_imported(corpus, project, caplog):
    outcomes = [run_batch(project, batch) for batch in corpus]
    table = tally(corpus, outcomes)
    kinds = set(table)
    for wanted in ("dicom-header-bitflip", "dicom-unknown-vr", "dicom-pixel-corruption", "truncated-dicom",
                   "truncated-png", "truncated-tif", "png-bomb", "tiff-bomb", "dicom-bomb", "csv-huge-field",
                   "mias-png-bomb", "mias-folder-named-like-an-image", "inbreast-plist-rois-string",
                   "inbreast-roi-50k-points"):
        assert wanted in kinds, f"the corpus lost its {wanted} variants"
    assert sum(sum(v.values()) for k, v in table.items() if k != "good") >= 100
    assert [t for o in outcomes for t in o.tracebacks] == []
    assert [x for o in outcomes for x in o.lost] == []
    assert [x for o in outcomes for x in o.unreported] == []
    assert [x for o in outcomes for x in o.half_written] == []
    assert table["good"].get("imported", 0) >= 40
    with project.session() as s:
        patients = {im.patient_key for im in image_store.list_images(s)}
    assert "Patiënt-0-Müller" in patients  # the Latin-1 label CSV was read as Latin-1, not mangled
    if (SHARED / "dicom" / "MG1_J2KI.dcm").is_file():  # real files join the corpus when the datasets are there
        assert {"real-dicom-header-bitflip", "real-dicom-codestream-corruption", "real-dicom-truncated"} <= kinds
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL") and r.name.startswith("mammo_annotator")]


@pytest.mark.timeout(240)
def test_the_cli_prints_reasons_never_a_traceback(corpus, tmp_path):
    """The commands a user runs, in a fresh interpreter: a line per bad file, no traceback."""
    folder = next(b for b in corpus if b.name == "folder")
    mias = next(b for b in corpus if b.name == "mini-mias")
    inbreast = next(b for b in corpus if b.name == "inbreast-binary")
    db = str(tmp_path / "cli.sqlite")
    env = {**os.environ, "MAMMO_ANNOTATOR_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    runs = [["import", "--db", db, "--window", "64", str(folder.root)],
            ["import-dataset", "--db", db, "mini-mias", str(mias.root)],
            ["import-dataset", "--db", db, "inbreast", str(inbreast.root)]]
    results = [subprocess.run([sys.executable, "-m", "mammo_annotator", *args], capture_output=True, text=True,
                              cwd=REPO, env=env, timeout=200) for args in runs]
    for run in results:
        assert "Traceback" not in run.stdout + run.stderr
    assert results[0].returncode == 0 and results[1].returncode == 0
    assert results[2].returncode == 2 and "INbreast.csv: a binary file" in results[2].stderr
    failed_lines = [line for line in results[0].stdout.splitlines() if line.startswith("  FAILED")]
    must_fail = [c for c in folder.cases if c.must_fail]
    assert len(failed_lines) >= len(must_fail)
    for case in must_fail:
        assert any(str(case.path.resolve()) in line for line in failed_lines), case.path


@pytest.mark.timeout(120)
def test_contour_files_fail_alone(corpus, project, tmp_path):
    """GeoJSON / COCO contour imports: wrong types, non-finite and 50,000-point polygons."""
    folder = next(b for b in corpus if b.name == "folder")
    png = next(c.path for c in folder.cases if c.good and c.path.suffix == ".png")
    report = import_items(project, [ImportItem(png)])
    assert report.imported, report.failed
    square = [[20, 20], [80, 20], [80, 80], [20, 80], [20, 20]]
    rng = np.random.default_rng(5)

    def feature(coords, **props):
        return {"type": "Feature", "properties": {"image_file": png.name, "class": "malignant", **props},
                "geometry": {"type": "Polygon", "coordinates": [coords]}}

    files = {
        "good": {"type": "FeatureCollection", "features": [feature(square)]},
        "features-dict": {"type": "FeatureCollection", "features": {"a": 1}},
        "coords-strings": {"type": "FeatureCollection", "features": [feature("abc")]},
        "geometry-list": {"type": "FeatureCollection", "features": [{"geometry": [], "properties": {}}]},
        "coco-wrong": {"images": "x", "annotations": [1, 2]},
        "alpha-text": {"type": "FeatureCollection", "alpha": "high", "features": []},
    }
    paths = []
    for name, doc in files.items():
        paths.append(tmp_path / f"{name}.geojson")
        paths[-1].write_text(json.dumps(doc))
    (tmp_path / "binary.json").write_bytes(bytes(rng.integers(0, 256, 999, dtype=np.uint8)))
    big = [feature((rng.random((50_000, 2)) * 150).tolist()), feature([[1, 1], [float("nan"), 2], [3, 3]])]
    (tmp_path / "hostile.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": big}))
    paths += [tmp_path / "binary.json", tmp_path / "hostile.geojson"]
    out = import_contours(project, paths, replace=True)
    assert sorted(Path(p).stem for p, _ in out.failed) == ["binary", "coco-wrong", "coords-strings", "features-dict",
                                                          "geometry-list"]
    # the good square; the hostile file's image is skipped whole (all of an image's contours or none)
    assert out.contours == 1 and out.images == 1 and out.skipped[0][0] == png.name
    assert "2 of 2 contours invalid" in out.skipped[0][1]
    assert any("alpha high" in w for w in out.warnings)


def test_cli_main_on_a_corrupt_dataset_returns_a_line(corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    inbreast = next(b for b in corpus if b.name == "inbreast-latin-1")
    assert main(["import-dataset", "--db", str(tmp_path / "p.sqlite"), "inbreast", str(inbreast.root)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"{sum(c.good for c in inbreast.cases)} imported")
    assert "Point_px is a int, not a list" in out and "crosses itself more than" in out
