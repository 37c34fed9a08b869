"""Region labels against an exact rasterised computation, for random lesions and grids (hypothesis).

The lesions are staircase polygons: the outline of a union of whole pixel cells, so the area a
box shares with the lesion is a plain count of the cells inside the box, with no geometry
library involved. IoM, the label and the annotation id must then equal what the rule says.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mammo_annotator.core.iom import iom_matrix, label_regions
from mammo_annotator.core.regions import grid_boxes
from mammo_annotator.core.types import Box, Lesion, LesionClass, Polygon, Region, RegionLabel

H = W = 48


@st.composite
def staircase(draw) -> tuple[Polygon, np.ndarray]:
    """A simple polygon made of columns of cells (consecutive columns overlap), and its cell mask."""
    x0 = draw(st.integers(0, W - 2))
    n = draw(st.integers(1, min(12, W - x0)))
    bottoms, tops = [], []
    for c in range(n):
        if c == 0:
            b = draw(st.integers(0, H - 2))
            t = draw(st.integers(b + 1, min(H, b + 20)))
        else:  # overlap the previous column by at least one cell: one piece, no pinch point
            b = draw(st.integers(max(0, bottoms[-1] - 6), tops[-1] - 1))
            t = draw(st.integers(max(b, bottoms[-1]) + 1, min(H, max(b, bottoms[-1]) + 20)))
        bottoms.append(b)
        tops.append(t)
    pts = []
    for c in range(n):
        pts += [(x0 + c, bottoms[c]), (x0 + c + 1, bottoms[c])]
    for c in reversed(range(n)):
        pts += [(x0 + c + 1, tops[c]), (x0 + c, tops[c])]
    dedup = [p for i, p in enumerate(pts) if p != pts[i - 1]]
    mask = np.zeros((H, W), dtype=bool)
    for c in range(n):
        mask[bottoms[c]:tops[c], x0 + c] = True
    return Polygon.from_array(dedup), mask


def exact_iom(box, mask: np.ndarray) -> float:
    x0, y0, x1, y1 = (int(v) for v in box)
    inter = int(mask[y0:y1, x0:x1].sum())
    return inter / min((x1 - x0) * (y1 - y0), int(mask.sum()))


lesion_lists = st.lists(st.tuples(staircase(), st.sampled_from(list(LesionClass))), min_size=0, max_size=4)
grids = st.tuples(st.integers(2, 24), st.integers(1, 16)).map(lambda t: (t[0], min(t[0], t[1])))


@settings(max_examples=150, deadline=None)
@given(lesions=lesion_lists, grid=grids, alpha=st.sampled_from([0.1, 0.25, 0.5, 0.75, 1.0]))
def test_labels_equal_the_rasterised_rule(lesions, grid, alpha):
    size, stride = grid
    boxes = grid_boxes(H, W, size, stride)
    regions = [Region(i, Box(*map(int, b)), 1.0) for i, b in enumerate(boxes)]
    les = [Lesion(cls, poly, 100 + j) for j, ((poly, _), cls) in enumerate(lesions)]
    masks = [mask for (_, mask), _ in lesions]
    malignant = [j for j, (_, cls) in enumerate(lesions) if cls is LesionClass.MALIGNANT]

    full = iom_matrix(boxes, les)
    for j, mask in enumerate(masks):
        np.testing.assert_allclose(full[:, j], [exact_iom(b, mask) for b in boxes], rtol=0, atol=1e-12)

    out = label_regions(regions, les, alpha)
    assert [o.region_index for o in out] == list(range(len(regions)))
    for o, box in zip(out, boxes):
        ioms = [exact_iom(box, masks[j]) for j in malignant]
        best = max(ioms, default=0.0)
        assert o.iom == best
        want = RegionLabel.M if best >= alpha else RegionLabel.BN if best == 0 else RegionLabel.IGNORED
        assert o.label is want
        # the annotation with the largest IoM (the first of equals), none when no malignant one touches
        assert o.annotation_id == (100 + malignant[int(np.argmax(ioms))] if best > 0 else None)


@settings(max_examples=60, deadline=None)
@given(lesion=staircase(), grid=grids)
def test_benign_contours_never_change_labels(lesion, grid):
    size, stride = grid
    boxes = grid_boxes(H, W, size, stride)
    regions = [Region(i, Box(*map(int, b)), 1.0) for i, b in enumerate(boxes)]
    benign = Lesion(LesionClass.BENIGN, lesion[0], 9)
    assert label_regions(regions, [benign]) == label_regions(regions, [])
    assert {o.label for o in label_regions(regions, [benign])} == {RegionLabel.BN}


def test_second_lesion_wins_where_it_overlaps_more():
    """Two malignant contours: each region takes the IoM and the id of the one it overlaps most."""
    regions = [Region(0, Box(0, 0, 10, 10), 1.0), Region(1, Box(10, 0, 20, 10), 1.0), Region(2, Box(30, 30, 40, 40), 1.0)]
    a = Lesion(LesionClass.MALIGNANT, Polygon.from_array([[0, 0], [10, 0], [10, 10], [0, 10]]), 1)  # fills region 0
    b = Lesion(LesionClass.MALIGNANT, Polygon.from_array([[8, 0], [20, 0], [20, 10], [8, 10]]), 2)  # region 1, part of 0
    out = label_regions(regions, [a, b], alpha=0.5)
    assert [(o.label, o.annotation_id) for o in out] == [(RegionLabel.M, 1), (RegionLabel.M, 2), (RegionLabel.BN, None)]
    assert out[1].iom == 1.0
    out = label_regions(regions, [b, a], alpha=0.5)  # order does not matter for the winner
    assert [o.annotation_id for o in out] == [1, 2, None]
    # the IoM of region 0 with b alone: 20 of 100 px / min(100, 120) -> ignored at alpha 0.5, M at 0.2
    assert label_regions(regions, [b], alpha=0.5)[0].label is RegionLabel.IGNORED
    assert label_regions(regions, [b], alpha=0.2)[0].label is RegionLabel.M
    assert label_regions(regions, [b], alpha=0.2)[0].iom == 0.2


def test_degenerate_inputs():
    boxes = np.array([[0, 0, 10, 10], [10, 0, 20, 10]])
    flat = Lesion(LesionClass.MALIGNANT, Polygon.from_array([[2, 5], [18, 5], [10, 5]]), 1)  # zero area, inside both
    far = Lesion(LesionClass.MALIGNANT, Polygon.from_array([[30, 30], [40, 30], [40, 40]]), 2)
    near = Lesion(LesionClass.MALIGNANT, Polygon.from_array([[5, 0], [15, 0], [15, 10], [5, 10]]), 3)
    assert iom_matrix(boxes, [flat, far, near]).tolist() == [[0.0, 0.0, 0.5], [0.0, 0.0, 0.5]]
    assert iom_matrix(boxes[:1], [near]).tolist() == [[0.5]]  # a single box is a box like any other
    assert iom_matrix(boxes, []).shape == (2, 0) and iom_matrix(np.zeros((0, 4)), [far]).shape == (0, 1)
    regions = [Region(0, Box(0, 0, 10, 10), 1.0)]
    (only,) = label_regions(regions, [flat], alpha=0.5)
    assert (only.label, only.iom, only.annotation_id) == (RegionLabel.BN, 0.0, None)
    # a lesion touching the box only along an edge shares no area with it
    edge = Lesion(LesionClass.MALIGNANT, Polygon.from_array([[10, 0], [20, 0], [20, 10], [10, 10]]), 3)
    assert label_regions(regions, [edge])[0].label is RegionLabel.BN
