"""GeoJSON and COCO contours exported by the app import back and give identical region labels."""

from __future__ import annotations

import json

import pytest

from mammo_annotator.core.errors import LabelFileError
from mammo_annotator.services import export as ex
from mammo_annotator.services.import_contours import import_contours, read_contour_file
from mammo_annotator.services.project import open_project
from mammo_annotator.store import batches
from tests.services.export_helpers import add_dicom_image, build_project, write_mg_dicom


def label_table(project) -> list[tuple]:
    """(content hash, grid, region, label, IoM) of every region: what training reads."""
    with project.session() as s:
        return [(sha, grid, idx, label, round(iom, 6) if iom is not None else None)
                for (_, sha, _, _, grid, _, _, _, idx, *_rest, label, iom, _alpha, _ann) in batches.region_label_rows(s)]


def contour_times(project) -> list[tuple]:
    from mammo_annotator.store import annotations as ann_store

    with project.session() as s:
        anns = ann_store.list_annotations(s)
    return sorted((a.polygon.bounds, a.created_at.replace(microsecond=0, tzinfo=None), a.modified_at.replace(microsecond=0, tzinfo=None)) for a in anns)


def blank_twin(source, path, dicom_dir):
    """Another project holding the same images (same files, same grid) and no contours."""
    twin = open_project(path, create=True)
    twin.set_grid_spec(source.grid_spec())
    from tests.helpers import add_blank_image

    for patient, lat, view in (("P1", "L", "CC"), ("P1", "R", "MLO"), ("P2", "L", "MLO"), ("P3", "L", "MLO")):
        add_blank_image(twin, patient, size=(320, 256), laterality=lat, view=view)
    for dcm in sorted(dicom_dir.glob("*.dcm")):
        add_dicom_image(twin, dcm)
    return twin


@pytest.fixture
def source(tmp_path):
    p = open_project(tmp_path / "src.sqlite", create=True)
    (tmp_path / "dcm").mkdir()
    build_project(p, tmp_path / "dcm")
    yield p
    p.close()


@pytest.mark.parametrize("fmt, per_image", [("geojson", False), ("geojson", True), ("coco", False)])
def test_round_trip_keep_ids_into_another_project(source, tmp_path, fmt, per_image):
    from sqlalchemy import text

    with source.session() as s:  # contours drawn long ago: their times must survive the round trip
        s.execute(text("UPDATE annotations SET created_at = '2024-03-01 09:30:00.000000', modified_at = '2024-03-02 10:00:00.000000'"))
    out = ex.export(source, fmt, tmp_path / "out", ex.ExportOptions(keep_ids=True, per_image=per_image)).path
    twin = blank_twin(source, tmp_path / "twin.sqlite", tmp_path / "dcm")
    assert label_table(twin) != label_table(source)
    files = sorted(out.iterdir()) if out.is_dir() else [out]
    report = import_contours(twin, files)
    assert report.unmatched == [] and report.skipped == [] and report.warnings == []
    assert report.images == 5 and report.contours == 6  # 4 contoured images + the confirmed negative
    assert label_table(twin) == label_table(source)
    assert contour_times(twin) == contour_times(source)  # the original created/modified times survive
    twin.close()


def test_round_trip_pseudonymised_needs_the_shared_secret(source, tmp_path):
    out = ex.export(source, "geojson", tmp_path / "c.geojson").path
    stranger = blank_twin(source, tmp_path / "stranger.sqlite", tmp_path / "dcm")
    report = import_contours(stranger, [out])
    assert report.images == 0 and len(report.unmatched) == 5  # pseudonyms mean nothing without the secret
    twin = blank_twin(source, tmp_path / "twin.sqlite", tmp_path / "dcm")
    ex.set_project_secret(twin, ex.project_secret(source))
    report = import_contours(twin, [out])
    assert report.images == 5 and label_table(twin) == label_table(source)
    stranger.close()
    twin.close()


def test_images_with_contours_are_skipped_unless_replace(source, tmp_path):
    out = ex.export(source, "coco", tmp_path / "c.json", ex.ExportOptions(keep_ids=True)).path
    report = import_contours(source, [out])  # into the very project it came from
    assert len(report.skipped) == 4 and report.contours == 0  # only the contour-free negative is "imported" (a no-op)
    before = label_table(source)
    report = import_contours(source, [out], replace=True)
    assert report.images == 5 and label_table(source) == before


def test_size_mismatch_and_bad_files_are_reported(source, tmp_path):
    path = ex.export(source, "geojson", tmp_path / "c.geojson", ex.ExportOptions(keep_ids=True)).path
    doc = json.loads(path.read_text())
    for feat in doc["features"]:
        feat["properties"]["image_width"] = 999
    path.write_text(json.dumps(doc))
    twin = blank_twin(source, tmp_path / "twin.sqlite", tmp_path / "dcm")
    report = import_contours(twin, [path])
    assert report.images == 0 and all("size" in reason for _, reason in report.skipped)
    (tmp_path / "bad.json").write_text("{\"hello\": 1}")
    report = import_contours(twin, [tmp_path / "bad.json", path])  # the bad file fails alone
    assert [(p, "neither a GeoJSON" in r) for p, r in report.failed] == [(str(tmp_path / "bad.json"), True)]
    assert report.skipped and all("size" in reason for _, reason in report.skipped)
    with pytest.raises(LabelFileError, match="neither a GeoJSON"):
        read_contour_file(tmp_path / "bad.json")
    twin.close()


def test_file_name_match_for_foreign_geojson(tmp_path):
    """A hand-made GeoJSON naming the image file (as other tools write) is matched by name."""
    project = open_project(tmp_path / "p.sqlite", create=True)
    (tmp_path / "dcm").mkdir()
    image_id = add_dicom_image(project, write_mg_dicom(tmp_path / "dcm" / "case7.dcm", 7))
    doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"image_file": "case7.dcm", "class": "malignant"},
           "geometry": {"type": "Polygon", "coordinates": [[[10, 10], [90, 10], [90, 90], [10, 90], [10, 10]]]}}]}
    (tmp_path / "f.geojson").write_text(json.dumps(doc))
    report = import_contours(project, [tmp_path / "f.geojson"])
    assert report.images == 1 and report.contours == 1
    from mammo_annotator.services.annotations import contours

    assert contours(project, image_id)[0].polygon.area == 6400
    project.close()
