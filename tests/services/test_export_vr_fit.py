"""Values longer than their VR allows, kept from a source DICOM or written by the project, are cut
or left empty by one rule (``vr_fit``) and named in the export report; the SEG and SR validate."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom import config
from pydicom.dataset import Dataset
from pydicom.valuerep import validate_value

from mammo_annotator.services import annotations as ann_svc
from mammo_annotator.services import export as ex
from mammo_annotator.services.export.vr_fit import MAX_BYTES, fit_dataset
from tests.services.export_helpers import add_dicom_image, square, write_mg_dicom

DCIODVFY = shutil.which("dciodvfy")
LONG_UID = "1.2.826.0.1.3680043.8.498." + "1234567890" * 5  # 76 characters: a UID holds 64

# one overlong value per VR; most are not copied into a SEG / SR, and none may break one
OVERLONG = {
    "PatientID": ("LO", "MRN-" + "7" * 76), "AccessionNumber": ("SH", "ACC-" + "1" * 26),
    "StudyID": ("SH", "STUDY-" + "2" * 24), "StudyDescription": ("LO", "Screening " * 10),
    "InstitutionName": ("LO", "Saint Elsewhere " * 6), "SeriesDescription": ("LO", "Series " * 12),
    "Manufacturer": ("LO", "Maker " * 14), "StationName": ("SH", "STATION-" * 3),
    "PerformingPhysicianName": ("PN", "Quincyfield" * 7 + "^Ada"), "BodyPartExamined": ("CS", "BREAST" * 4),
    "PatientOrientation": ("CS", ["A" * 20, "R"]), "PixelSpacing": ("DS", ["0.100000000000000005551", "0.1"]),
    "ImagerPixelSpacing": ("DS", ["0.100000000000000005551", "0.1"]), "SeriesNumber": ("IS", "12345678901234"),
    "StudyComments": ("LT", "c" * 10300), "DerivationDescription": ("ST", "d" * 1100),
    "ContentDate": ("DA", "2019031500"), "AcquisitionTime": ("TM", "101010.1234567890"),
    "FrameOfReferenceUID": ("UI", LONG_UID),
}


def overlong_source(path: Path, n: int, **changes) -> Path:
    write_mg_dicom(path, n)
    ds = pydicom.dcmread(path)
    with warnings.catch_warnings():  # pydicom warns of each overlong value it is asked to write
        warnings.simplefilter("ignore")
        for keyword, (_, value) in {**OVERLONG, **changes}.items():
            setattr(ds, keyword, value)
        ds.save_as(path, enforce_file_format=True)
    return path


def dciodvfy(path: Path) -> list[str]:
    run = subprocess.run([DCIODVFY, str(path)], capture_output=True, timeout=60)
    return [ln for ln in (run.stdout + run.stderr).decode("latin-1").splitlines() if ln.startswith(("Error", "Warning"))]


def test_one_rule_per_vr_and_every_change_named():
    ds = Dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for keyword, (_, value) in OVERLONG.items():
            setattr(ds, keyword, value)
        item = Dataset()
        item.PersonName = "ü" * 40 + "^Pat=" + "ł" * 40
        ds.ContentSequence = [item]
    changes = {c.path: c for c in fit_dataset(ds)}
    assert set(changes) == set(OVERLONG) | {"ContentSequence > PersonName"}
    for elem in ds.iterall():  # what is left is valid for its VR (pydicom raises otherwise)
        if elem.VR in MAX_BYTES and elem.value not in (None, ""):
            for value in (elem.value if elem.VM > 1 else [elem.value]):
                validate_value(elem.VR, str(value), config.RAISE)
    assert ds.StudyDescription == ("Screening " * 10)[:64].rstrip()  # free text: cut at the limit
    assert ds.PerformingPhysicianName == ("Quincyfield" * 7)[:64]
    name = str(ds.ContentSequence[0].PersonName)  # per component group, in bytes, never half a letter
    assert name == "ü" * 32 + "=" + "ł" * 32
    assert ds.PatientID == "" and ds.AccessionNumber == "" and ds.StudyID == ""  # a cut id names another
    assert "a cut id would name another" in str(changes["PatientID"])
    for keyword in ("FrameOfReferenceUID", "ContentDate", "AcquisitionTime", "SeriesNumber", "BodyPartExamined",
                    "PatientOrientation"):  # a cut would change what they mean
        assert ds[keyword].value in (None, "", []), keyword
    assert [float(v) for v in ds.PixelSpacing] == [0.1, 0.1]  # the same number, shorter
    assert str(changes["StudyComments"]) == "StudyComments (LT) cut from 10300 to at most 10240 bytes, the most LT allows"


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian package dicom3tools) is not installed")
@pytest.mark.parametrize("keep", [True, False], ids=["keep-ids", "pseudonymised"])
def test_overlong_source_values_make_valid_seg_and_sr_and_are_reported(sqlite_project, tmp_path, keep):
    """An overlong PatientID, AccessionNumber, StudyID or orientation was copied as it was: the SEG and
    SR failed dciodvfy ("Length invalid for this VR"), and nothing said so."""
    source = overlong_source(tmp_path / "long.dcm", 1)
    image = add_dicom_image(sqlite_project, source)
    ann_svc.save_contour(sqlite_project, image, square(40, 60, 50), "dr.a")
    reports = {}
    for fmt in ("seg", "sr"):
        result = ex.export(sqlite_project, fmt, tmp_path / fmt, ex.ExportOptions(keep_ids=keep))
        (written,) = result.path.glob("*.dcm")
        assert [ln for ln in dciodvfy(written) if ln.startswith("Error") or "Length invalid" in ln] == []
        assert all(text.startswith(f"{written.name}: ") for _, text in result.warnings)
        reports[fmt] = {text.split(": ", 1)[1].split(" (")[0]: text for _, text in result.warnings}
    if keep:
        copied = {"PatientID", "AccessionNumber", "StudyID"}
        assert set(reports["sr"]) == copied
        assert set(reports["seg"]) == copied | {"PatientOrientation", "PixelSpacing"}
        assert f"(from {source})" in reports["seg"]["PatientID"] and "left empty" in reports["seg"]["PatientID"]
        seg = pydicom.dcmread(next((tmp_path / "seg").glob("*.dcm")))
        assert seg.PatientID == "" and seg.StudyID.startswith("S-")  # as for a source without a StudyID
    else:  # pseudonyms replace the ids; the orientation and spacing still come from the source
        assert set(reports["sr"]) == set() and set(reports["seg"]) == {"PatientOrientation", "PixelSpacing"}


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian package dicom3tools) is not installed")
def test_an_overlong_source_uid_is_refused_by_name_when_kept(sqlite_project, tmp_path):
    """A UID cannot be cut (it would be another UID) nor left out of a reference: with keep_ids the
    image is skipped, naming the file and the element; pseudonymised, the UID is remapped anyway."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = overlong_source(tmp_path / "uid.dcm", 2, StudyInstanceUID=("UI", LONG_UID))
    image = add_dicom_image(sqlite_project, source)
    ann_svc.save_contour(sqlite_project, image, square(40, 60, 50), "dr.a")
    for fmt in ("seg", "sr"):
        kept = ex.export(sqlite_project, fmt, tmp_path / f"{fmt}-keep", ex.ExportOptions(keep_ids=True))
        assert kept.files == 0 and len(kept.skipped) == 1
        reason = kept.skipped[0][1]
        assert "StudyInstanceUID (UI) left empty: 76 bytes" in reason and reason.endswith(str(source))
        pseudo = ex.export(sqlite_project, fmt, tmp_path / f"{fmt}-pseudo")
        (written,) = pseudo.path.glob("*.dcm")
        assert [ln for ln in dciodvfy(written) if ln.startswith("Error")] == []
