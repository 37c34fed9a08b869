"""Turn a drawn or imported contour into a polygon that is safe to store, or refuse it plainly.

Repair is bounded in time and memory whatever the input: an outline of more than
``MAX_VERTICES`` points is simplified first (Douglas-Peucker at a quarter pixel, then even
thinning), and a self-crossing outline is repaired only when it crosses itself at most
``MAX_CROSSINGS`` times. Without these bounds one hostile INbreast ROI of 50,000 random points
kept ``make_valid`` busy for minutes and 12.8 GB (its crossings grow with the square of its
points).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Polygon as ShapelyPolygon
from shapely.geometry import box as shapely_box

from .errors import InvalidContourError
from .types import Polygon

MAX_VERTICES = 2000  # real outlines: tens to hundreds of points (INbreast), a long freehand stroke ~1000
MAX_CROSSINGS = 64  # a figure of eight has 1; a scribble that crosses itself more is not one outline
SIMPLIFY_TOLERANCE_PX = 0.25
MAX_COORDINATE = 1e7  # px; no image is that large, and a contour clipped to one still lies near it


@dataclass(frozen=True)
class CheckedContour:
    """A storable polygon and what, if anything, was repaired on the way."""

    polygon: Polygon
    repairs: tuple[str, ...]


def to_shapely(polygon: Polygon) -> ShapelyPolygon:
    return ShapelyPolygon(polygon.as_array())


def from_shapely(geom: ShapelyPolygon) -> Polygon:
    coords = np.asarray(geom.exterior.coords)[:-1]  # drop the repeated closing point
    return Polygon.from_array(coords)


def area_pieces(geom) -> list[ShapelyPolygon]:
    """The polygons of positive area in ``geom``, nested collections flattened: ``make_valid``
    of a figure of eight with a spike is a collection holding a multipolygon and a line."""
    if isinstance(geom, ShapelyPolygon):
        return [geom] if geom.area > 0 else []
    return [p for part in getattr(geom, "geoms", ()) for p in area_pieces(part)]


def reduce_vertices(arr: np.ndarray, max_vertices: int = MAX_VERTICES) -> np.ndarray:
    """At most ``max_vertices`` points of a closed outline: Douglas-Peucker at a quarter pixel
    (invisible on screen), then, if still too many, every k-th point; O(n log n)."""
    if len(arr) <= max_vertices:
        return arr
    ring = shapely.linearrings(np.vstack([arr, arr[:1]]))
    simple = np.asarray(shapely.get_coordinates(shapely.simplify(ring, SIMPLIFY_TOLERANCE_PX, preserve_topology=False)))[:-1]
    if 3 <= len(simple) <= max_vertices:
        return simple
    source = simple if len(simple) >= 3 else arr
    return source[np.linspace(0, len(source), max_vertices, endpoint=False).astype(int)]


def count_crossings(arr: np.ndarray, cap: int = MAX_CROSSINGS, batch: int = 64) -> int:
    """Pairs of non-adjacent edges of the closed outline that touch or cross, counted up to
    just over ``cap`` (the search stops there, so its cost is bounded too)."""
    n = len(arr)
    edges = shapely.linestrings(np.stack([arr, np.roll(arr, -1, axis=0)], axis=1))
    tree = shapely.STRtree(edges)
    found = 0
    for start in range(0, n, batch):
        i, j = tree.query(edges[start:start + batch], predicate="intersects")
        i = i + start
        found += int(np.count_nonzero((i < j) & (j - i != 1) & ~((i == 0) & (j == n - 1))))
        if found > cap:
            break
    return found


def check_contour(points: Polygon | np.ndarray | list, width: int, height: int, min_area: float = 4.0) -> CheckedContour:
    """Validate a contour against an image of ``width`` x ``height`` pixels.

    Repairs what has one obvious fix (repeated points, a part outside the image is clipped, a
    self-touching outline is made valid when that leaves one piece) and rejects the rest with
    the reason, so nothing is silently stored wrong.
    """
    arr = points.as_array() if isinstance(points, Polygon) else np.asarray(points, dtype=float).reshape(-1, 2)
    if not np.all(np.isfinite(arr)):
        raise InvalidContourError("the contour has non-finite coordinates")
    if len(arr) and np.abs(arr).max() > MAX_COORDINATE:  # shapely's area and clipping break down near 1e308
        raise InvalidContourError(f"the contour has coordinates beyond {MAX_COORDINATE:,.0f} px; not pixels of an image")
    # drop consecutive duplicates (double clicks) and an explicit closing point
    if len(arr):
        keep = np.ones(len(arr), dtype=bool)
        keep[1:] = np.any(arr[1:] != arr[:-1], axis=1)  # compared, not subtracted: 1e308 - -1e308 overflows
        arr = arr[keep]
        if len(arr) > 1 and np.all(arr[0] == arr[-1]):
            arr = arr[:-1]
    if len(arr) < 3:
        raise InvalidContourError(f"a contour needs at least 3 distinct points, got {len(arr)}")
    repairs: list[str] = []
    if len(arr) > MAX_VERTICES:
        n_before, arr = len(arr), reduce_vertices(arr)
        repairs.append(f"simplified from {n_before} to {len(arr)} points")
    geom = ShapelyPolygon(arr)
    if not geom.is_valid:
        if count_crossings(arr) > MAX_CROSSINGS:
            raise InvalidContourError(f"the contour crosses itself more than {MAX_CROSSINGS} times; "
                                      "it is not one outline (redraw it)")
        pieces = area_pieces(shapely.make_valid(geom))
        if not pieces:
            raise InvalidContourError("the contour has zero area (all points on a line)")
        if len(pieces) != 1:
            raise InvalidContourError(
                f"the contour crosses itself and splits into {len(pieces)} pieces; redraw it as one outline"
            )
        geom = pieces[0]
        repairs.append("self-intersection removed")
    if geom.area <= 0:
        raise InvalidContourError("the contour has zero area (all points on a line)")
    image = shapely_box(0, 0, width, height)
    if not image.contains(geom):
        pieces = area_pieces(geom.intersection(image))
        if not pieces:
            raise InvalidContourError("the contour lies entirely outside the image")
        if len(pieces) != 1:
            raise InvalidContourError("the part of the contour inside the image falls into several pieces")
        geom = pieces[0]
        repairs.append("clipped to the image border")
    if geom.area < min_area:
        raise InvalidContourError(f"the contour encloses {geom.area:.1f} px^2, less than {min_area:g} px^2")
    if geom.interiors:
        geom = ShapelyPolygon(geom.exterior)
        repairs.append("holes filled")
    geom = shapely.geometry.polygon.orient(geom, sign=1.0)
    return CheckedContour(from_shapely(geom), tuple(repairs))


def circle_polygon(cx: float, cy: float, radius: float, n: int = 64) -> Polygon:
    """A regular n-gon approximating a circle (dataset adapters store lesion circles this way)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return Polygon.from_array(np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t)], axis=1))


def rasterize(polygon: Polygon, height: int, width: int) -> np.ndarray:
    """Boolean mask of the pixels whose centres lie inside the polygon."""
    from matplotlib.path import Path  # local: only masks need it

    x0, y0, x1, y1 = polygon.bounds
    c0, r0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    c1, r1 = min(width, int(np.ceil(x1)) + 1), min(height, int(np.ceil(y1)) + 1)
    mask = np.zeros((height, width), dtype=bool)
    if c1 <= c0 or r1 <= r0:
        return mask
    yy, xx = np.mgrid[r0:r1, c0:c1]
    centres = np.stack([xx.ravel() + 0.5, yy.ravel() + 0.5], axis=1)
    inside = Path(polygon.as_array()).contains_points(centres)
    mask[r0:r1, c0:c1] = inside.reshape(r1 - r0, c1 - c0)
    return mask


def outer_outline(points: np.ndarray | list) -> tuple[np.ndarray, bool]:
    """A drawn outline that crosses itself, turned into its outer outline (both lobes of a
    figure of eight, holes filled); returns (points, whether it was changed).

    ``check_contour`` refuses a self-crossing that falls apart into pieces, because for an
    imported contour the intent is unknown; a reader drawing a lesion means the area inside
    the stroke, so the drawing tools repair it here before saving.
    """
    arr = np.asarray(points, dtype=float).reshape(-1, 2)
    if len(arr) < 3 or not np.all(np.isfinite(arr)):
        return arr, False
    geom = ShapelyPolygon(arr)
    if geom.is_valid:
        return arr, False
    # the same bounds as check_contour: a scribble crossing itself very often is left as drawn
    # (check_contour then refuses it plainly) instead of a make_valid that grows with its square
    small = reduce_vertices(arr)
    if count_crossings(small) > MAX_CROSSINGS:
        return arr, False
    pieces = area_pieces(shapely.make_valid(ShapelyPolygon(small)))
    if not pieces:
        return arr, False
    merged = shapely.unary_union(pieces)
    if not isinstance(merged, ShapelyPolygon):  # lobes that touch at the crossing: close the gap
        x0, y0, x1, y1 = merged.bounds
        r = 0.01 * float(np.hypot(x1 - x0, y1 - y0)) or 0.5
        merged = merged.buffer(r).buffer(-r).simplify(r / 2)
    if not isinstance(merged, ShapelyPolygon) or merged.is_empty:
        merged = shapely.MultiPoint(arr).convex_hull
    out = np.asarray(ShapelyPolygon(merged.exterior).exterior.coords)[:-1]
    return out, True
