"""DICOM SEG and TID 1500 SR of DICOM-sourced images, and de-identification of every export."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest

from mammo_annotator.core.imageio import content_sha256
from mammo_annotator.core.types import GridSpec, WeakLabel
from mammo_annotator.services import annotations as ann_svc
from mammo_annotator.services import export as ex
from mammo_annotator.services.export.pseudonyms import Pseudonyms, project_secret
from tests.services.export_helpers import add_dicom_image, add_predictions, build_project, phi, square, write_mg_dicom


@pytest.fixture
def dicom_project(project, tmp_path):
    (tmp_path / "dcm").mkdir()
    ids = build_project(project, tmp_path / "dcm")
    add_predictions(project, list(ids.values()))
    return project, ids, tmp_path / "dcm"


def identifying_values(dicom_dir) -> dict[str, str]:
    """Every identifying value of the source files: PHI tags, UIDs, private data, file names."""
    values = {}
    for path in sorted(dicom_dir.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        for element in ds.iterall():
            if element.keyword in phi(1) or element.keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
                values[f"{path.name}:{element.keyword}"] = str(element.value)
            if element.tag.is_private and element.VR == "LO" and element.value:
                values[f"{path.name}:private"] = str(element.value)
        values[f"{path.name}:file"] = path.stem
        for part in str(ds.PatientName).split("^"):
            values[f"{path.name}:name part {part}"] = part
    return values


def leaks(folder, values: dict[str, str]) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{key} in {path.name}" for key, value in values.items() if value.encode() in data]
    return found


def test_pseudonymised_exports_carry_no_identifying_value(dicom_project, tmp_path):
    project, ids, dicom_dir = dicom_project
    from mammo_annotator.services.viewing import worklist

    assert phi(1)["AccessionNumber"] in {r.accession for r in worklist(project)}  # stored, and still not exported
    results = ex.export_many(project, ex.FORMATS, tmp_path / "out")
    assert {r.format: r.files for r in results}["seg"] == 2 and {r.format: r.files for r in results}["sr"] == 2
    values = identifying_values(dicom_dir)
    assert len(values) > 30
    assert leaks(tmp_path / "out", values) == []
    assert project_secret(project).encode() not in b"".join(p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file())


def test_keep_ids_keeps_ids_but_never_names_or_dates(dicom_project, tmp_path):
    project, ids, dicom_dir = dicom_project
    ex.export_many(project, ex.FORMATS, tmp_path / "out", ex.ExportOptions(keep_ids=True))
    never = {k: v for k, v in identifying_values(dicom_dir).items()
             if not k.endswith(("PatientID", "AccessionNumber", "StudyID", "UID", ":file"))}
    assert leaks(tmp_path / "out", never) == []
    ids_only = {k: v for k, v in identifying_values(dicom_dir).items() if k.endswith("PatientID")}
    assert leaks(tmp_path / "out", ids_only)  # the check does see what is there
    seg = pydicom.dcmread(next((tmp_path / "out" / "dicom-seg").glob("*.dcm")))
    assert seg.PatientID.startswith("MRN-88") and seg.AccessionNumber.startswith("ACC77") and seg.PatientName == ""


def test_seg_references_source_and_holds_the_masks(dicom_project, tmp_path):
    project, ids, dicom_dir = dicom_project
    ex.export(project, "seg", tmp_path / "seg", ex.ExportOptions(keep_ids=True))
    source = pydicom.dcmread(dicom_dir / f"{phi(1)['PatientID']}_L.dcm")
    seg = hd.seg.segread(tmp_path / "seg" / f"{ids['dicom1']}_MRN-88131_L_seg.dcm")
    assert seg.SOPInstanceUID != source.SOPInstanceUID and seg.SeriesInstanceUID != source.SeriesInstanceUID
    assert seg.StudyInstanceUID == source.StudyInstanceUID
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["malignant lesion", "benign lesion"]
    assert seg.get_source_image_uids()[0][2] == source.SOPInstanceUID
    masks = seg.get_pixels_by_source_instance([source.SOPInstanceUID], segment_numbers=[1, 2])
    assert masks.shape == (1, 320, 256, 2)
    assert masks[0, ..., 0].sum() == 70 * 70 and masks[0, ..., 1].sum() == 30 * 30


def test_sr_holds_contours_as_polylines(dicom_project, tmp_path):
    project, ids, dicom_dir = dicom_project
    ex.export(project, "sr", tmp_path / "sr")
    ex.export(project, "seg", tmp_path / "seg")
    name = Pseudonyms.for_project(project).image(content_sha256(dicom_dir / f"{phi(1)['PatientID']}_L.dcm"))
    sr = hd.sr.srread(tmp_path / "sr" / f"{name}_sr.dcm")
    seg = pydicom.dcmread(tmp_path / "seg" / f"{name}_seg.dcm")
    groups = sr.content.get_planar_roi_measurement_groups()
    assert len(groups) == 2
    roi = groups[0].roi
    assert roi.value.shape == (5, 2) and np.allclose(roi.value[0], roi.value[-1])
    assert np.allclose(roi.value[:4], [[80, 80], [150, 80], [150, 150], [80, 150]])
    referenced = roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
    assert referenced == seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID
    assert referenced.startswith("2.25.")  # remapped the same way in SEG and SR
    area = groups[0].get_measurements()[0]
    assert area.value == pytest.approx(70 * 70 * 0.01)
    assert sr.PatientID == seg.PatientID and sr.PatientID.startswith("P-") and sr.PatientBirthDate == ""


def test_png_sources_are_skipped_with_reason(project, tmp_path):
    build_project(project)
    result = ex.export(project, "seg", tmp_path / "seg")
    assert result.files == 0 and {r for _, r in result.skipped} == {"not imported from DICOM"}


def test_import_pipeline_then_export_leaks_nothing(project, tmp_path, monkeypatch):
    from mammo_annotator.services.importing import ImportItem, import_items

    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    project.set_grid_spec(GridSpec(size_px=64, stride_px=32, min_inside=0.0))
    (tmp_path / "dcm").mkdir()
    path = write_mg_dicom(tmp_path / "dcm" / "MRN-88331.dcm", 3)
    report = import_items(project, [ImportItem(path, weak=WeakLabel(1, 0))])
    assert report.imported, report.failed
    ann_svc.save_contour(project, report.imported[0], square(60, 60, 80), "dr.a")
    ex.export_many(project, ex.FORMATS, tmp_path / "out")
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == 2
    assert leaks(tmp_path / "out", identifying_values(tmp_path / "dcm")) == []


def test_real_dicom_seg_and_sr(project, real_dicom_path, tmp_path):
    """The NEMA RG (secondary capture) mammogram, JPEG 2000: SEG and SR build and reference it."""
    project.set_grid_spec(GridSpec(size_px=1024, stride_px=1024))
    image_id = add_dicom_image(project, real_dicom_path)
    ann_svc.save_contour(project, image_id, square(1200, 2000, 300), "dr.a")
    ex.export_many(project, ["seg", "sr"], tmp_path / "out", ex.ExportOptions(keep_ids=True))
    source = pydicom.dcmread(real_dicom_path, stop_before_pixels=True)
    seg = hd.seg.segread(next((tmp_path / "out" / "dicom-seg").glob("*.dcm")))
    assert seg.get_source_image_uids()[0][2] == source.SOPInstanceUID and seg.Rows == 4664
    sr = hd.sr.srread(next((tmp_path / "out" / "dicom-sr").glob("*.dcm")))
    assert len(sr.content.get_planar_roi_measurement_groups()) == 1
    for folder in ("dicom-seg", "dicom-sr"):
        data = next((tmp_path / "out" / folder).glob("*.dcm")).read_bytes()
        assert str(source.PatientName).encode() not in data and b"USF" not in data


def test_export_predictions_command_leaks_nothing(dicom_project, tmp_path, capsys):
    """``mammo-annotator export predictions`` (the campaign did not check it): no identifying byte."""
    from mammo_annotator.cli import main

    project, ids, dicom_dir = dicom_project
    out = tmp_path / "pred" / "predictions.csv"
    assert main(["export", "--db", project.target, "predictions", "--out", str(out)]) == 0
    text = out.read_text()
    pseudonyms = Pseudonyms.for_project(project)
    dicom_rows = [line for line in text.splitlines()
                  if line.startswith(pseudonyms.image(content_sha256(dicom_dir / f"{phi(1)['PatientID']}_L.dcm")))]
    assert len(dicom_rows) == 5  # --top 5 regions of a DICOM-sourced image are in the file
    assert leaks(tmp_path / "pred", identifying_values(dicom_dir)) == []
    assert "P1" not in {line.split(",")[1] for line in text.splitlines()[1:]}  # patient keys pseudonymised too


def test_a_moved_source_is_skipped_naming_the_file(dicom_project, tmp_path):
    """The reason said "file not found" without saying which file to bring back."""
    project, ids, dicom_dir = dicom_project
    moved = sorted(dicom_dir.glob("*.dcm"))[0]
    moved.rename(tmp_path / "elsewhere.dcm")
    result = ex.export(project, "seg", tmp_path / "seg")
    reasons = [r for _, r in result.skipped if r != "not imported from DICOM"]
    assert result.files >= 1 and reasons == [f"file not found: {moved}"]


def test_each_annotator_gets_a_report_that_names_them(dicom_project, tmp_path):
    """One report per image named only its first annotator as the observer of every contour."""
    project, ids, dicom_dir = dicom_project
    image_id = ids["dicom1"]
    before = {a.annotator for a in ann_svc.contours(project, image_id)}
    ann_svc.save_contour(project, image_id, square(20, 200, 30), "zz.second reader")
    result = ex.export(project, "sr", tmp_path / "sr")
    name = Pseudonyms.for_project(project).image(content_sha256(dicom_dir / f"{phi(1)['PatientID']}_L.dcm"))
    files = sorted((tmp_path / "sr").glob(f"{name}*_sr.dcm"))
    assert [f.name for f in files] == [f"{name}_observer1_sr.dcm", f"{name}_observer2_sr.dcm"]
    assert result.files == len(list((tmp_path / "sr").glob("*_sr.dcm"))) and result.items == 2
    observed = {}
    for path in files:
        sr = hd.sr.srread(path)
        people = {str(e.value) for e in sr.iterall() if e.keyword == "PersonName"}
        observed[frozenset(people)] = len(sr.content.get_planar_roi_measurement_groups())
    by_annotator = {a: sum(1 for c in ann_svc.contours(project, image_id) if c.annotator == a)
                    for a in before | {"zz.second reader"}}
    assert observed == {frozenset({f"{a}^"}): n for a, n in by_annotator.items()}
