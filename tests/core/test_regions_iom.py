"""Region grid, contour checks and IoM labels against independent geometry."""

from __future__ import annotations

import numpy as np
import pytest

from mammo_annotator.core.contours import check_contour, circle_polygon, rasterize
from mammo_annotator.core.errors import InvalidContourError
from mammo_annotator.core.iom import iom_matrix, label_regions
from mammo_annotator.core.regions import grid_boxes, inside_fractions, region_grid
from mammo_annotator.core.types import GridSpec, Lesion, LesionClass, Polygon, RegionLabel


def circle_box_area(cx: float, cy: float, r: float, box: tuple[int, int, int, int], n: int = 20000) -> float:
    """|disc ∩ box| by integrating the clipped vertical chord (independent of shapely)."""
    x0, y0, x1, y1 = box
    a, b = max(x0, cx - r), min(x1, cx + r)
    if a >= b:
        return 0.0
    xs = a + (np.arange(n) + 0.5) * (b - a) / n
    half = np.sqrt(np.maximum(r * r - (xs - cx) ** 2, 0))
    lo, hi = np.maximum(cy - half, y0), np.minimum(cy + half, y1)
    return float(np.sum(np.maximum(hi - lo, 0)) * (b - a) / n)


def test_grid_covers_borders_and_counts():
    boxes = grid_boxes(1000, 700, 224, 112)
    assert boxes[:, 2].max() == 700 and boxes[:, 3].max() == 1000
    assert (boxes[:, 2] - boxes[:, 0] == 224).all()
    xs = sorted(set(boxes[:, 0]))
    assert xs[:5] == [0, 112, 224, 336, 448] and xs[-1] == 700 - 224


def test_inside_fraction_matches_direct_count():
    rng = np.random.default_rng(0)
    mask = rng.random((300, 260)) > 0.5
    boxes = grid_boxes(300, 260, 64, 32)
    fr = inside_fractions(mask, boxes)
    for (x0, y0, x1, y1), f in zip(boxes, fr):
        assert f == pytest.approx(mask[y0:y1, x0:x1].mean())


def test_region_grid_keeps_mostly_inside_windows():
    mask = np.zeros((896, 896), dtype=bool)
    mask[:, :448] = True
    regions = region_grid(mask, GridSpec(224, 112, 0.5))
    assert regions and all(r.inside_fraction >= 0.5 for r in regions)
    assert max(r.box.x0 for r in regions) == 336  # half inside: kept
    assert [r.index for r in regions] == list(range(len(regions)))


def test_grid_in_millimetres():
    spec = GridSpec(size_mm=22.4, stride_mm=11.2)
    assert spec.resolve(0.1) == (224, 112)
    assert spec.resolve(0.2) == (112, 56)
    assert spec.resolve(None) == (224, 112)  # unknown spacing: pixel defaults


@pytest.mark.parametrize("cx,cy,r", [(300.0, 260.0, 40.0), (150.0, 400.0, 130.0), (500.0, 500.0, 12.0)])
def test_iom_matches_exact_circle_geometry(cx, cy, r):
    boxes = grid_boxes(800, 800, 224, 112)
    lesion = Lesion(LesionClass.MALIGNANT, circle_polygon(cx, cy, r, n=256), 7)
    iom = iom_matrix(boxes, [lesion])[:, 0]
    exact = np.array([circle_box_area(cx, cy, r, tuple(b)) / min(224 * 224, np.pi * r * r) for b in boxes])
    np.testing.assert_allclose(iom, exact, atol=2e-3)


def test_labels_follow_the_rule():
    mask = np.ones((672, 672), dtype=bool)
    regions = region_grid(mask, GridSpec(224, 112, 0.5))
    small = Lesion(LesionClass.MALIGNANT, circle_polygon(336, 336, 30, 128), 1)
    benign = Lesion(LesionClass.BENIGN, circle_polygon(100, 100, 30, 128), 2)
    labels = label_regions(regions, [small, benign], alpha=0.5)
    by_box = {(regions[l.region_index].box.x0, regions[l.region_index].box.y0): l for l in labels}
    # windows fully containing the small lesion: IoM 1 -> M
    assert by_box[(224, 224)].label is RegionLabel.M and by_box[(224, 224)].iom == pytest.approx(1, abs=1e-6)
    assert by_box[(224, 224)].annotation_id == 1
    # the window whose corner is the lesion's centre holds exactly a quarter of it: ignored
    assert by_box[(336, 336)].label is RegionLabel.IGNORED and by_box[(336, 336)].iom == pytest.approx(0.25, abs=1e-9)
    assert by_box[(336, 336)].annotation_id == 1
    # far from the malignant lesion: BN, the benign contour does not matter
    assert by_box[(0, 0)].label is RegionLabel.BN and by_box[(0, 0)].annotation_id is None
    assert by_box[(448, 448)].label is RegionLabel.BN


def test_partial_overlap_is_ignored():
    mask = np.ones((448, 448), dtype=bool)
    regions = region_grid(mask, GridSpec(224, 224, 0.5))
    # a square lesion overlapping window (0,0) by 20 % of the lesion's area
    lesion = Lesion(LesionClass.MALIGNANT, Polygon.from_array([[204, 100], [304, 100], [304, 200], [204, 200]]))
    labels = {(regions[l.region_index].box.x0, regions[l.region_index].box.y0): l for l in label_regions(regions, [lesion])}
    assert labels[(0, 0)].label is RegionLabel.IGNORED and labels[(0, 0)].iom == pytest.approx(0.2)
    assert labels[(224, 0)].label is RegionLabel.M and labels[(224, 0)].iom == pytest.approx(0.8)
    assert labels[(0, 224)].label is RegionLabel.BN


def test_no_malignant_lesions_means_all_bn():
    regions = region_grid(np.ones((448, 448), bool), GridSpec(224, 112, 0.5))
    labels = label_regions(regions, [])
    assert {l.label for l in labels} == {RegionLabel.BN}


class TestCheckContour:
    def test_too_few_points(self):
        with pytest.raises(InvalidContourError, match="at least 3"):
            check_contour([[1, 1], [5, 5]], 100, 100)

    def test_duplicates_collapse(self):
        with pytest.raises(InvalidContourError, match="at least 3"):
            check_contour([[1, 1], [1, 1], [5, 5], [5, 5]], 100, 100)

    def test_zero_area(self):
        with pytest.raises(InvalidContourError, match="zero area"):
            check_contour([[1, 1], [5, 5], [9, 9]], 100, 100)

    def test_bowtie_rejected(self):
        with pytest.raises(InvalidContourError, match="crosses itself"):
            check_contour([[0, 0], [10, 10], [10, 0], [0, 10]], 100, 100)

    def test_outside_rejected(self):
        with pytest.raises(InvalidContourError, match="outside"):
            check_contour([[200, 200], [210, 200], [210, 210]], 100, 100)

    def test_partly_outside_clipped(self):
        checked = check_contour([[90, 10], [120, 10], [120, 40], [90, 40]], 100, 100)
        assert "clipped to the image border" in checked.repairs
        assert checked.polygon.bounds == (90, 10, 100, 40)
        assert checked.polygon.area == pytest.approx(300)

    def test_nan_rejected(self):
        with pytest.raises(InvalidContourError, match="non-finite"):
            check_contour([[0, 0], [np.nan, 10], [10, 0]], 100, 100)

    def test_valid_unchanged(self):
        pts = [[10, 10], [50, 10], [50, 40], [10, 40]]
        checked = check_contour(pts, 100, 100)
        assert checked.repairs == ()
        assert checked.polygon.area == pytest.approx(1200)


def test_rasterize_square():
    mask = rasterize(Polygon.from_array([[2, 3], [6, 3], [6, 8], [2, 8]]), 10, 10)
    assert mask.sum() == 20 and mask[3:8, 2:6].all()
