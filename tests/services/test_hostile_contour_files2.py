"""Contour files and label CSVs that earlier rounds did not try: duplicate JSON keys, lone surrogates,
annotator names the database refuses, coordinates given as text, true/false or one level too deep,
holes, absurd counts of contours and points, and a long label CSV name. Each ends in a reason naming
the file (and feature) while the other files of the batch are imported; none reaches the database."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mammo_annotator.services import annotations as svc
from mammo_annotator.services import contour_files
from mammo_annotator.services.import_contours import import_contours
from mammo_annotator.services.importing import ImportReport, import_items
from mammo_annotator.services.sources import items_from_paths
from mammo_annotator.store import images as image_store
from tests.helpers import add_blank_image, square

SHA = {p: f"{p}LMLO".ljust(64, "0") for p in ("P1", "P2")}  # add_blank_image's content hashes


@pytest.fixture
def blank(project):
    """The conftest project (SQLite, then PostgreSQL) with two blank 256 x 320 images, P1 and P2."""
    project.ids = {name: add_blank_image(project, name, size=(320, 256)) for name in SHA}  # type: ignore[attr-defined]
    return project


def closed(points: list) -> list:
    return [*points, points[0]]


def feature(patient: str, *rings: list, **props) -> dict:
    return {"type": "Feature", "properties": {"sha256": SHA[patient], "class": "malignant", **props},
            "geometry": {"type": "Polygon", "coordinates": list(rings)}}


def geojson(*features: dict) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


GOOD_P2 = geojson(feature("P2", closed(square(10, 10, 50))))


def run(project, tmp_path: Path, text: str):
    """Import ``text`` (raw JSON) and then a good file; the good file must always be imported."""
    bad, good = tmp_path / "bad.geojson", tmp_path / "good.geojson"
    bad.write_text(text, encoding="utf-8")
    good.write_text(GOOD_P2, encoding="utf-8")
    report = import_contours(project, [bad, good])
    assert [a.polygon.bounds for a in svc.contours(project, project.ids["P2"])] == [(10.0, 10.0, 60.0, 60.0)]
    return report, str(bad)


def p1_outlines(project) -> list:
    return [a.polygon.bounds for a in svc.contours(project, project.ids["P1"])]


RING = json.dumps(closed(square(10, 10, 40)))


@pytest.mark.parametrize("name, text, reason", [
    # the last value used to win: the contours went to P2 without a word
    ("duplicate-key", '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"sha256": "%s", '
                      '"sha256": "%s"}, "geometry": {"type": "Polygon", "coordinates": [%s]}}]}' % (SHA["P1"], SHA["P2"], RING),
     "not a usable JSON file (the key 'sha256' appears twice in one object)"),
    # a traceback from the database driver, the batch stopped (SQLite and PostgreSQL alike)
    ("surrogate", '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"sha256": "%s", '
                  '"annotator": "\\ud800"}, "geometry": {"type": "Polygon", "coordinates": [%s]}}]}' % (SHA["P1"], RING),
     "not a usable JSON file ('\\ud800' holds a lone UTF-16 surrogate (\\u escape), not text)"),
    # PostgreSQL: "value too long for type character varying(128)", the batch stopped
    ("long-annotator", geojson(feature("P1", closed(square(10, 10, 40)), annotator="a" * 300)),
     "feature 1: annotator name of 300 characters (at most 128)"),
    # PostgreSQL: "text fields cannot contain NUL (0x00) bytes", the batch stopped
    ("nul-annotator", geojson(feature("P1", closed(square(10, 10, 40)), annotator="dr\x00a")),
     "feature 1: annotator 'dr\\x00a' holds control characters"),
    # numbers as text, true/false and one level too deep were read as something else, or imported
    ("text-numbers", geojson(feature("P1", [[str(x), str(y)] for x, y in closed(square(10, 10, 40))])),
     "feature 1: position 1 is ['10', '10'], not [x, y] numbers"),
    ("true-false", geojson(feature("P1", [[True, False], [1, 50], [50, 50], [True, False]])),
     "feature 1: position 1 is [True, False], not [x, y] numbers"),
    ("too-deep", geojson(feature("P1", [closed(square(10, 10, 40))])),  # was "needs at least 3 distinct points, got 2"
     "feature 1: position 1 is [[10, 10], [50, 10], [50, 50], [10, 50], [10, 10]], not [x, y] numbers"),
    ("coco-text-numbers", json.dumps({"images": [{"id": 1, "sha256": SHA["P1"], "width": 256, "height": 320}],
                                      "annotations": [{"id": 7, "image_id": 1, "category_id": 1,
                                                       "segmentation": [["10", "10", "50", "10", "50", "50"]]}],
                                      "categories": [{"id": 1, "name": "malignant"}]}),
     "annotation 7: coordinate 10 is text, not a number"),
    # Python's words for the same problems ("'NoneType' object is not subscriptable", "unhashable type")
    ("null-coordinates", geojson({"type": "Feature", "properties": {"sha256": SHA["P1"]},
                                  "geometry": {"type": "Polygon", "coordinates": None}}),
     "feature 1: 'coordinates' is null, not a list"),
    ("feature-null", json.dumps({"type": "FeatureCollection", "features": [json.loads(GOOD_P2)["features"][0], None]}),
     "feature 2 is null, not an object"),
    ("coco-list-id", json.dumps({"images": [{"id": [1], "sha256": SHA["P1"]}], "annotations": []}),
     "COCO image 1: id is a list, not a number or text"),
])
def test_hostile_contour_files_fail_alone_with_the_reason(blank, tmp_path, name, text, reason):
    report, bad = run(blank, tmp_path, text)
    assert report.failed == [(bad, reason)] and report.images == 1 and p1_outlines(blank) == []


def test_a_surrogate_key_does_not_break_the_cli(blank, tmp_path, capsys, project_target):
    """The unmatched image's key was printed raw: 'unexpected UnicodeEncodeError', exit 3."""
    from mammo_annotator.cli import main

    bad = tmp_path / "s.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
                   '{"sha256": "\\ud800abc"}, "geometry": null}]}')
    (tmp_path / "good.geojson").write_text(GOOD_P2)
    assert main(["import-contours", "--db", project_target, str(bad), str(tmp_path / "good.geojson")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 contours imported on 1 images") and f"FAILED  {bad}: not a usable JSON file" in out


def test_holes_are_dropped_with_a_warning(blank, tmp_path):
    """Only the outer ring was read; the holes went without a word."""
    report, _ = run(blank, tmp_path, geojson(feature("P1", closed(square(10, 10, 100)), closed(square(30, 30, 20)))))
    assert report.failed == [] and p1_outlines(blank) == [(10.0, 10.0, 110.0, 110.0)]
    assert f"{SHA['P1']}: feature 1: 1 hole(s) dropped (a contour is one outline; the area inside it counts whole)" \
        in report.warnings


def test_too_many_contours_on_one_image_skip_it(blank, tmp_path, monkeypatch):
    """800,000 small squares on one image ran for over ten minutes and 4 GB before."""
    monkeypatch.setattr(contour_files, "MAX_CONTOURS_PER_IMAGE", 5)
    feats = [feature("P1", closed(square(10 + 20 * k, 10, 10))) for k in range(8)]
    report, _ = run(blank, tmp_path, geojson(*feats))
    assert report.skipped == [(SHA["P1"], "8 contours on one image (at most 5); not a set of lesion outlines")]
    assert p1_outlines(blank) == []


def test_an_outline_of_absurdly_many_points_fails_the_file(blank, tmp_path, monkeypatch):
    monkeypatch.setattr(contour_files, "MAX_RING_POINTS", 100)
    t = np.linspace(0, 2 * np.pi, 150, endpoint=False)
    ring = np.round(np.stack([128 + 50 * np.cos(t), 160 + 50 * np.sin(t)], 1), 2).tolist()
    report, bad = run(blank, tmp_path, geojson(feature("P1", ring)))
    assert report.failed == [(bad, "feature 1: an outline of 150 points (at most 100)")]


def test_a_long_label_csv_name_fits_the_database(project, tmp_path):
    """label_source is 'csv:<name>' in a 64-character column: on PostgreSQL every image of an import
    with a long, descriptive CSV name failed ('value too long for type character varying(64)')."""
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 240), dtype=np.uint8)).save(tmp_path / "a.png")
    csv = tmp_path / "labels_for_the_2024_retrospective_cohort_of_the_regional_screening_programme.csv"
    csv.write_text("image,patient_id,birads\na.png,P1,5\n")
    report = ImportReport()
    import_items(project, items_from_paths([], csv, report=report), report=report)
    assert report.failed == [] and len(report.imported) == 1
    with project.session() as s:
        (image,) = image_store.list_images(s)
    assert image.label_source == "csv:labels_for_the_2024_retrospec~gional_screening_programme.csv"
    assert len(image.label_source) == 64 and image.birads == "5"
