"""Binary erosion and dilation by a disk, equal to ``scipy.ndimage``'s with the same disk, 3-4x faster.

The breast mask opens, closes and erodes its 512-pixel working copy with disks of radius 5 to 9;
scipy visits every element of the structure at every pixel, and those operations were over half
of the time an import spends on an image. A disk is a stack of horizontal runs, one per row
offset, so an erosion is the AND of a few run erosions, each read from one running count of the
background pixels of every row.
"""

from __future__ import annotations

from math import isqrt

import numpy as np


def disk(r: int) -> np.ndarray:
    """The structuring element: pixels within Euclidean distance ``r`` of the centre."""
    y, x = np.ogrid[-r : r + 1, -r : r + 1]
    return x * x + y * y <= r * r


def erode_disk(mask: np.ndarray, r: int, outside: bool = False) -> np.ndarray:
    """``ndimage.binary_erosion(mask, disk(r), border_value=outside)``: a pixel stays when every
    pixel of the disk around it does (pixels beyond the image count as ``outside``)."""
    mask = np.asarray(mask, dtype=bool)
    if r <= 0:
        return mask.copy()
    h, w = mask.shape
    pad = np.pad(mask, r, constant_values=outside)
    gaps = np.zeros((pad.shape[0], pad.shape[1] + 1), dtype=np.int32)  # background pixels left of each column
    np.cumsum(~pad, axis=1, dtype=np.int32, out=gaps[:, 1:])
    full_runs: dict[int, np.ndarray] = {}
    out = np.ones((h, w), dtype=bool)
    for dy in range(-r, r + 1):
        half = isqrt(r * r - dy * dy)
        if half not in full_runs:  # every padded row: is the run of 2 * half + 1 pixels around each column whole?
            # output column x is padded column x + r: its run spans padded columns x + r - half .. x + r + half
            full_runs[half] = gaps[:, r + half + 1 : r + half + 1 + w] == gaps[:, r - half : r - half + w]
        out &= full_runs[half][r + dy : r + dy + h]
    return out


def dilate_disk(mask: np.ndarray, r: int) -> np.ndarray:
    """``ndimage.binary_dilation(mask, disk(r))``: the disk is symmetric, so this is the complement
    of the background's erosion, with the pixels beyond the image counted as background."""
    return ~erode_disk(~np.asarray(mask, dtype=bool), r, outside=True)


def open_disk(mask: np.ndarray, r: int) -> np.ndarray:
    """``ndimage.binary_opening(mask, disk(r))``: erosion, then dilation."""
    return dilate_disk(erode_disk(mask, r), r)


def close_disk(mask: np.ndarray, r: int) -> np.ndarray:
    """``ndimage.binary_closing(mask, disk(r))``: dilation, then erosion (border counted as background)."""
    return erode_disk(dilate_disk(mask, r), r)
