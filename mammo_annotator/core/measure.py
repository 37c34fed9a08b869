"""Measurements a reader quotes: a contour's area and longest diameter, a ruler's length.

In millimetres when the image's pixel spacing is known (DICOM Pixel Spacing: row spacing, the
vertical distance between rows, then column spacing), in pixels otherwise; the unit travels
with the number so a figure is never shown in the wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .types import Polygon


@dataclass(frozen=True)
class Measurement:
    area: float  # mm^2 or px^2
    diameter: float  # the longest distance between two points of the outline (mm or px)
    unit: str  # "mm" or "px"

    @property
    def area_text(self) -> str:
        return f"{self.area:.1f} mm²" if self.unit == "mm" else f"{self.area:.0f} px²"

    @property
    def diameter_text(self) -> str:
        return f"{self.diameter:.1f} mm" if self.unit == "mm" else f"{self.diameter:.0f} px"


def _scale(spacing: tuple[float, float] | None) -> tuple[np.ndarray, str]:
    """(x, y) size of one pixel and the unit."""
    if spacing and all(s and s > 0 for s in spacing):
        row, col = spacing
        return np.array([col, row], dtype=float), "mm"
    return np.array([1.0, 1.0]), "px"


def measure(polygon: Polygon, spacing: tuple[float, float] | None) -> Measurement:
    """Area and longest diameter of a contour (spacing = (row, column) in mm, or None)."""
    scale, unit = _scale(spacing)
    pts = polygon.as_array() * scale
    area = Polygon.from_array(pts).area
    diameter = 0.0
    if len(pts) >= 2:
        hull = _hull(pts)
        d = hull[:, None, :] - hull[None, :, :]
        diameter = float(np.sqrt((d**2).sum(-1)).max())
    return Measurement(float(area), diameter, unit)


def length(p0: tuple[float, float], p1: tuple[float, float], spacing: tuple[float, float] | None) -> tuple[float, str]:
    """The distance between two image points and its unit."""
    scale, unit = _scale(spacing)
    d = (np.asarray(p1, float) - np.asarray(p0, float)) * scale
    return float(np.hypot(*d)), unit


def _hull(pts: np.ndarray) -> np.ndarray:
    """Convex hull vertices (monotone chain): the longest diameter joins two of them."""
    p = np.unique(pts, axis=0)
    if len(p) < 3:
        return p
    p = p[np.lexsort((p[:, 1], p[:, 0]))]

    def half(points):
        out: list[np.ndarray] = []
        for q in points:
            while len(out) >= 2 and _cross(out[-1] - out[-2], q - out[-2]) <= 0:
                out.pop()
            out.append(q)
        return out

    lower, upper = half(p), half(p[::-1])
    return np.asarray(lower[:-1] + upper[:-1])


def _cross(a: np.ndarray, b: np.ndarray) -> float:
    return float(a[0] * b[1] - a[1] * b[0])
