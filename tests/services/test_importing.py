"""Import: every bad input is reported with its file and reason; nothing is half-written."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from mammo_annotator.core.synthetic import synthetic_mammogram
from mammo_annotator.services.importing import ImportReport, import_items
from mammo_annotator.services.info import project_info
from mammo_annotator.services.pixels import load_pixels
from mammo_annotator.services.sources import items_from_paths
from mammo_annotator.services.synthetic_source import import_synthetic
from mammo_annotator.store import images as image_store
from mammo_annotator.store.schema import ImageRow, RegionGridRow, RegionRow
from tests.core.factories import make_dicom


def _png16(path, seed, laterality="L"):
    case = synthetic_mammogram(seed, size=(512, 416), view="MLO", laterality=laterality)
    Image.fromarray(case.pixels.astype(np.uint16)).save(path)
    return path


def _table_counts(project):
    with project.session() as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) for t in (ImageRow, RegionGridRow, RegionRow))


def test_folder_with_csv_and_bad_files(project, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _png16(src / "a.png", 1)
    _png16(src / "b.png", 2, "R")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    make_dicom(src / "nopixels.dcm", None)
    make_dicom(src / "c.dcm", synthetic_mammogram(3, size=(512, 416)).pixels, ImageLaterality="L", ViewPosition="CC",
               PatientID="P9", PixelSpacing=[0.1, 0.1])
    (src / "notes.txt").write_text("not an image")
    csv = tmp_path / "labels.csv"
    csv.write_text(
        "image,patient_id,birads\n"
        "src/a.png,P1,5\n"
        "src/b.png,P1,1\n"
        "src/missing.png,P2,2\n"
        "src/c.dcm,P9,banana\n"
    )
    report = ImportReport()
    items = items_from_paths([src], labels_csv=csv, report=report)
    import_items(project, items, report=report)
    failed = dict(report.failed)
    assert len(report.imported) == 2  # a, b; c is held back until its bad CSV row is fixed
    assert any(k.endswith("labels.csv:4") and "missing.png" in v for k, v in failed.items())
    assert any(k.endswith("labels.csv:5") and "banana" in v for k, v in failed.items())
    assert "truncated" in failed[str((src / "broken.png").resolve())]
    assert "pixel data" in failed[str((src / "nopixels.dcm").resolve())].lower()
    info = project_info(project)
    assert info["images"] == 2 and info["patients"] == 1
    assert info["weak_labels"]["M"] == 1 and info["weak_labels"]["N"] == 1 and info["weak_labels"]["unknown"] == 0
    # failed files left nothing behind: one grid per imported image
    assert _table_counts(project)[:2] == (2, 2)
    # the corrected CSV imports c with its label (had it been imported unlabelled, it would now be a duplicate)
    csv.write_text("image,patient_id,birads\nsrc/a.png,P1,5\nsrc/b.png,P1,1\nsrc/c.dcm,P9,4\n")
    again = import_items(project, items_from_paths([src], labels_csv=csv))
    assert len(again.imported) == 1 and len(again.duplicates) == 2
    with project.session() as s:
        dicom = [im for im in image_store.list_images(s) if im.source_path.endswith("c.dcm")][0]
    assert (dicom.laterality, dicom.view, dicom.pixel_spacing_mm, dicom.patient_key) == ("L", "CC", (0.1, 0.1), "P9")
    assert project_info(project)["weak_labels"]["M"] == 2


@pytest.mark.parametrize("second", ["a.png,P2,normal", "./a.png,P1,benign", "sub/../a.png,P1,malignant;L"])
def test_conflicting_csv_rows_hold_the_image_back(project, tmp_path, second):
    """Two rows that label one file differently (label, patient or view) are both refused: neither
    wins silently, and the image waits for a corrected file. Rows that agree count once."""
    _png16(tmp_path / "a.png", 1)
    _png16(tmp_path / "b.png", 2, "R")
    (tmp_path / "sub").mkdir()
    csv = tmp_path / "labels.csv"
    second = second.replace(";", ",")
    header = "image,patient_id,pathology" + (",laterality" if second.count(",") == 3 else "")
    first = "a.png,P1,malignant" + (",R" if second.count(",") == 3 else "")
    extra = ",R" if second.count(",") == 3 else ""
    csv.write_text(f"{header}\n{first}\nb.png,P1,normal{extra}\n{second}\nb.png,P1,normal{extra}\n")
    report = ImportReport()
    import_items(project, items_from_paths([tmp_path], labels_csv=csv, report=report), report=report)
    failed = dict(report.failed)
    assert [im.rsplit(":", 1)[1] for im in failed] == ["2", "4"]
    assert all("conflicting rows (lines 2, 4)" in v for v in failed.values())
    info = project_info(project)
    assert info["images"] == 1 and info["weak_labels"]["N"] == 1  # b once; a neither M nor anything else


def test_reimport_is_recognised(project, tmp_path):
    _png16(tmp_path / "a.png", 1)
    first = import_items(project, items_from_paths([tmp_path / "a.png"]))
    again = import_items(project, items_from_paths([tmp_path / "a.png"]))
    assert len(first.imported) == 1 and again.imported == [] and again.duplicates[0][1] == first.imported[0]
    assert project_info(project)["images"] == 1


def test_missing_path_reported(project, tmp_path):
    report = ImportReport()
    items = items_from_paths([tmp_path / "nowhere"], report=report)
    assert items == [] and report.failed == [(str(tmp_path / "nowhere"), "no such file or folder")]


def test_failure_inside_transaction_leaves_nothing(project, tmp_path, monkeypatch):
    """A crash while storing regions rolls back the image row written just before."""
    from mammo_annotator.store import regions as region_store

    _png16(tmp_path / "a.png", 1)

    def boom(*a, **k):
        raise ValueError("disk full")

    monkeypatch.setattr(region_store, "add_grid", boom)
    report = import_items(project, items_from_paths([tmp_path / "a.png"]))
    assert report.imported == [] and "disk full" in report.failed[0][1]
    assert _table_counts(project) == (0, 0, 0)


def test_cancel_stops_between_images(project, tmp_path):
    import threading

    for i in range(3):
        _png16(tmp_path / f"{i}.png", i)
    token = threading.Event()
    seen = []

    def progress(done, total, msg):
        seen.append(done)
        if done == 1:
            token.set()

    report = import_items(project, items_from_paths([tmp_path]), progress=progress, cancel=token)
    assert report.cancelled and len(report.imported) == 1


def test_synthetic_import_and_pixels_regenerate(project, tmp_path, monkeypatch):
    report = import_synthetic(project, n_patients=1, seed=3, size=(512, 416))
    assert len(report.imported) == 4 and not report.failed
    with project.session() as s:
        images = image_store.list_images(s)
    first = np.array(load_pixels(images[0]))
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "other-cache"))  # cold cache: regenerate
    again = np.array(load_pixels(images[0]))
    assert np.array_equal(first, again)


def test_vanished_source_file_is_named(project, tmp_path, monkeypatch):
    from mammo_annotator.core.errors import ImageReadError

    path = _png16(tmp_path / "a.png", 1)
    import_items(project, items_from_paths([path]))
    path.unlink()
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cold"))
    with project.session() as s:
        (image,) = image_store.list_images(s)
    with pytest.raises(ImageReadError, match="disappeared") as err:
        load_pixels(image)
    assert "a.png" in str(err.value)


def test_dicom_accession_and_study_date_are_stored_and_searchable(project, tmp_path):
    """AccessionNumber and StudyDate are read at import and kept with the study: the worklist
    finds the image by either; an image of the same study that carries them fills them in."""
    from mammo_annotator.services import viewing

    px = [synthetic_mammogram(k, size=(256, 208)).pixels for k in range(3)]
    make_dicom(tmp_path / "a.dcm", px[0], PatientID="P1", AccessionNumber="ACC-2024-0042 ", StudyDate="20240105")
    make_dicom(tmp_path / "b.dcm", px[1], PatientID="P2", StudyInstanceUID="1.2.3.4.5")  # no accession, no date
    make_dicom(tmp_path / "c.dcm", px[2], PatientID="P2", StudyInstanceUID="1.2.3.4.5", AccessionNumber="R77",
               StudyDate="20231130")
    report = import_items(project, items_from_paths([tmp_path / n for n in ("a.dcm", "b.dcm", "c.dcm")]))
    assert len(report.imported) == 3, report.failed
    rows = {r.file_name: r for r in viewing.worklist(project)}
    assert (rows["a.dcm"].accession, rows["a.dcm"].study_date) == ("ACC-2024-0042", "20240105")  # padding stripped
    assert (rows["b.dcm"].accession, rows["b.dcm"].study_date) == ("R77", "20231130")  # its study's, from c.dcm
    assert sorted(n for n, r in rows.items() if r.matches("acc-2024-0042")) == ["a.dcm"]
    assert sorted(n for n, r in rows.items() if r.matches("R77")) == ["b.dcm", "c.dcm"]
    assert sorted(n for n, r in rows.items() if r.matches("2024-01-05")) == ["a.dcm"]
    assert not any(r.matches("ACC-0000") for r in rows.values())


def test_a_dataset_spacing_that_cannot_be_true_is_not_stored(project, tmp_path):
    """A dataset's stated spacing (here 2 mm for a 512 x 416 image: 83 x 102 cm) is checked like a
    header's: stored unknown, with a warning that names the file, while a true one is stored."""
    from mammo_annotator.services.importing import ImportItem

    bad, good = _png16(tmp_path / "bad.png", 1), _png16(tmp_path / "good.png", 2)
    report = import_items(project, [ImportItem(bad, pixel_spacing_mm=(2.0, 2.0)),
                                    ImportItem(good, pixel_spacing_mm=(0.2, 0.2))])
    assert len(report.imported) == 2 and not report.failed
    assert [(p, w) for p, w in report.warnings if "pixel spacing" in w] == [
        (str(bad.resolve()), "the dataset's pixel spacing 2 x 2 mm would make the image 83 x 102 cm, "
                             "larger than any mammogram (50 cm); ignored")]
    with project.session() as s:
        spacing = {im.source_path.rsplit("/", 1)[-1]: im.pixel_spacing_mm for im in image_store.list_images(s)}
    assert spacing == {"bad.png": None, "good.png": (0.2, 0.2)}


def test_an_image_another_importer_stores_meanwhile_is_a_duplicate_not_a_failure(project, project_target, tmp_path,
                                                                                  monkeypatch):
    """Two colleagues import the same folder into one server project: the image is stored by the
    other between this importer's check and its write. That was reported as FAILED with the
    database's UNIQUE constraint; now the transaction is retried once and finds the image."""
    from mammo_annotator.services import importing
    from mammo_annotator.services.project import open_project

    _png16(tmp_path / "a.png", 1)
    other = open_project(project_target)
    real_grid = importing.region_grid  # laid after this importer's last check, before its write
    stored_by_other = []

    def grid_while_the_other_imports(*args, **kwargs):
        if not stored_by_other:
            stored_by_other.append(import_one_of(other, tmp_path / "a.png"))
        return real_grid(*args, **kwargs)

    def import_one_of(p, path):
        monkeypatch.setattr(importing, "region_grid", real_grid)
        try:
            return import_items(p, items_from_paths([path])).imported[0]
        finally:
            monkeypatch.setattr(importing, "region_grid", grid_while_the_other_imports)

    monkeypatch.setattr(importing, "region_grid", grid_while_the_other_imports)
    try:
        report = import_items(project, items_from_paths([tmp_path / "a.png"]))
    finally:
        other.close()
    assert report.failed == [] and report.imported == []
    assert report.duplicates == [(str((tmp_path / "a.png").resolve()), stored_by_other[0])]
    assert _table_counts(project)[:2] == (1, 1)
