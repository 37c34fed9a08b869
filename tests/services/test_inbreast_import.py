"""INbreast layout through the import service: BI-RADS labels, XML ROIs as contours, bad rows."""

from __future__ import annotations

from mammo_annotator.core.synthetic import synthetic_mammogram
from mammo_annotator.core.types import AnnotationStatus, GridSpec
from mammo_annotator.services.importing import ImportReport, import_items
from mammo_annotator.services.project import open_project
from mammo_annotator.services.sources import dataset_items
from mammo_annotator.store import annotations as ann_store
from mammo_annotator.store import images as image_store
from mammo_annotator.store import regions as region_store
from tests.core.factories import make_dicom, make_inbreast


def test_inbreast_tree(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "INbreast"
    rows = [
        dict(name="1001", pid="aa", lat="L", view="CC", birads="5"),
        dict(name="1002", pid="aa", lat="R", view="CC", birads="1"),
        dict(name="1003", pid="bb", lat="L", view="MLO", birads="2"),
        dict(name="1004", pid="cc", lat="R", view="MLO", birads="4c", dicom=False),
    ]
    square = [(200, 200), (260, 200), (260, 260), (200, 260)]
    make_inbreast(root, rows, {"1001": [("Mass", square)], "1003": [("Calcification", [(100, 300), (130, 300), (115, 330)])]})
    for i, r in enumerate(rows[:3]):  # give the DICOMs real breast pixels
        (path,) = (root / "AllDICOMs").glob(f"{r['name']}_*.dcm")
        case = synthetic_mammogram(i, size=(512, 416), view=r["view"], laterality=r["lat"])
        make_dicom(path, case.pixels, ImageLaterality=r["lat"], ViewPosition=r["view"], PatientID=r["pid"])
    project = open_project(tmp_path / "p.sqlite", create=True)
    project.set_grid_spec(GridSpec(112, 56))
    report = ImportReport()
    import_items(project, dataset_items("inbreast", root, report=report), report=report)
    assert len(report.imported) == 3
    assert any("1004" in key or "1004" in reason for key, reason in report.failed)
    with project.session() as s:
        images = {im.source_path.split("/")[-1][:4]: im for im in image_store.list_images(s)}
        m, n, b = images["1001"], images["1002"], images["1003"]
        assert (m.weak.y_m, n.weak.y_m, b.weak.y_m) == (1, 0, 0)
        assert m.status is AnnotationStatus.CONTOURED and n.status is AnnotationStatus.NOT_ANNOTATED
        (ann,) = ann_store.list_annotations(s, m.id)
        assert ann.cls.value == "M" and ann.polygon.bounds == (200, 200, 260, 260)
        labels = region_store.region_set(s, region_store.grid_id_for(s, m.id)).labels
        assert labels.count("M") >= 1 and "BN" in labels
        assert (m.laterality, m.view, b.view) == ("L", "CC", "MLO")


def test_fifo_roi_xml_does_not_hang_the_import(tmp_path, monkeypatch):
    """A FIFO named like an ROI XML: reported with its path, the images still imported."""
    import os

    import pytest

    from tests.core.test_hostile_datasets import _finishes

    if not hasattr(os, "mkfifo"):
        pytest.skip("os.mkfifo is not available on this platform")
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "INbreast"
    rows = [dict(name="1001", pid="aa", lat="L", view="CC", birads="5"),
            dict(name="1002", pid="aa", lat="R", view="CC", birads="4c")]
    square = [(200, 200), (260, 200), (260, 260), (200, 260)]
    make_inbreast(root, rows, {"1001": [("Mass", square)]})
    for i, r in enumerate(rows):
        (path,) = (root / "AllDICOMs").glob(f"{r['name']}_*.dcm")
        case = synthetic_mammogram(i, size=(512, 416), view=r["view"], laterality=r["lat"])
        make_dicom(path, case.pixels, ImageLaterality=r["lat"], ViewPosition=r["view"], PatientID=r["pid"])
    fifo = root / "AllXML" / "1002.xml"
    os.mkfifo(fifo)
    report = ImportReport()
    items = _finishes(lambda: dataset_items("inbreast", root, report=report), fifo)
    project = open_project(tmp_path / "p.sqlite", create=True)
    project.set_grid_spec(GridSpec(112, 56))
    import_items(project, items, report=report)
    assert len(report.imported) == 2
    assert any(key == str(fifo) and "not a regular file" in reason for key, reason in report.failed + report.warnings)
    project.close()
