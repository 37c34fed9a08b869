"""Every exported DICOM SEG / SR passes dciodvfy (dicom3tools), an independent validator, with 0 errors.

The tests skip when dciodvfy is not on PATH; CI (.ci/run) installs it. The validator's own
verdict is checked first on a deliberately broken object, so a silent validator cannot pass.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest

from mammo_annotator.core.types import GridSpec
from mammo_annotator.services import annotations as ann_svc
from mammo_annotator.services import export as ex
from mammo_annotator.services.export.dicom_source import DUMMY_DATE, DUMMY_TIME
from tests.services.export_helpers import add_dicom_image, build_project, square, write_mg_dicom

DCIODVFY = shutil.which("dciodvfy")
pytestmark = pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian package dicom3tools) is not installed")


def validate(path: Path) -> tuple[list[str], list[str]]:
    """(errors, warnings) that dciodvfy reports for one file."""
    run = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=60)
    lines = (run.stdout + run.stderr).splitlines()
    return [ln for ln in lines if ln.startswith("Error")], [ln for ln in lines if ln.startswith("Warning")]


def exported(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.dcm"))


@pytest.fixture
def exports(project, tmp_path) -> Path:
    (tmp_path / "dcm").mkdir()
    build_project(project, tmp_path / "dcm")
    for keep in (False, True):
        ex.export_many(project, ["seg", "sr"], tmp_path / ("keep" if keep else "pseudo"), ex.ExportOptions(keep_ids=keep))
    return tmp_path


def test_the_validator_sees_the_patient_orientation_error(exports, tmp_path):
    seg = pydicom.dcmread(exported(exports / "pseudo" / "dicom-seg")[0])
    del seg.PatientOrientation
    seg.save_as(tmp_path / "broken.dcm")
    errors, _ = validate(tmp_path / "broken.dcm")
    assert any("PatientOrientation" in e for e in errors), errors


def test_every_exported_seg_and_sr_has_no_error(exports):
    files = exported(exports / "pseudo") + exported(exports / "keep")
    assert len(files) == 8  # 2 images x (SEG, SR) x (pseudonymised, keep_ids)
    report = {f.name: validate(f) for f in files}
    assert {name: errors for name, (errors, _) in report.items() if errors} == {}
    # Study Date / Time / ID are kept (dummy or pseudonymised values), not dropped
    study_warnings = [w for _, warnings in report.values() for w in warnings if "Study" in w]
    assert study_warnings == []


def test_study_attributes_are_dummies_or_pseudonyms(exports):
    for path in exported(exports / "pseudo"):
        ds = pydicom.dcmread(path)
        assert (ds.StudyDate, ds.StudyTime) == (DUMMY_DATE, DUMMY_TIME)
        assert ds.StudyID.startswith("S-") and len(ds.StudyID) <= 16
    seg = pydicom.dcmread(exported(exports / "pseudo" / "dicom-seg")[0])
    assert list(seg.PatientOrientation) == ["A", "R"]  # the source's, on the same pixel grid
    keep = pydicom.dcmread(exported(exports / "keep" / "dicom-seg")[0])
    assert keep.StudyID.startswith("STUDY9")  # the original, as keep_ids promises


def test_source_without_orientation_or_study_id(project, tmp_path):
    project.set_grid_spec(GridSpec(size_px=64, stride_px=32))
    path = write_mg_dicom(tmp_path / "bare.dcm", 4)
    ds = pydicom.dcmread(path)
    del ds.PatientOrientation, ds.StudyID, ds.StudyDate
    ds.save_as(path)
    image_id = add_dicom_image(project, path)
    ann_svc.save_contour(project, image_id, square(60, 60, 80), "dr.a")
    for keep in (False, True):
        ex.export_many(project, ["seg", "sr"], tmp_path / f"out{keep}", ex.ExportOptions(keep_ids=keep))
        files = exported(tmp_path / f"out{keep}")
        assert len(files) == 2
        assert {f.name: validate(f)[0] for f in files if validate(f)[0]} == {}


def test_real_dicom_exports_validate(project, real_dicom_path, tmp_path):
    project.set_grid_spec(GridSpec(size_px=1024, stride_px=1024))
    image_id = add_dicom_image(project, real_dicom_path)
    ann_svc.save_contour(project, image_id, square(1200, 2000, 300), "dr.a")
    ex.export_many(project, ["seg", "sr"], tmp_path / "out")
    files = exported(tmp_path / "out")
    assert len(files) == 2
    assert {f.name: validate(f)[0] for f in files if validate(f)[0]} == {}
