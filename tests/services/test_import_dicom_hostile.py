"""A batch of hostile and unusual DICOM files imports the same on SQLite and PostgreSQL: the
readable ones imported (with warnings), each broken one failed by name, nothing half-written.

Before the fix, header texts longer than the database columns (a ViewPosition of 40 characters,
a 500-character PatientID, a file name of 200 characters used as the patient key) imported on
SQLite but failed on PostgreSQL with "value too long for type character varying(16)".
"""

from __future__ import annotations

import numpy as np
import pytest

from mammo_annotator.services.importing import KEY_MAX, ImportItem, import_items
from mammo_annotator.services.sources import items_from_paths
from mammo_annotator.store import images as image_store

from ..core.factories import make_dicom


def _img() -> np.ndarray:
    img = np.full((64, 48), 100, np.uint16)
    img[8:56, :30] = 3000
    return img


def test_long_header_texts_import_on_every_backend(project, tmp_path, lenient_writer):
    folder = tmp_path / "in"
    folder.mkdir()
    make_dicom(folder / "view.dcm", _img(), ViewPosition="V" * 40)
    make_dicom(folder / "modality.dcm", _img(), modality="MAMMOGRAPHY_DIGITAL")
    make_dicom(folder / "patient.dcm", _img(), PatientID="P" * 500)
    make_dicom(folder / "study.dcm", _img(), StudyInstanceUID="1." + "2" * 200)
    make_dicom(folder / "multi.dcm", _img(), ViewPosition=["CC", "MLO"])
    make_dicom(folder / "broken.dcm", pixel_bytes=b"\0" * 100, shape=(64, 48))  # truncated: fails
    report = import_items(project, items_from_paths([folder]))
    assert [p.rsplit("/", 1)[-1] for p, _ in report.failed] == ["broken.dcm"], report.failed
    assert "truncated" in report.failed[0][1]
    assert len(report.imported) == 5
    with project.session() as s:
        views = {image_store.get_image(s, i).view for i in report.imported}
    assert views == {None}


def test_a_long_file_name_as_patient_key_is_shortened_distinctly(project, tmp_path):
    stems = ["x" * 150 + "a", "x" * 150 + "b"]  # the same first 128 characters
    paths = []
    for k, stem in enumerate(stems):
        img = _img()
        img[0, 0] = k  # two different files
        paths.append(make_dicom(tmp_path / f"{stem}.dcm", img, PatientID=""))
    report = import_items(project, [ImportItem(path=p) for p in paths])
    assert not report.failed, report.failed
    with project.session() as s:
        keys = {image_store.get_image(s, i).patient_key for i in report.imported}
    assert len(keys) == 2 and all(len(k) <= KEY_MAX for k in keys)
    assert any("patient key is 151 characters long" in w for _, w in report.warnings)


def test_symbolic_link_loops_are_named_and_the_batch_goes_on(project, tmp_path):
    """A loop named on the command line, one in a scanned folder and one a CSV row names: each is
    named as a loop, and the good image beside them is imported (a loop made Path.resolve raise
    RuntimeError, which stopped the whole batch)."""
    import os

    from mammo_annotator.services.importing import ImportReport

    folder = tmp_path / "scan"
    folder.mkdir()
    make_dicom(folder / "good.dcm", _img())
    for a, b in ((folder / "a.dcm", folder / "b.dcm"), (tmp_path / "x.dcm", tmp_path / "y.dcm")):
        os.symlink(b, a)
        os.symlink(a, b)
    report = ImportReport()
    items = items_from_paths([folder, tmp_path / "x.dcm"], report=report)
    import_items(project, items, report=report)
    assert len(report.imported) == 1
    failed = dict(report.failed)
    assert "symbolic link loop" in failed[str(tmp_path / "x.dcm")]
    warned = dict(report.warnings)
    assert "symbolic link loop" in warned[str(folder / "a.dcm")] and "skipped" in warned[str(folder / "a.dcm")]

    item = ImportItem(path=tmp_path / "y.dcm")  # as a CSV row or a PACS store hands it over
    again = import_items(project, [item])
    assert [p for p, _ in again.failed] == [str((tmp_path / "y.dcm").absolute())]
    assert "symbolic link loop" in again.failed[0][1]
