"""Bilateral comparison: each window against the position-matched window of the other breast.

Radiologists read both breasts side by side; asymmetry is a primary sign. Registration is
deliberately coarse: each breast is described by the bounding box of its grid windows (the
windows lie inside the breast mask), the chest wall is the side of that box nearer the image
border, and a window's position is (distance from the chest wall, height) normalised by the
box. Measuring depth from the chest wall is the mirroring; the nearest window of the
contralateral image in these coordinates is the match. Features become [f, f - f_contra];
images without a contralateral partner get f - f_contra = 0 and a 0 in the last column.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .dataset import RegionDataset


def breast_extent(boxes: np.ndarray) -> np.ndarray:
    """(x0, y0, x1, y1) of the union of an image's window boxes."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])


def chest_wall_left(extent: np.ndarray, width: float) -> bool:
    """True when the chest wall is on the left: the breast box touches (or is nearer) x = 0."""
    return extent[0] <= width - extent[2]


def normalised_positions(boxes: np.ndarray, width: float) -> np.ndarray:
    """(m, 2): window centre depth from the chest wall and height, both in [0, 1] of the breast box."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    ext = breast_extent(b)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    bw, bh = max(ext[2] - ext[0], 1.0), max(ext[3] - ext[1], 1.0)
    depth = (cx - ext[0]) / bw if chest_wall_left(ext, width) else (ext[2] - cx) / bw
    return np.stack([depth, (cy - ext[1]) / bh], axis=1)


def match_windows(boxes_a: np.ndarray, width_a: float, boxes_b: np.ndarray, width_b: float) -> np.ndarray:
    """For each window of image a, the index of the position-matched window of image b."""
    pa, pb = normalised_positions(boxes_a, width_a), normalised_positions(boxes_b, width_b)
    d = ((pa[:, None, :] - pb[None, :, :]) ** 2).sum(-1)
    return d.argmin(axis=1)


def contralateral_index(ds: RegionDataset) -> np.ndarray:
    """(n,) index of the same patient's other breast in the same view, -1 when absent."""
    out = np.full(len(ds), -1, dtype=np.int64)
    where = {}
    for i in range(len(ds)):
        where.setdefault((ds.patient_ids[i], ds.view[i], ds.laterality[i]), i)
    other = {"L": "R", "R": "L"}
    for i in range(len(ds)):
        lat = str(ds.laterality[i]).upper()
        if lat in other:
            out[i] = where.get((ds.patient_ids[i], ds.view[i], other[lat]), -1)
    return out


def add_bilateral(ds: RegionDataset, widths: np.ndarray | None = None) -> RegionDataset:
    """A copy of ``ds`` with features [f, f - f_contra, has_contra] (dimension 2D + 1).

    ``widths``: image widths in pixels (default: the largest window x1 of the whole dataset,
    right for datasets of one image size such as mini-MIAS)."""
    n = len(ds)
    if widths is None:
        widths = np.full(n, float(ds.boxes[:, 2].max()))
    partner = contralateral_index(ds)
    diff = np.zeros_like(ds.features)
    has = np.zeros((len(ds.features), 1), dtype=np.float32)
    for i in range(n):
        j = partner[i]
        if j < 0:
            continue
        si, sj = ds.region_slice(i), ds.region_slice(int(j))
        m = match_windows(ds.boxes[si], widths[i], ds.boxes[sj], widths[j])
        diff[si] = ds.features[si] - ds.features[sj][m]
        has[si] = 1.0
    feats = np.concatenate([ds.features, diff, has], axis=1).astype(np.float32)
    return dataclasses.replace(ds, features=feats, feature_key=f"{ds.feature_key}+bilateral")
