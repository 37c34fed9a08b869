"""The sliding-window region grid of method section 2."""

from __future__ import annotations

import numpy as np

from .types import Box, GridSpec, Region


def _starts(length: int, size: int, stride: int) -> list[int]:
    """Window origins along one axis; a last window flush with the border covers the remainder."""
    if length < size:
        return []
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts


def inside_fractions(mask: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Fraction of each box (N x 4: x0, y0, x1, y1) that lies inside ``mask``, via an integral image.

    Only the integral's rows and columns at box edges are kept, filled in one pass of running
    column sums: memory grows with the number of grid lines, not with the image (a full int32
    integral of a 12,000 x 12,000 image alone is 576 MB).
    """
    if len(boxes) == 0:
        return np.zeros(0)
    boxes = np.asarray(boxes, dtype=np.int64)
    x0, y0, x1, y1 = (boxes[:, i] for i in range(4))
    rows = np.unique(np.concatenate([y0, y1]))
    cols = np.unique(np.concatenate([x0, x1]))
    table = np.zeros((len(rows), len(cols)), dtype=np.int64)  # table[i, j] = mask[:rows[i], :cols[j]].sum()
    column_sums = np.zeros(mask.shape[1], dtype=np.int64)
    done = 0
    for i, r in enumerate(rows):
        if r > done:
            column_sums += np.count_nonzero(mask[done:r], axis=0)
            done = int(r)
        prefix = np.concatenate([[0], np.cumsum(column_sums)])
        table[i] = prefix[cols]
    iy0, iy1 = np.searchsorted(rows, y0), np.searchsorted(rows, y1)
    ix0, ix1 = np.searchsorted(cols, x0), np.searchsorted(cols, x1)
    inside = table[iy1, ix1] - table[iy0, ix1] - table[iy1, ix0] + table[iy0, ix0]
    area = (x1 - x0) * (y1 - y0)
    return inside / np.maximum(area, 1)


def grid_boxes(height: int, width: int, size: int, stride: int) -> np.ndarray:
    """All window boxes of the grid as an (N, 4) int array, row-major order."""
    ys = _starts(height, size, stride)
    xs = _starts(width, size, stride)
    boxes = [(x, y, x + size, y + size) for y in ys for x in xs]
    return np.asarray(boxes, dtype=np.int64).reshape(-1, 4)


def region_grid(mask: np.ndarray, spec: GridSpec = GridSpec(), pixel_spacing_mm: float | None = None) -> list[Region]:
    """Windows kept when at least ``spec.min_inside`` of their area lies in the breast mask."""
    size, stride = spec.resolve(pixel_spacing_mm)
    boxes = grid_boxes(mask.shape[0], mask.shape[1], size, stride)
    fractions = inside_fractions(mask, boxes)
    keep = np.flatnonzero(fractions >= spec.min_inside)
    return [
        Region(index=i, box=Box(*map(int, boxes[k])), inside_fraction=float(fractions[k]))
        for i, k in enumerate(keep)
    ]


def boxes_array(regions: list[Region]) -> np.ndarray:
    """(N, 4) array of x0, y0, x1, y1 for a region list."""
    return np.asarray([(r.box.x0, r.box.y0, r.box.x1, r.box.y1) for r in regions], dtype=np.int64).reshape(-1, 4)
