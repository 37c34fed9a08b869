"""Labels, GeoJSON, COCO, masks, regions and predictions exports: content, streaming, paths."""

from __future__ import annotations

import csv
import json
import threading

import numpy as np
import pytest
from PIL import Image

from mammo_annotator.core.progress import Cancelled
from mammo_annotator.core.types import WeakLabel
from mammo_annotator.services import export as ex
from mammo_annotator.services.export import common
from mammo_annotator.services.export.paths import ExportPathError, inside, safe_component
from mammo_annotator.store import images as image_store
from tests.helpers import add_blank_image
from tests.services.export_helpers import add_predictions, build_project


@pytest.fixture
def ids(project):
    return build_project(project)


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_labels_csv_pseudonymised_by_default(project, ids, tmp_path):
    result = ex.export(project, "labels", tmp_path / "out")
    rows = read_csv(tmp_path / "out" / "labels.csv")
    assert result.items == len(rows) == 4
    by_status = {r["status"]: r for r in rows}
    assert set(by_status) == {"contoured", "no_malignant", "not_annotated"}
    first = rows[0]
    assert first["image"].startswith("I-") and first["patient"].startswith("P-") and first["image_file"] == ""
    assert (first["y_M"], first["y_B"], first["contours_M"], first["contours_B"]) == ("1", "0", "1", "1")
    assert rows[0]["patient"] == rows[1]["patient"] != rows[2]["patient"]  # same patient, same pseudonym
    again = read_csv(ex.export(project, "labels", tmp_path / "again.csv").path)
    assert [r["image"] for r in again] == [r["image"] for r in rows]  # stable between exports
    keep = read_csv(ex.export(project, "labels", tmp_path / "keep.csv", ex.ExportOptions(keep_ids=True)).path)
    assert keep[0]["patient"] == "P1" and keep[0]["image"] == str(ids["mb"]) and keep[0]["image_file"] == "P1-LCC.png"


def test_geojson_project_file(project, ids, tmp_path):
    path = ex.export(project, "geojson", tmp_path / "c.geojson").path
    doc = json.loads(path.read_text())
    assert doc["type"] == "FeatureCollection" and doc["alpha"] == 0.5
    polys = [f for f in doc["features"] if f["geometry"]]
    assert [f["properties"]["class"] for f in polys] == ["malignant", "benign", "malignant"]
    ring = polys[0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] == [40.0, 60.0] and [90.0, 110.0] in ring
    props = polys[0]["properties"]
    assert props["annotator"] == "dr.a" and props["image_width"] == 256 and props["image_height"] == 320
    assert props["created"].endswith("+00:00") and "sha256" not in props
    empty = [f for f in doc["features"] if f["geometry"] is None]
    assert [f["properties"]["image_status"] for f in empty] == ["no_malignant"]


def test_geojson_per_image(project, ids, tmp_path):
    result = ex.export(project, "geojson", tmp_path / "gj", ex.ExportOptions(per_image=True, keep_ids=True))
    files = sorted(p.name for p in (tmp_path / "gj").iterdir())
    assert result.files == 3 and files == ["1_P1-LCC.geojson", "2_P1-RMLO.geojson", "3_P2-LMLO.geojson"]
    doc = json.loads((tmp_path / "gj" / "1_P1-LCC.geojson").read_text())
    assert doc["image"]["sha256"] and len(doc["features"]) == 2


def test_coco(project, ids, tmp_path):
    doc = json.loads(ex.export(project, "coco", tmp_path).path.read_text())
    assert [c["name"] for c in doc["categories"]] == ["malignant", "benign"]
    assert len(doc["images"]) == 3 and len(doc["annotations"]) == 3
    first = doc["annotations"][0]
    assert first["bbox"] == [40.0, 60.0, 50.0, 50.0] and first["area"] == 2500.0 and first["category_id"] == 1
    assert len(first["segmentation"][0]) == 8 and first["attributes"]["annotator"] == "dr.a"
    assert {a["image_id"] for a in doc["annotations"]} <= {im["id"] for im in doc["images"]}


def test_masks_per_image_and_class(project, ids, tmp_path):
    result = ex.export(project, "masks", tmp_path / "m", ex.ExportOptions(keep_ids=True))
    assert result.files == 6  # 3 images (2 contoured, 1 confirmed negative) x 2 classes
    m = np.asarray(Image.open(tmp_path / "m" / "1_P1-LCC_malignant.png"))
    b = np.asarray(Image.open(tmp_path / "m" / "1_P1-LCC_benign.png"))
    assert m.shape == (320, 256) and set(np.unique(m)) == {0, 255}
    assert (m > 0).sum() == 2500 and (b > 0).sum() == 1600 and m[85, 65] == 255
    assert not np.asarray(Image.open(tmp_path / "m" / "3_P2-LMLO_malignant.png")).any()


def test_regions_csv(project, ids, tmp_path):
    n = ex.export_regions_csv(project, tmp_path / "r.csv")
    rows = read_csv(tmp_path / "r.csv")
    assert n == len(rows) > 0
    labelled = [r for r in rows if r["label"]]
    assert {r["label"] for r in labelled} == {"M", "BN", "ignored"}
    m = next(r for r in labelled if r["label"] == "M")
    assert m["annotation_id"] and float(m["iom"]) >= 0.5 and m["size_px"] == "64" and m["image"].startswith("I-")
    assert all(r["label"] == "" for r in rows if r["image"] == rows[-1]["image"])  # the unannotated image


def test_predictions_csv(project, ids, tmp_path):
    with pytest.raises(Exception, match="no trained model"):
        ex.export(project, "predictions", tmp_path / "p.csv")
    version = add_predictions(project, [ids["mb"], ids["m"]])
    rows = read_csv(ex.export(project, "predictions", tmp_path / "p.csv", ex.ExportOptions(top_regions=3)).path)
    assert len(rows) == 6 and {r["model_version"] for r in rows} == {str(version)}
    d_m = [float(r["d_M"]) for r in rows[:3]]
    assert d_m == sorted(d_m, reverse=True) and rows[0]["rank"] == "1"
    assert int(rows[0]["x1"]) - int(rows[0]["x0"]) == 64 and float(rows[0]["p_M"]) == pytest.approx(0.7)


def test_progress_reported_and_cancel_leaves_no_file(project, ids, tmp_path):
    seen = []
    ex.export(project, "labels", tmp_path / "l.csv", progress=lambda d, t, m: seen.append((d, t)))
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    stop = threading.Event()

    def progress(done, total, message):
        if done == 2:
            stop.set()

    with pytest.raises(Cancelled):
        ex.export(project, "coco", tmp_path / "c.json", progress=progress, cancel=stop)
    assert not (tmp_path / "c.json").exists() and not list(tmp_path.glob("*.part"))


def test_streams_in_pages(project, tmp_path, monkeypatch):
    monkeypatch.setattr(common, "PAGE", 3)
    for k in range(8):
        add_blank_image(project, f"Q{k}", size=(128, 128), weak=WeakLabel(0, 0))
    rows = read_csv(ex.export(project, "labels", tmp_path / "l.csv").path)
    assert len(rows) == 8 and len({r["image"] for r in rows}) == 8


def test_names_from_ids_cannot_escape(project, tmp_path):
    assert safe_component("../../etc/passwd") == "etc_passwd"
    assert safe_component("..") == "item" and safe_component("/") == "item"
    (tmp_path / "x").mkdir()
    assert inside(tmp_path / "x", "..") == (tmp_path / "x" / "item").resolve()
    (tmp_path / "x" / "link.png").symlink_to(tmp_path / "elsewhere.png")
    with pytest.raises(ExportPathError, match="outside"):  # a planted link does not redirect the write
        inside(tmp_path / "x", "link.png")
    from mammo_annotator.core.types import ImageMeta

    meta = ImageMeta(source_path="../../etc/passwd", width=128, height=128)
    with project.session() as s:
        evil = image_store.add_image(s, meta, "e" * 64, "../../etc/passwd", "s", WeakLabel(0, 0))
    from mammo_annotator.services import annotations as ann_svc

    ann_svc.set_no_malignant(project, evil, "dr.a")
    out = tmp_path / "deep" / "out"
    ex.export_many(project, ["masks", "geojson"], out, ex.ExportOptions(keep_ids=True, per_image=True))
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".sqlite" and "sqlite" not in p.name]
    assert written and all(out.resolve() in p.resolve().parents for p in written)
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["1_passwd_benign.png", "1_passwd_malignant.png"]


def test_out_must_be_a_folder_for_folder_formats(project, ids, tmp_path):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ExportPathError, match="is a file"):
        ex.export(project, "masks", tmp_path / "file.txt")
