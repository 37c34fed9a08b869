"""Contour repair stays bounded: very many points are simplified, a scribble is refused."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon as ShapelyPolygon

from mammo_annotator.core.contours import MAX_CROSSINGS, MAX_VERTICES, check_contour, count_crossings, reduce_vertices
from mammo_annotator.core.errors import InvalidContourError


def wiggly_outline(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = 500 + 20 * np.sin(40 * t) + rng.normal(0, 0.05, n)
    return np.stack([1500 + r * np.cos(t), 2000 + r * np.sin(t)], axis=1)


@pytest.mark.timeout(30)
def test_dense_outline_of_50000_points_is_simplified():
    pts = wiggly_outline(50_000)
    checked = check_contour(pts, 3328, 4084)
    assert len(checked.polygon.as_array()) <= MAX_VERTICES
    assert checked.repairs[0].startswith("simplified from 50000 to")
    assert checked.polygon.area == pytest.approx(ShapelyPolygon(pts).area, rel=1e-3)


@pytest.mark.timeout(30)
def test_random_roi_of_50000_points_is_refused():
    pts = np.random.default_rng(0).random((50_000, 2)) * [3000, 4000]
    with pytest.raises(InvalidContourError, match=f"crosses itself more than {MAX_CROSSINGS} times"):
        check_contour(pts, 3328, 4084)


def test_a_few_crossings_are_still_repaired():
    bow = [[0, 0], [100, 0], [100, 100], [60, 100], [60, -10], [40, -10], [40, 100], [0, 100]]
    assert 0 < count_crossings(np.asarray(bow, float)) <= MAX_CROSSINGS
    with pytest.raises(InvalidContourError, match="splits into"):
        check_contour(bow, 200, 200)  # the existing rule for a crossing that splits the outline


def test_crossing_count_matches_brute_force():
    rng = np.random.default_rng(3)
    for n in (4, 7, 12, 30):
        pts = rng.random((n, 2)) * 100
        edges = [shapely.LineString([pts[k], pts[(k + 1) % n]]) for k in range(n)]
        want = sum(edges[i].intersects(edges[j]) for i in range(n) for j in range(i + 2, n) if not (i == 0 and j == n - 1))
        assert count_crossings(pts, cap=10**6) == want


def test_reduce_vertices_keeps_short_outlines():
    pts = wiggly_outline(100)
    assert reduce_vertices(pts) is pts
    assert len(reduce_vertices(np.random.default_rng(0).random((9000, 2)))) == MAX_VERTICES


@pytest.mark.timeout(30)
def test_drawing_repair_is_bounded_too():
    """The drawing tools' repair (outer_outline) on a 50,000-point scribble: left as drawn, then refused."""
    from mammo_annotator.core.contours import outer_outline

    scribble = np.random.default_rng(1).random((50_000, 2)) * [3000, 4000]
    points, repaired = outer_outline(scribble)
    assert not repaired and len(points) == 50_000
    with pytest.raises(InvalidContourError, match="crosses itself"):
        check_contour(points, 3328, 4084)
    eight = [[0, 0], [100, 100], [100, 0], [0, 100]]  # one crossing: still repaired to its outer outline
    points, repaired = outer_outline(eight)
    assert repaired and check_contour(points, 200, 200).polygon.area > 0
