"""check_contour's repairs and refusals, one case each, and the rasteriser against a pixel count."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import LineString as shapely_line
from shapely.geometry import Point as shapely_point
from shapely.geometry import Polygon as ShapelyPolygon

from mammo_annotator.core.contours import check_contour, circle_polygon, from_shapely, rasterize, to_shapely
from mammo_annotator.core.errors import InvalidContourError
from mammo_annotator.core.types import Polygon


def signed_area(points) -> float:
    a = np.asarray(points, dtype=float)
    x, y = a[:, 0], a[:, 1]
    return float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2


def test_closing_point_and_double_clicks_are_dropped_in_order():
    pts = [[10, 10], [10, 10], [50, 10], [50, 40], [50, 40], [10, 40], [10, 10]]
    checked = check_contour(pts, 100, 100)
    assert checked.repairs == ()
    out = checked.polygon.points
    assert len(out) == 4 and set(out) == {(10, 10), (50, 10), (50, 40), (10, 40)}
    assert checked.polygon.area == pytest.approx(1200)
    # a Polygon is accepted as well as a point list, with the same result
    assert check_contour(Polygon.from_array(pts[:-1]), 100, 100).polygon == checked.polygon


def test_orientation_is_counter_clockwise_in_image_coordinates_whatever_the_input():
    cw = [[10, 10], [10, 40], [50, 40], [50, 10]]
    for pts in (cw, cw[::-1]):
        out = check_contour(pts, 100, 100).polygon.points
        assert signed_area(out) > 0  # shapely's sign=1.0 orientation, one convention stored


def test_a_self_touching_outline_is_repaired_when_one_piece_is_left():
    # a square with a spike going out and back on the same line: invalid, one area piece
    pts = [[10, 10], [50, 10], [50, 30], [80, 30], [50, 30], [50, 50], [10, 50]]
    checked = check_contour(pts, 100, 100)
    assert checked.repairs == ("self-intersection removed",)
    assert checked.polygon.area == pytest.approx(1600) and checked.polygon.bounds == (10, 10, 50, 50)


def test_two_piece_outline_and_pieces_after_clipping_are_refused():
    with pytest.raises(InvalidContourError, match="splits into 2 pieces"):
        check_contour([[0, 0], [10, 10], [10, 0], [0, 10]], 100, 100)
    # a U whose base lies outside the image: the two arms inside are separate pieces
    u = [[10, 90], [10, 120], [60, 120], [60, 90], [50, 90], [50, 110], [20, 110], [20, 90]]
    with pytest.raises(InvalidContourError, match="several pieces"):
        check_contour(u, 100, 100)


def test_clipping_and_the_minimum_area():
    checked = check_contour([[-20, -20], [30, -20], [30, 30], [-20, 30]], 100, 100)
    assert checked.repairs == ("clipped to the image border",)
    assert checked.polygon.bounds == (0, 0, 30, 30) and checked.polygon.area == pytest.approx(900)
    check_contour([[0, 0], [2, 0], [2, 2], [0, 2]], 100, 100)  # 4 px^2 is enough
    with pytest.raises(InvalidContourError, match="encloses 3.0 px"):
        check_contour([[0, 0], [3, 0], [3, 1], [0, 1]], 100, 100)
    with pytest.raises(InvalidContourError, match="less than 10"):
        check_contour([[0, 0], [3, 0], [3, 3], [0, 3]], 100, 100, min_area=10)
    # the area that counts is the one inside the image
    with pytest.raises(InvalidContourError, match="encloses"):
        check_contour([[99, 0], [150, 0], [150, 3], [99, 3]], 100, 100)
    with pytest.raises(InvalidContourError, match="entirely outside"):
        check_contour([[100, 0], [150, 0], [150, 30], [100, 30]], 100, 100)  # touching the border is outside


def test_only_finite_points_and_three_distinct_ones():
    for bad in ([[0, 0], [np.inf, 10], [10, 0]], [[0, 0], [5, np.nan], [10, 0]]):
        with pytest.raises(InvalidContourError, match="non-finite"):
            check_contour(bad, 100, 100)
    with pytest.raises(InvalidContourError, match="got 2"):
        check_contour([[1, 1], [5, 5], [1, 1]], 100, 100)  # closing point removed: 2 left
    with pytest.raises(InvalidContourError, match="got 0"):
        check_contour([], 100, 100)
    with pytest.raises(InvalidContourError, match="zero area"):
        check_contour([[0, 0], [10, 0], [20, 0], [5, 0]], 100, 100)


def test_shapely_round_trip_drops_the_closing_point():
    poly = Polygon.from_array([[0, 0], [4, 0], [4, 3]])
    geom = to_shapely(poly)
    assert geom.area == pytest.approx(6) and len(geom.exterior.coords) == 4
    assert from_shapely(geom) == poly


def test_circle_polygon():
    c = circle_polygon(50, 40, 10, n=8)
    pts = c.as_array()
    assert len(pts) == 8 and tuple(pts[0]) == (60, 40)
    np.testing.assert_allclose(np.hypot(pts[:, 0] - 50, pts[:, 1] - 40), 10)
    assert circle_polygon(0, 0, 5).as_array().shape == (64, 2)
    assert circle_polygon(0, 0, 1, n=1000).area == pytest.approx(np.pi, rel=1e-4)


def test_rasterize_counts_pixel_centres_and_clips():
    tri = Polygon.from_array([[0, 0], [10.2, 0], [0, 10.2]])  # no pixel centre on the hypotenuse
    mask = rasterize(tri, 20, 20)
    yy, xx = np.mgrid[0:20, 0:20]
    assert np.array_equal(mask, (xx + 0.5) + (yy + 0.5) < 10.2)  # the pixels whose centre is inside
    off = rasterize(Polygon.from_array([[15, 15], [30, 15], [30, 30], [15, 30]]), 20, 20)
    assert off.sum() == 25 and off[15:, 15:].all()  # clipped to the image, no wrap-around
    assert not rasterize(Polygon.from_array([[30, 30], [40, 30], [40, 40]]), 20, 20).any()
    assert not rasterize(Polygon.from_array([[-30, -30], [-20, -30], [-20, -20]]), 20, 20).any()
    tall = rasterize(Polygon.from_array([[2, 1], [5, 1], [5, 18], [2, 18]]), 20, 10)
    assert tall.shape == (20, 10) and tall.sum() == 3 * 17


def star(n: int, q: int, r: float = 40.0, c: float = 50.0) -> np.ndarray:
    """The regular star polygon {n/q}: one outline whose edges cross n (q - 1) times."""
    t = 2 * np.pi * (np.arange(n) * q % n) / n
    return np.stack([c + r * np.cos(t), c + r * np.sin(t)], axis=1)


def test_messages_are_exact():
    cases = [
        ([[0, 0], [np.nan, 1], [1, 0]], r"the contour has non-finite coordinates"),
        ([[1, 1]], r"a contour needs at least 3 distinct points, got 1"),
        ([[0, 0], [10, 0], [20, 0]], r"the contour has zero area \(all points on a line\)"),
        ([[0, 0], [1, 0], [0, 1]], r"the contour encloses 0\.5 px\^2, less than 4 px\^2"),
        ([[200, 200], [210, 200], [210, 210]], r"the contour lies entirely outside the image"),
        ([[10, 90], [10, 120], [60, 120], [60, 90], [50, 90], [50, 110], [20, 110], [20, 90]],
         r"the part of the contour inside the image falls into several pieces"),
    ]
    for pts, message in cases:
        with pytest.raises(InvalidContourError, match=f"^{message}$"):
            check_contour(pts, 100, 100)


def test_a_sliver_piece_still_counts_as_a_piece():
    # the right arm inside the image is 0.05 px wide (0.5 px^2): still a second piece
    u = [[10, 90], [10, 120], [50.05, 120], [50.05, 90], [50, 90], [50, 110], [20, 110], [20, 90]]
    with pytest.raises(InvalidContourError, match="several pieces"):
        check_contour(u, 100, 100)
    # a bowtie whose second lobe is tiny (0.25 px^2 next to 4.75 px^2): two pieces as well
    with pytest.raises(InvalidContourError, match="^the contour crosses itself and splits into 2 pieces"):
        check_contour([[0, 0], [10, 10], [1, 0], [0, 1]], 100, 100)


def test_a_hole_is_filled():
    # the outline runs in to trace a diamond and back out through the same point: a hole
    pts = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 5], [3, 5], [5, 7], [7, 5], [5, 3], [3, 5], [0, 5]]
    checked = check_contour(pts, 100, 100)
    assert checked.repairs == ("self-intersection removed", "holes filled")
    assert checked.polygon.area == pytest.approx(100) and checked.polygon.bounds == (0, 0, 10, 10)


def test_long_outlines_are_simplified_and_short_ones_kept():
    from mammo_annotator.core.contours import MAX_VERTICES

    t = np.linspace(0, 2 * np.pi, 5000, endpoint=False)
    dense = np.stack([50 + 30 * np.cos(t), 50 + 30 * np.sin(t)], axis=1)
    checked = check_contour(dense, 100, 100)
    (repair,) = checked.repairs
    n = len(checked.polygon.points)
    assert repair == f"simplified from 5000 to {n} points" and 3 <= n <= MAX_VERTICES
    assert checked.polygon.area == pytest.approx(np.pi * 900, rel=1e-2)
    t = np.linspace(0, 2 * np.pi, MAX_VERTICES, endpoint=False)
    exact = np.stack([50 + 30 * np.cos(t), 50 + 30 * np.sin(t)], axis=1)
    assert check_contour(exact, 100, 100).repairs == ()  # exactly the limit: kept as drawn


def test_crossing_counts_and_the_crossing_limit():
    from mammo_annotator.core.contours import MAX_CROSSINGS, count_crossings

    assert count_crossings(np.array([[0, 0], [10, 0], [10, 10], [0, 10.0]])) == 0
    assert count_crossings(np.array([[0, 0], [10, 10], [10, 0], [0, 10.0]])) == 1
    assert count_crossings(star(5, 2)) == 5 and count_crossings(star(7, 3)) == 14
    assert MAX_CROSSINGS == 64 and count_crossings(star(32, 3)) == 64
    with pytest.raises(InvalidContourError, match=r"^the contour crosses itself more than 64 times; it is not one outline \(redraw it\)$"):
        check_contour(star(65, 2), 100, 100)
    with pytest.raises(InvalidContourError, match="splits into"):  # 64 crossings: make_valid decides
        check_contour(star(32, 3), 100, 100)
    assert count_crossings(star(65, 2), cap=10) <= 10 + 64  # the search stops soon after the cap


def test_circle_polygon_runs_counter_clockwise():
    assert signed_area(circle_polygon(0, 0, 5, n=16).as_array()) > 0


EIGHT = np.array([[0, 0], [100, 100], [100, 0], [0, 100.0]])  # two triangular lobes of 2500 px^2 meeting at (50, 50)


def test_a_figure_of_eight_with_a_spike_is_refused_as_two_pieces():
    # make_valid nests the lobes in a multipolygon inside a collection with the spike's line;
    # the reason must still be the two pieces, not "zero area"
    for pts in ([[0, 0], [100, 100], [100, 0], [120, 0], [100, 0], [0, 100]],
                [[0, 0], [10, 0], [10, 4], [50, 4], [50, 0], [60, 0], [60, 10], [50, 10], [50, 4], [10, 4], [10, 10], [0, 10]]):
        with pytest.raises(InvalidContourError, match="^the contour crosses itself and splits into 2 pieces"):
            check_contour(pts, 200, 200)


def test_an_outline_that_returns_through_its_start_keeps_its_outer_area():
    # the outline goes round the square, back through (0, 0) round an inner square: one polygon
    # with a hole after the repair, the hole then filled
    pts = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0], [3, 3], [3, 6], [6, 6], [6, 3]]
    checked = check_contour(pts, 100, 100)
    assert checked.repairs == ("self-intersection removed", "holes filled")
    assert checked.polygon.area == pytest.approx(100) and checked.polygon.bounds == (0, 0, 10, 10)


def test_rasterize_gives_a_boolean_mask_and_handles_one_sided_misses():
    img = np.arange(100).reshape(10, 10)
    mask = rasterize(Polygon.from_array([[2, 3], [6, 3], [6, 8], [2, 8]]), 10, 10)
    assert mask.dtype == bool
    np.testing.assert_array_equal(img[mask], img[3:8, 2:6].ravel())  # usable as an index: the pixels inside
    # left of the image but level with it, above it but within its columns: nothing, no error
    assert not rasterize(Polygon.from_array([[-30, 5], [-20, 5], [-20, 10]]), 20, 20).any()
    assert not rasterize(Polygon.from_array([[5, -30], [10, -30], [10, -20]]), 20, 20).any()


def _lobes(pts):
    import shapely

    return shapely.unary_union(list(shapely.make_valid(ShapelyPolygon(pts)).geoms))


def test_outer_outline_leaves_what_it_cannot_or_need_not_repair():
    from mammo_annotator.core.contours import outer_outline

    square = [[10, 10], [50, 10], [50, 40], [10, 40]]
    for pts in (square, [[0, 0], [5, 5]], [[0, 0], [np.nan, 5], [5, 0], [0, 5]], [[0, 0], [10, 0], [20, 0], [5, 0]]):
        out, changed = outer_outline(pts)  # valid, too few points, non-finite, all on a line
        assert changed is False and out.dtype == float
        np.testing.assert_array_equal(out, np.asarray(pts, dtype=float))


def test_outer_outline_of_a_figure_of_eight_is_both_lobes_joined_at_the_crossing():
    from mammo_annotator.core.contours import outer_outline

    lobes = _lobes(EIGHT)
    out, changed = outer_outline(EIGHT)
    geom = ShapelyPolygon(out)
    assert changed and geom.is_valid and not np.array_equal(out[0], out[-1])  # no repeated closing point
    # the two lobes (5000 px^2) and a small bridge at the crossing, not their convex hull (10000 px^2)
    assert 5000 <= geom.area <= 5000 * 1.02 and lobes.difference(geom).area < 1.0
    assert geom.contains(shapely_point(10, 50)) and geom.contains(shapely_point(90, 50))
    assert not geom.contains(shapely_point(50, 10)) and not geom.contains(shapely_point(50, 90))
    # the bridge is a visible neck, about 1 % of the drawing's size wide, whatever its scale ...
    for k in (1, 10):
        o, _ = outer_outline(EIGHT * k)
        neck = ShapelyPolygon(o).intersection(shapely_line([(50 * k, 0), (50 * k, 100 * k)])).length
        assert 0.005 * np.hypot(100, 100) * k <= neck <= 0.02 * np.hypot(100, 100) * k
    # ... and wherever it is drawn: the outline moves with the drawing
    moved, _ = outer_outline(EIGHT + [1000, 2000])
    assert ShapelyPolygon(moved).symmetric_difference(ShapelyPolygon(out + [1000, 2000])).area < 1e-6
    # a spike drawn past a corner changes nothing inside the lobes
    spiked, changed = outer_outline([[0, 0], [100, 100], [100, 0], [120, 0], [100, 0], [0, 100]])
    assert changed and lobes.difference(ShapelyPolygon(spiked)).area < 1.0 and ShapelyPolygon(spiked).area <= 5000 * 1.02
    assert check_contour(spiked, 200, 200).repairs == ()


def test_outer_outline_keeps_a_tiny_lobe_and_repairs_up_to_the_crossing_limit():
    from mammo_annotator.core.contours import MAX_CROSSINGS, count_crossings, outer_outline

    tiny = [[0, 0], [10, 10], [1, 0], [0, 1]]  # a lobe of 0.25 px^2 next to one of 4.75 px^2
    out, changed = outer_outline(tiny)
    assert changed and ShapelyPolygon(out).contains(shapely_point(0.3, 0.3))
    assert ShapelyPolygon(out).contains(shapely_point(5, 4.5))
    pts = star(32, 3)
    assert count_crossings(pts) == MAX_CROSSINGS  # exactly the limit: still repaired
    out, changed = outer_outline(pts)
    assert changed and _lobes(pts).difference(ShapelyPolygon(out)).area < 1.0


def test_outer_outline_of_pieces_far_apart_is_their_convex_hull():
    from mammo_annotator.core.contours import outer_outline

    # two squares joined by a line drawn out and back: closing the 40 px gap would take a large
    # radius, so both squares go into one convex outline
    dumbbell = [[0, 0], [10, 0], [10, 4], [50, 4], [50, 0], [60, 0], [60, 10], [50, 10], [50, 4], [10, 4], [10, 10], [0, 10]]
    out, changed = outer_outline(dumbbell)
    assert changed and ShapelyPolygon(out).area == pytest.approx(600)
    assert set(map(tuple, out)) == {(0, 0), (60, 0), (60, 10), (0, 10)}
