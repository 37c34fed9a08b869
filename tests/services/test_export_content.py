"""Exports of unusual project content: names outside ASCII or full of delimiters, contours thinner
than a pixel, kept ids in another character set. Each output must be complete and valid."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from mammo_annotator.services import annotations as ann_svc
from mammo_annotator.services import export as ex
from mammo_annotator.services.export.dicom_sr import _person
from tests.services.export_helpers import add_dicom_image, square, write_mg_dicom

REPO = Path(__file__).resolve().parents[2]
DCIODVFY = shutil.which("dciodvfy")
SLIVER = [[10, 10], [200, 10.3], [200, 10.4], [10, 10.05]]  # 14 px^2, 0.05-0.1 px tall: between pixel centres


def dciodvfy_errors(path: Path) -> list[str]:
    """dciodvfy's errors for one file (its output may hold the file's own non-UTF-8 bytes)."""
    run = subprocess.run([DCIODVFY, str(path)], capture_output=True, timeout=60)
    lines = (run.stdout + run.stderr).decode("latin-1").splitlines()
    return [ln for ln in lines if ln.startswith("Error")]


def test_csv_exports_are_utf8_under_an_ascii_locale(tmp_path):
    """Labels, regions and agreement CSVs wrote in the locale's encoding: under LANG=C (or cp1252 on
    Windows) a patient or annotator named "Łukasz" crashed the export with UnicodeEncodeError."""
    script = textwrap.dedent(f"""
        from pathlib import Path
        from mammo_annotator.services import agreement, annotations as svc, export as ex
        from mammo_annotator.services.project import open_project
        from tests.helpers import add_blank_image, square
        out = Path({str(tmp_path)!r})
        p = open_project(out / "p.sqlite", create=True)
        image = add_blank_image(p, "Łukasz-Müller")
        svc.save_contour(p, image, square(20, 20, 100), "Dr. Łukasz")
        svc.save_contour(p, image, square(40, 20, 100), "dr.b")
        for fmt in ("labels", "regions"):
            ex.export(p, fmt, out / "csv", ex.ExportOptions(keep_ids=True))
        agreement.export_agreement_csv(p, out / "csv" / "agreement.csv", keep_ids=True)
        p.close()
    """)
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0",
           "PYTHONIOENCODING": "utf-8"}
    (tmp_path / "export.py").write_text(script, encoding="utf-8")  # a command line under LANG=C is ASCII
    run = subprocess.run([sys.executable, str(tmp_path / "export.py")], cwd=REPO, env={**env, "PYTHONPATH": str(REPO)},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    labels = list(csv.DictReader(open(tmp_path / "csv" / "labels.csv", encoding="utf-8", newline="")))
    assert labels[0]["patient"] == "Łukasz-Müller"
    assert "Łukasz-Müller" in (tmp_path / "csv" / "regions.csv").read_text(encoding="utf-8")
    agreed = list(csv.DictReader(open(tmp_path / "csv" / "agreement.csv", encoding="utf-8", newline="")))
    assert agreed[0]["annotator_1"] == "Dr. Łukasz" and agreed[0]["patient"] == "Łukasz-Müller"


def test_a_contour_thinner_than_a_pixel_is_in_the_masks_and_the_seg(sqlite_project, tmp_path):
    """A stored sliver (enough area, labels regions M) holds no pixel centre: its mask and its SEG
    segment were empty, so the lesion silently vanished from the segmentation exports."""
    project = sqlite_project
    dicom = add_dicom_image(project, write_mg_dicom(tmp_path / "a.dcm", 1))
    blank = add_dicom_image(project, write_mg_dicom(tmp_path / "b.dcm", 2))
    ann_svc.save_contour(project, dicom, SLIVER, "dr.a")
    ann_svc.save_contour(project, blank, square(40, 60, 50), "dr.a")
    ex.export(project, "masks", tmp_path / "masks", ex.ExportOptions(keep_ids=True))
    sliver = np.asarray(Image.open(tmp_path / "masks" / f"{dicom}_a_malignant.png")) > 0
    assert sliver.sum() > 0 and set(np.nonzero(sliver)[0]) == {10}  # the row the sliver lies in
    assert np.nonzero(sliver)[1].min() >= 10 and np.nonzero(sliver)[1].max() <= 200
    ordinary = np.asarray(Image.open(tmp_path / "masks" / f"{blank}_b_malignant.png")) > 0
    assert ordinary.sum() == 50 * 50  # contours that cover pixel centres keep the centre rule
    ex.export(project, "seg", tmp_path / "seg", ex.ExportOptions(keep_ids=True))
    seg = pydicom.dcmread(tmp_path / "seg" / f"{dicom}_a_seg.dcm")
    assert seg.pixel_array.sum() == sliver.sum()


def test_annotator_names_become_valid_person_names():
    assert _person("dr.a") == "dr.a^" and _person("O'Brien^Pat") == "O'Brien^Pat"
    assert _person("dr\nnew") == "dr new^" and _person("a\\b=c") == "a b c^"  # no second value, no group
    assert _person("") == "unknown^" and _person("x^" * 8).count("^") == 4
    long = _person("ü" * 70)
    assert long.endswith("^") and len(long.encode("utf-8")) <= 64 and set(long[:-1]) == {"ü"}


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian package dicom3tools) is not installed")
def test_sr_of_unusual_annotator_names_validates(sqlite_project, tmp_path):
    """An annotator named with non-ASCII letters, a newline, a backslash or more than 64 characters
    made an SR that dciodvfy rejects (undeclared character set, bad PN, VM 2, length)."""
    names = ["Dr. Ünïcødé", "dr\nnewline", "dr=back\\slash", "a" * 80, "ł" * 40]
    for n, name in enumerate(names, start=1):
        image = add_dicom_image(sqlite_project, write_mg_dicom(tmp_path / f"{n}.dcm", n))
        ann_svc.save_contour(sqlite_project, image, square(40, 60, 50), name)
    result = ex.export(sqlite_project, "sr", tmp_path / "sr")
    assert result.files == len(names)
    observers = []
    for path in sorted((tmp_path / "sr").glob("*.dcm")):
        assert dciodvfy_errors(path) == [], path.name
        ds = pydicom.dcmread(path)
        observers += [str(item.PersonName) for item in ds.ContentSequence if "PersonName" in item]
    assert "Dr. Ünïcødé^" in observers and "dr newline^" in observers and "dr back slash^" in observers


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian package dicom3tools) is not installed")
def test_kept_ids_outside_ascii_survive_in_seg_and_sr(sqlite_project, tmp_path):
    """--keep-ids copies the source's PatientID: from a UTF-8 source, "MÜLLER-ł1" was written
    without a character set, as "MÜLLER-?1" (another patient id) and invalid."""
    path = write_mg_dicom(tmp_path / "a.dcm", 1)
    ds = pydicom.dcmread(path)
    ds.SpecificCharacterSet, ds.PatientID, ds.AccessionNumber = "ISO_IR 192", "MÜLLER-ł1", "ACCé"
    ds.save_as(path, enforce_file_format=True)
    image = add_dicom_image(sqlite_project, path)
    ann_svc.save_contour(sqlite_project, image, square(40, 60, 50), "dr.a")
    for keep in (True, False):
        for fmt in ("seg", "sr"):
            out = ex.export(sqlite_project, fmt, tmp_path / f"{fmt}-{keep}", ex.ExportOptions(keep_ids=keep))
            exported = next(out.path.glob("*.dcm"))
            assert dciodvfy_errors(exported) == [], exported.name
            written = pydicom.dcmread(exported)
            if keep:
                assert written.PatientID == "MÜLLER-ł1" and written.SpecificCharacterSet == "ISO_IR 192"
            else:  # pseudonyms are ASCII: the object stays in the default character set
                assert written.PatientID.startswith("P-") and "SpecificCharacterSet" not in written


def test_a_damaged_source_is_skipped_by_name_and_the_others_exported(sqlite_project, tmp_path):
    """A truncated source keeps its SOP Instance UID but loses the rest of its header: highdicom
    raised AttributeError / ValueError and the whole SEG / SR export stopped with a traceback."""
    good = write_mg_dicom(tmp_path / "good.dcm", 1)
    cut = write_mg_dicom(tmp_path / "cut.dcm", 2)
    resized = write_mg_dicom(tmp_path / "resized.dcm", 3)
    for path in (good, cut, resized):
        ann_svc.save_contour(sqlite_project, add_dicom_image(sqlite_project, path), square(40, 60, 50), "dr.a")
    cut.write_bytes(cut.read_bytes()[:600])  # the file meta and the first elements, up to SOP Instance UID
    ds = pydicom.dcmread(resized)  # same image id, other pixel grid: a mask would not lie on it
    ds.Rows, ds.Columns = 160, 128
    ds.PixelData = np.zeros((160, 128), np.uint16).tobytes()
    ds.save_as(resized, enforce_file_format=True)
    for fmt in ("seg", "sr"):
        result = ex.export(sqlite_project, fmt, tmp_path / fmt)
        assert result.files == 1
        reasons = sorted(reason for _, reason in result.skipped)
        assert len(reasons) == 2
        assert "header is incomplete" in reasons[0] and reasons[0].endswith(str(cut))
        assert "128 x 160 pixels, the imported one 256 x 320" in reasons[1] and reasons[1].endswith(str(resized))


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian package dicom3tools) is not installed")
def test_a_source_with_a_frame_of_reference_and_pixel_spacing_gives_a_valid_seg(sqlite_project, tmp_path):
    """Many mammograms carry a Frame of Reference UID and a Pixel Spacing: the copied frame of
    reference made highdicom's SEG declare pixel measures without the Slice Thickness they then
    need (dciodvfy: "Missing attribute Type 1C Conditional Element=<SliceThickness>")."""
    path = write_mg_dicom(tmp_path / "a.dcm", 1)
    ds = pydicom.dcmread(path)
    ds.FrameOfReferenceUID, ds.PixelSpacing = pydicom.uid.generate_uid(), [0.1, 0.1]
    ds.save_as(path, enforce_file_format=True)
    ann_svc.save_contour(sqlite_project, add_dicom_image(sqlite_project, path), square(40, 60, 50), "dr.a")
    for keep in (True, False):
        result = ex.export(sqlite_project, "seg", tmp_path / f"seg-{keep}", ex.ExportOptions(keep_ids=keep))
        (exported,) = result.path.glob("*.dcm")
        assert dciodvfy_errors(exported) == [], exported.name
        assert pydicom.dcmread(exported).SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing == [0.1, 0.1]
