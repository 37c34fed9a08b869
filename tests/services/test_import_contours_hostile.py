"""Contour imports meet hostile files: each bad file or image is reported with its reason, the rest
of the batch goes on, and an image is written whole or not at all."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from mammo_annotator.core.errors import LabelFileError
from mammo_annotator.core.types import AnnotationStatus
from mammo_annotator.services import annotations as svc
from mammo_annotator.services import contour_files
from mammo_annotator.services.import_contours import import_contours, read_contour_file
from mammo_annotator.services.project import open_project
from mammo_annotator.store import images as image_store
from tests.helpers import add_blank_image, square

SIZE = (320, 256)  # (height, width) of the blank images: 256 px wide, 320 px high
SHA = {p: f"{p}LMLO".ljust(64, "0") for p in ("P1", "P2")}  # add_blank_image's content hashes
BOW_TIE = [[100, 100], [200, 200], [200, 100], [100, 200], [100, 100]]  # crosses itself into two pieces


@pytest.fixture
def project(tmp_path, monkeypatch):
    """Two blank 256 x 320 images, P1 and P2, no contours."""
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    p = open_project(tmp_path / "p.sqlite", create=True)
    p.ids = {name: add_blank_image(p, name, size=SIZE) for name in SHA}  # type: ignore[attr-defined]
    yield p
    p.close()


def feature(patient: str, ring: list, **props) -> dict:
    return {"type": "Feature", "properties": {"sha256": SHA[patient], "class": "malignant", **props},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


def geojson(*features: dict, **top) -> dict:
    return {"type": "FeatureCollection", **top, "features": list(features)}


def closed(points: list) -> list:
    return [*points, points[0]]


def write(path: Path, doc: dict | str) -> Path:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def outlines(project, patient: str) -> list[tuple]:
    return sorted(a.polygon.bounds for a in svc.contours(project, project.ids[patient]))


def status(project, patient: str) -> AnnotationStatus:
    with project.session() as s:
        return image_store.get_image(s, project.ids[patient]).status


GOOD_P2 = geojson(feature("P2", closed(square(10, 10, 50))))
HUGE = "1" * 5000


@pytest.mark.parametrize("name, text, outcome", [
    ("status-list", json.dumps(geojson(feature("P1", closed(square(60, 60, 40)), image_status=["x"]))), "skipped"),
    ("status-dict", json.dumps(geojson(feature("P1", closed(square(60, 60, 40)), image_status={"a": 1}))), "skipped"),
    ("width-inf", json.dumps(geojson(feature("P1", closed(square(60, 60, 40)), image_width=float("inf"),
                                             image_height=320))), "skipped"),
    ("alpha-400-digits", json.dumps(geojson(feature("P1", closed(square(60, 60, 40))))).replace(
        '"features"', f'"alpha": {"9" * 400}, "features"'), "warned"),
    ("int-5000-digits", json.dumps(geojson(feature("P1", closed(square(60, 60, 40))))).replace(
        '"malignant"', f'"malignant", "n": {HUGE}'), "failed"),
    ("deep-nesting", "[" * 100_000, "failed"),
])
def test_unexpected_values_are_reported_and_the_batch_goes_on(project, tmp_path, name, text, outcome):
    svc.save_contour(project, project.ids["P1"], square(20, 20, 30), "dr.a")
    before = outlines(project, "P1")
    bad = write(tmp_path / f"{name}.geojson", text)
    report = import_contours(project, [bad, write(tmp_path / "good.geojson", GOOD_P2)], replace=True)
    assert outlines(project, "P2") == [(10.0, 10.0, 60.0, 60.0)]  # the file after the bad one is imported
    if outcome == "failed":
        assert [p for p, _ in report.failed] == [str(bad)] and outlines(project, "P1") == before
    elif outcome == "skipped":
        assert [k for k, _ in report.skipped] == [SHA["P1"]] and outlines(project, "P1") == before
    else:
        assert report.images == 2 and any("alpha 999" in w and len(w) < 300 for w in report.warnings)


def test_number_and_nesting_reasons_name_the_file(tmp_path):
    deep = write(tmp_path / "deep.json", "[" * 100_000)
    with pytest.raises(LabelFileError, match="nested too deeply") as exc:
        read_contour_file(deep)
    assert exc.value.path == str(deep)
    with pytest.raises(LabelFileError, match="too many digits"):
        read_contour_file(write(tmp_path / "digits.json", f'{{"type": "FeatureCollection", "x": {HUGE}}}'))


@pytest.mark.timeout(30)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX thing")
def test_a_fifo_is_refused_without_blocking(project, tmp_path):
    fifo = tmp_path / "a.geojson"
    os.mkfifo(fifo)
    report = import_contours(project, [fifo, write(tmp_path / "b.geojson", GOOD_P2)])
    assert report.failed == [(str(fifo), "not a regular file (a pipe, socket or device), not a contour file")] and report.images == 1


@pytest.mark.timeout(30)
@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_an_endless_device_is_refused(project):
    report = import_contours(project, ["/dev/zero"])
    assert report.failed == [("/dev/zero", "not a regular file (a pipe, socket or device), not a contour file")]


def test_a_file_over_the_cap_is_refused_and_a_folder_named(project, tmp_path, monkeypatch):
    monkeypatch.setattr(contour_files, "MAX_CONTOUR_FILE_BYTES", 100)
    big = write(tmp_path / "big.geojson", GOOD_P2)
    report = import_contours(project, [big, tmp_path, tmp_path / "missing.json"])
    reasons = dict(report.failed)
    assert "too large for a contour file" in reasons[str(big)]
    assert reasons[str(tmp_path)] == "is a folder, not a contour file"
    assert reasons[str(tmp_path / "missing.json")] == "contour file not found" and report.images == 0


@pytest.mark.timeout(60)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX thing")
def test_cli_prints_a_fifo_in_a_folder_as_failed(project, tmp_path, capsys):
    from mammo_annotator.cli import main

    folder = tmp_path / "in"
    folder.mkdir()
    os.mkfifo(folder / "a.geojson")
    write(folder / "b.geojson", GOOD_P2)
    done = threading.Event()  # should the reader block, open the FIFO's other end so the test ends
    threading.Thread(target=lambda: done.wait(20) or open(folder / "a.geojson", "w").close(), daemon=True).start()
    try:
        assert main(["import-contours", "--db", str(tmp_path / "p.sqlite"), str(folder)]) == 0
    finally:
        done.set()
    out = capsys.readouterr().out
    assert "1 contours imported on 1 images" in out
    assert f"FAILED  {folder / 'a.geojson'}: not a regular file" in out


def coco(images: list[dict], annotations: list[dict]) -> dict:
    return {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "malignant"}]}


def coco_image(image_id: int, patient: str, width: int = 256, height: int = 320) -> dict:
    return {"id": image_id, "sha256": SHA[patient], "width": width, "height": height}


def coco_ann(ann_id: int, image_id: int, ring: list) -> dict:
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "segmentation": [[v for p in ring for v in p]]}


def test_coco_image_listed_twice_keeps_the_contours_of_both(project, tmp_path):
    doc = coco([coco_image(1, "P1"), coco_image(2, "P1")],
               [coco_ann(1, 1, square(10, 10, 40)), coco_ann(2, 2, square(100, 100, 40))])
    report = import_contours(project, [write(tmp_path / "merged.json", doc)])
    assert report.images == 1 and report.contours == 2
    assert outlines(project, "P1") == [(10.0, 10.0, 50.0, 50.0), (100.0, 100.0, 140.0, 140.0)]


def test_coco_duplicate_of_another_size_is_skipped_alone(project, tmp_path):
    doc = coco([coco_image(1, "P1"), coco_image(2, "P1", width=512)],
               [coco_ann(1, 1, square(10, 10, 40)), coco_ann(2, 2, square(100, 100, 40))])
    report = import_contours(project, [write(tmp_path / "merged.json", doc)])
    assert report.images == 1 and outlines(project, "P1") == [(10.0, 10.0, 50.0, 50.0)]
    assert [r for _, r in report.skipped] == ["size 512x320 differs from the project image"]


def test_coco_id_reused_by_two_images_fails_the_file(project, tmp_path):
    doc = coco([coco_image(1, "P1"), coco_image(1, "P2")], [coco_ann(1, 1, square(10, 10, 40))])
    report = import_contours(project, [write(tmp_path / "bad.json", doc)])
    assert "COCO image id 1 is used by two different images" in report.failed[0][1] and report.images == 0


@pytest.mark.parametrize("rings", [[BOW_TIE], [closed(square(10, 10, 40)), BOW_TIE]], ids=["all-invalid", "one-invalid"])
def test_replace_with_invalid_contours_keeps_the_image_as_it_was(project, tmp_path, rings):
    svc.save_contour(project, project.ids["P1"], square(20, 20, 30), "dr.a")
    before = (outlines(project, "P1"), status(project, "P1"))
    doc = geojson(*(feature("P1", r) for r in rings))
    report = import_contours(project, [write(tmp_path / "c.geojson", doc)], replace=True)
    assert report.images == 0 and report.contours == 0 and (outlines(project, "P1"), status(project, "P1")) == before
    ((key, reason),) = report.skipped
    assert key == SHA["P1"] and f"1 of {len(rings)} contours invalid" in reason and "pieces" in reason


def test_replace_with_a_confirmed_negative_clears_the_contours(project, tmp_path):
    svc.save_contour(project, project.ids["P1"], square(20, 20, 30), "dr.a")
    doc = geojson(image={"sha256": SHA["P1"], "image_status": "no_malignant"})
    report = import_contours(project, [write(tmp_path / "neg.geojson", doc)], replace=True)
    assert report.images == 1 and outlines(project, "P1") == [] and status(project, "P1") is AnnotationStatus.NO_MALIGNANT


def test_a_geojson_altitude_is_dropped(project, tmp_path):
    ring3d = [[x, y, 12.5] for x, y in closed(square(10, 10, 40))]
    report = import_contours(project, [write(tmp_path / "z.geojson", geojson(feature("P1", ring3d)))])
    assert report.failed == [] and report.contours == 1 and outlines(project, "P1") == [(10.0, 10.0, 50.0, 50.0)]


def test_a_utf8_bom_is_accepted(project, tmp_path):
    path = tmp_path / "bom.geojson"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD_P2).encode())
    report = import_contours(project, [path])
    assert report.failed == [] and outlines(project, "P2") == [(10.0, 10.0, 60.0, 60.0)]


def test_repairs_are_reported_as_warnings(project, tmp_path):
    report = import_contours(project, [write(tmp_path / "c.geojson", geojson(feature("P1", closed(square(200, 10, 100)))))])
    assert report.contours == 1 and outlines(project, "P1") == [(200.0, 10.0, 256.0, 110.0)]
    assert report.warnings == [f"{SHA['P1']}: contour 1 repaired (clipped to the image border)"]
