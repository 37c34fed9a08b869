"""What the heat-map and region-label overlays contain (the arrays the GUI paints)."""

from __future__ import annotations

import numpy as np
import pytest

from mammo_annotator.core.records import PredictionRecord, RegionSet
from mammo_annotator.core.regions import grid_boxes
from mammo_annotator.services import annotations as svc
from mammo_annotator.services import viewing
from mammo_annotator.store import regions as region_store
from tests.helpers import add_blank_image, square

H, W = 896, 672


def prediction(boxes, hot: int, col: int, value=0.9, rest=0.1):
    scores = np.full((len(boxes), 7), rest, np.float32)
    scores[hot, col] = value
    return PredictionRecord(1, 1, 0.5, 0.5, 1, scores)


@pytest.mark.parametrize("col, cls", [(viewing.COL_D_M, "M"), (viewing.COL_D_B, "B")])
def test_heat_map_peaks_on_the_planted_lesions_region(col, cls):
    boxes = grid_boxes(H, W, 224, 112)
    hot = int(np.flatnonzero((boxes[:, 0] == 336) & (boxes[:, 1] == 448))[0])  # the window over the lesion
    made = viewing.score_map(prediction(boxes, hot, col), boxes, H, W, cls, max_side=1024)
    assert made is not None
    heat, scale = made
    assert scale == 1.0 and heat.shape == (H, W)
    ys, xs = np.nonzero(heat == heat.max())
    assert heat.max() == pytest.approx(0.9)
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == tuple(boxes[hot])  # exactly that window
    assert heat.min() == pytest.approx(0.1)  # everywhere else the other regions' score
    other = viewing.score_map(prediction(boxes, hot, col), boxes, H, W, "B" if cls == "M" else "M", max_side=1024)[0]
    assert other.max() == pytest.approx(0.1)  # the other class's column shows nothing


def test_heat_map_of_another_column_scaled_down_and_max_over_overlaps():
    boxes = np.array([[0, 0, 1000, 1000], [500, 0, 1500, 1000], [0, 1000, 1000, 2000]])
    scores = np.zeros((3, 7), np.float32)
    scores[:, viewing.COL_P_M] = [0.2, 0.6, 0.4]
    pred = PredictionRecord(1, 1, 0.5, 0.5, 1, scores)
    heat, scale = viewing.score_map(pred, boxes, 2000, 1500, "M", max_side=500, column=viewing.COL_P_M)
    assert scale == 4.0 and heat.shape == (500, 375)
    assert heat[100, 50] == pytest.approx(0.2)  # region 0 alone
    assert heat[100, 200] == pytest.approx(0.6)  # regions 0 and 1 overlap: the max
    assert heat[100, 300] == pytest.approx(0.6)
    assert heat[400, 50] == pytest.approx(0.4) and heat[400, 300] == 0.0  # no region there
    assert viewing.score_map(None, boxes, 2000, 1500) is None
    assert viewing.score_map(pred, None, 2000, 1500) is None


def test_region_label_overlay_shows_m_where_the_contour_is(project):
    image_id = add_blank_image(project, size=(H, W))
    with project.session() as s:
        rs = region_store.region_set(s, region_store.grid_id_for(s, image_id))
    assert viewing.label_map(rs, H, W) is None  # nothing labelled yet: no overlay
    svc.save_contour(project, image_id, square(300, 420, 70), "dr.a")
    with project.session() as s:
        rs = region_store.region_set(s, region_store.grid_id_for(s, image_id))
    lab, scale = viewing.label_map(rs, H, W)
    assert scale == 1.0 and lab.shape == (H, W)
    assert set(np.unique(lab)) <= {0, 1, 2, 3}
    assert lab[455, 335] == viewing.LABEL_CODES["M"]  # the contour's centre
    assert lab[100, 100] == viewing.LABEL_CODES["BN"] and lab[H - 100, W - 100] == viewing.LABEL_CODES["BN"]
    assert lab[20, 20] == 0  # the outer quarter of a border window is nobody's centre
    ys, xs = np.nonzero(lab == viewing.LABEL_CODES["M"])
    # each M window paints the central half of its box: the M cells surround the contour
    assert xs.min() <= 300 and xs.max() >= 370 and ys.min() <= 420 and ys.max() >= 490
    assert xs.max() - xs.min() < 400 and ys.max() - ys.min() < 400  # and stay near it


def test_label_overlay_priority_and_halves():
    boxes = np.array([[0, 0, 200, 200], [100, 0, 300, 200], [400, 400, 600, 600]])
    rs = RegionSet(1, 1, "g", boxes, np.ones(3), ["M", "BN", None], None, [1, None, None])
    lab, scale = viewing.label_map(rs, 600, 600)
    assert scale == 1.0
    # the central halves: region 0 paints x 50..150, region 1 x 150..250 (y 50..150 both)
    assert lab[100, 100] == 3 and lab[100, 200] == 1 and lab[100, 40] == 0 and lab[30, 100] == 0
    assert lab[500, 500] == 0  # an unlabelled region paints nothing
    rs = RegionSet(1, 1, "g", boxes[:2], np.ones(2), ["M", "ignored"], None, [1, 1])
    rs2 = RegionSet(1, 1, "g", boxes[[1, 0]], np.ones(2), ["ignored", "M"], None, [1, 1])
    boxes_over = np.array([[0, 0, 200, 200], [0, 0, 200, 200]])
    for labels in (["M", "ignored"], ["ignored", "M"], ["BN", "M"]):
        over = RegionSet(1, 1, "g", boxes_over, np.ones(2), labels, None, [None, None])
        assert viewing.label_map(over, 600, 600)[0][100, 100] == 3  # M is drawn over the others, in any order
    over = RegionSet(1, 1, "g", boxes_over, np.ones(2), ["BN", "ignored"], None, [None, None])
    assert viewing.label_map(over, 600, 600)[0][100, 100] == 2
    assert viewing.label_map(rs, 600, 600)[0][100, 200] == 2 and viewing.label_map(rs2, 600, 600)[0][100, 100] == 3
    big, scale = viewing.label_map(RegionSet(1, 1, "g", boxes * 10, np.ones(3), ["M", "BN", "M"], None, [1, None, 1]),
                                   6000, 6000, max_side=600)
    assert scale == 10.0 and big.shape == (600, 600) and big[100, 100] == 3 and big[500, 500] == 3
