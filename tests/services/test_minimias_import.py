"""Importing the real mini-MIAS subset: counts, and region labels against exact circle geometry."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from mammo_annotator.core.types import GridSpec
from mammo_annotator.services.importing import ImportReport, import_items
from mammo_annotator.services.info import project_info
from mammo_annotator.services.project import open_project
from mammo_annotator.services.sources import dataset_items
from mammo_annotator.store import images as image_store
from mammo_annotator.store import regions as region_store
from tests.core.test_regions_iom import circle_box_area


def parse_info(path):
    """An independent reading of Info.txt: {ref: [(severity, x, y, r) or (severity, None...)]}."""
    rows = defaultdict(list)
    for line in path.read_text().splitlines():
        m = re.match(r"^(mdb\d{3})\s+[FGD]\s+(\w{4})(.*)$", line.strip())
        if not m:
            continue
        ref, cls, rest = m.groups()
        parts = rest.split()
        if cls == "NORM":
            rows[ref]
            continue
        sev = parts[0] if parts and parts[0] in ("B", "M") else None
        nums = [int(p) for p in parts[1:4] if p.isdigit()]
        rows[ref].append((sev, *nums) if len(nums) == 3 else (sev, None, None, None))
    return rows


@pytest.fixture(scope="module")
def mias_project(mini_mias_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mias")
    import os

    os.environ["MAMMO_ANNOTATOR_CACHE"] = str(tmp / "cache")
    project = open_project(tmp / "mias.sqlite", create=True)
    project.set_grid_spec(GridSpec(112, 56, 0.5))
    report = ImportReport()
    import_items(project, dataset_items("mini-mias", mini_mias_dir, report=report), report=report)
    yield project, report, parse_info(mini_mias_dir / "Info.txt")
    project.close()


def test_counts(mias_project):
    project, report, truth = mias_project
    assert report.failed == [] and len(report.imported) == len(truth) == 214
    info = project_info(project)
    assert info["images"] == 214 and info["patients"] == 107
    weak = {"N": 0, "B": 0, "M": 0, "MB": 0}
    for rows in truth.values():
        sev = {r[0] for r in rows}
        weak[{(False, False): "N", (False, True): "B", (True, False): "M", (True, True): "MB"}[("M" in sev, "B" in sev)]] += 1
    assert {k: info["weak_labels"][k] for k in weak} == weak
    located = [r for rows in truth.values() for r in rows if r[1] is not None]
    assert info["lesion_contours"]["M"] == sum(r[0] == "M" for r in located)
    assert info["lesion_contours"]["B"] == sum(r[0] == "B" for r in located)
    # images whose every malignant finding is located are the locally annotated ones
    complete_m = [ref for ref, rows in truth.items() if any(r[0] == "M" for r in rows) and all(r[1] is not None for r in rows if r[0] == "M")]
    assert info["annotation_status"]["contoured"] == len(complete_m)


def test_region_labels_match_exact_circles(mias_project):
    project, _, truth = mias_project
    checked = mismatches = 0
    with project.session() as s:
        images = {im.source_path.split("/")[-1][:-4]: im for im in image_store.list_images(s)}
        for ref, rows in truth.items():
            circles = [(x, 1024 - y, r) for sev, x, y, r in rows if sev == "M" and x is not None]  # bottom-left origin
            im = images[ref]
            rs = region_store.region_set(s, region_store.grid_id_for(s, im.id))
            if not circles or any(sev == "M" and x is None for sev, x, _, _ in rows):
                assert set(rs.labels) == {None}, ref  # not locally annotated: no labels
                continue
            h, w = im.height, im.width
            for box, label in zip(rs.boxes, rs.labels):
                best = 0.0
                for cx, cy, r in circles:
                    inter = circle_box_area(cx, cy, r, tuple(box), n=4000)
                    lesion = circle_box_area(cx, cy, r, (0, 0, w, h), n=4000)
                    best = max(best, inter / min((box[2] - box[0]) * (box[3] - box[1]), lesion))
                if abs(best - 0.5) < 0.01 or 0 < best < 0.005:
                    continue  # polygon approximation of the circle may tip these either way
                expected = "M" if best >= 0.5 else ("BN" if best == 0 else "ignored")
                checked += 1
                mismatches += label != expected
    assert checked > 2000 and mismatches == 0


def test_hostile_info_rows_do_not_stop_the_import(tmp_path, monkeypatch):
    """A BOM, an unreadable number and an absurd radius: each row reported with Info.txt and its
    line, every image imported, and no whole-image malignant contour."""
    import numpy as np
    from PIL import Image

    from mammo_annotator.core.synthetic import synthetic_mammogram
    from mammo_annotator.store import annotations as ann_store

    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "mias"
    folder.mkdir()
    for i, ref in enumerate(("mdb001", "mdb005", "mdb023")):
        case = synthetic_mammogram(i, size=(512, 416), laterality="R")
        Image.fromarray((case.pixels >> 4).astype(np.uint8)).save(folder / f"{ref}.png")
    (folder / "Info.txt").write_bytes(b"\xef\xbb\xbfmdb001 G CIRC M 200 250 40\n"
                                      b"mdb005 F CIRC B 47\xb2 133 30\n"
                                      b"mdb023 G CIRC M 238 281 99999\n")
    project = open_project(tmp_path / "p.sqlite", create=True)
    project.set_grid_spec(GridSpec(112, 56, 0.5))
    report = ImportReport()
    import_items(project, dataset_items("mini-mias", folder, report=report), report=report)
    assert len(report.imported) == 3
    assert report.failed == []  # each image is imported with what its rows say: the rows are warnings
    reported = {key: reason for key, reason in report.warnings if "Info.txt:" in key}
    assert sorted(key.rsplit(":", 1)[1] for key in reported) == ["2", "3"]
    assert "mdb023" in reported[str(folder / "Info.txt") + ":3"]
    with project.session() as s:
        images = {im.source_path.split("/")[-1][:-4]: im for im in image_store.list_images(s)}
        assert images["mdb001"].weak.y_m == 1 and len(ann_store.list_annotations(s, images["mdb001"].id)) == 1
        assert images["mdb023"].weak.y_m == 1 and ann_store.list_annotations(s, images["mdb023"].id) == []
        assert (images["mdb005"].weak.y_m, images["mdb005"].weak.y_b) == (0, 1)
        labels = region_store.region_set(s, region_store.grid_id_for(s, images["mdb023"].id)).labels
        assert "M" not in labels
    project.close()
