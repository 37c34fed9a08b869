"""The sliding-window grid (method section 2): window origins at the borders, non-square images,
millimetre settings, and the inside-breast fraction of single boxes; expected boxes by hand."""

from __future__ import annotations

import numpy as np
import pytest

from mammo_annotator.core.regions import boxes_array, grid_boxes, inside_fractions, region_grid
from mammo_annotator.core.types import GridSpec


def _xs(width: int, size: int, stride: int) -> list[int]:
    return [int(b[0]) for b in grid_boxes(size, width, size, stride)]


def test_an_axis_exactly_one_window_long_has_one_window():
    assert grid_boxes(224, 224, 224, 112).tolist() == [[0, 0, 224, 224]]


def test_window_origins_when_the_stride_fits_exactly():
    # 448 = 224 + 2 * 112: origins 0, 112, 224, the last one flush with the border, none twice
    assert grid_boxes(224, 448, 224, 112).tolist() == [[0, 0, 224, 224], [112, 0, 336, 224], [224, 0, 448, 224]]


@pytest.mark.parametrize("width,expected", [
    (335, [0, 111]),  # 111 px left after the first window: one more, flush right
    (336, [0, 112]),
    (337, [0, 112, 113]),  # 113 px: a stride step, then the flush window
    (300, [0, 76]),
])
def test_window_origins_with_a_remainder(width, expected):
    assert _xs(width, 224, 112) == expected


def test_an_image_smaller_than_a_window_has_no_windows():
    boxes = grid_boxes(100, 300, 224, 112)
    assert boxes.shape == (0, 4) and boxes.dtype.kind == "i"  # integer pixel boxes, even when there are none
    assert boxes_array([]).shape == (0, 4) and boxes_array([]).dtype.kind == "i"
    assert inside_fractions(np.ones((100, 300), bool), boxes).shape == (0,)
    assert region_grid(np.ones((100, 300), bool), GridSpec(224, 112, 0.0)) == []


def test_inside_fraction_of_a_single_box():
    mask = np.zeros((10, 10), dtype=bool)
    mask[:, :4] = True  # the 4 left columns
    assert inside_fractions(mask, np.array([[0, 0, 10, 10]])).tolist() == [pytest.approx(0.4)]
    # columns 2..5, rows 0..4: columns 2 and 3 inside -> 10 of 20 pixels
    assert inside_fractions(mask, [[2, 0, 6, 5]]).tolist() == [pytest.approx(0.5)]


def test_a_tall_image_gets_windows_down_to_its_last_row():
    mask = np.ones((500, 300), dtype=bool)  # 500 rows, 300 columns (portrait, as a mammogram)
    regions = region_grid(mask, GridSpec(100, 100, 0.5))
    boxes = boxes_array(regions)
    assert len(regions) == 5 * 3
    assert sorted(set(boxes[:, 1].tolist())) == [0, 100, 200, 300, 400]
    assert sorted(set(boxes[:, 0].tolist())) == [0, 100, 200]
    assert boxes[:, 3].max() == 500 and boxes[:, 2].max() == 300


def test_region_grid_uses_the_millimetre_window_at_the_images_spacing():
    mask = np.ones((300, 200), dtype=bool)
    # 20 mm at 0.2 mm / px = 100 px windows, 10 mm = 50 px stride; the 224 px default fits no window here
    regions = region_grid(mask, GridSpec(size_mm=20.0, stride_mm=10.0), pixel_spacing_mm=0.2)
    boxes = boxes_array(regions)
    assert len(regions) == 5 * 3
    assert set((boxes[:, 2] - boxes[:, 0]).tolist()) == {100} and set((boxes[:, 3] - boxes[:, 1]).tolist()) == {100}
    assert sorted(set(boxes[:, 1].tolist())) == [0, 50, 100, 150, 200]
