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


def dense(corners, per_edge: int) -> np.ndarray:
    """The closed outline through ``corners`` with ``per_edge - 1`` extra points on each edge."""
    c = np.asarray(corners, dtype=float)
    s = (np.arange(per_edge) / per_edge)[:, None]
    return np.concatenate([a + (b - a) * s for a, b in zip(c, np.roll(c, -1, axis=0))])


def spikes(n_vertices: int) -> np.ndarray:
    """A star of ``n_vertices`` corners alternating between radii 1000 and 500: no corner lies
    within a quarter pixel of its neighbours' chord, so simplification keeps every one."""
    t = np.linspace(0, 2 * np.pi, n_vertices, endpoint=False)
    r = np.where(np.arange(n_vertices) % 2 == 0, 1000.0, 500.0)
    return np.stack([2000 + r * np.cos(t), 2000 + r * np.sin(t)], axis=1)


def rows_of(sub: np.ndarray, arr: np.ndarray) -> np.ndarray:
    """The row index in ``arr`` of each row of ``sub`` (-1 where it is none)."""
    where = {tuple(p): i for i, p in enumerate(arr)}
    return np.array([where.get(tuple(p), -1) for p in sub])


def test_reduce_vertices_drops_points_on_straight_edges_first():
    # 4000 points on the edges of a rectangle, 3000 on a triangle's: only the corners are needed
    assert reduce_vertices(dense([[10, 10], [60, 10], [60, 40], [10, 40]], 1000)).tolist() == [
        [10, 10], [60, 10], [60, 40], [10, 40]]
    assert reduce_vertices(dense([[10, 10], [60, 10], [30, 40]], 1000)).tolist() == [[10, 10], [60, 10], [30, 40]]
    # an outline at the limit is kept as drawn, one point over it is reduced
    pts = dense([[10, 10], [60, 10], [60, 40], [10, 40]], 10)
    assert reduce_vertices(pts, max_vertices=len(pts)) is pts
    assert len(reduce_vertices(pts, max_vertices=len(pts) - 1)) == 4


def test_reduce_vertices_thins_evenly_what_simplification_leaves_too_long():
    star = spikes(4000)
    out = reduce_vertices(star)  # nothing to simplify: every second corner
    np.testing.assert_array_equal(out, star[::2])
    # 3000 corners with a midpoint on every edge: the midpoints go first, then the corners are thinned
    corners = spikes(3000)
    with_mid = dense(corners, 2)
    out = reduce_vertices(with_mid)
    idx = rows_of(out, corners)
    assert len(out) == MAX_VERTICES and (idx >= 0).all() and (np.diff(idx) > 0).all()
    assert np.diff(idx).max() <= 2  # evenly spread over the outline, not one end of it


def test_reduce_vertices_of_an_outline_smaller_than_the_tolerance_thins_the_drawn_points():
    # a 3000-point circle of radius 0.1 px collapses under a quarter-pixel simplification: the
    # drawn points are thinned instead (check_contour then refuses the area plainly)
    t = np.linspace(0, 2 * np.pi, 3000, endpoint=False)
    tiny = np.stack([5 + 0.1 * np.cos(t), 5 + 0.1 * np.sin(t)], axis=1)
    out = reduce_vertices(tiny)
    idx = rows_of(out, tiny)
    assert len(out) == MAX_VERTICES and (idx >= 0).all() and (np.diff(idx) > 0).all() and idx[0] == 0
    with pytest.raises(InvalidContourError, match="less than 4 px"):
        check_contour(tiny, 100, 100)


def brute_crossings(pts: np.ndarray) -> int:
    n = len(pts)
    edges = [shapely.LineString([pts[k], pts[(k + 1) % n]]) for k in range(n)]
    return sum(edges[i].intersects(edges[j]) for i in range(n) for j in range(i + 2, n) if not (i == 0 and j == n - 1))


def test_crossing_count_over_several_batches_matches_brute_force():
    rng = np.random.default_rng(5)
    for n in (65, 150):  # more edges than one query batch of 64
        pts = rng.random((n, 2)) * 100
        assert count_crossings(pts, cap=10**6) == brute_crossings(pts)


def test_crossing_count_exceeds_the_cap_exactly_when_the_outline_does():
    """What check_contour relies on: count > cap iff the true count > cap, for every cap and batch size."""
    pts = np.random.default_rng(2).random((25, 2)) * 100
    total = brute_crossings(pts)
    assert total > 20
    for batch in (1, 3, 64):
        for cap in range(total + 2):
            got = count_crossings(pts, cap=cap, batch=batch)
            assert (got > cap) == (total > cap), (batch, cap, got)
            if total <= cap:
                assert got == total
