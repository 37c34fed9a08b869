"""Region labels from contours: Intersection over Minimum (method section 4)."""

from __future__ import annotations

import numpy as np
import shapely

from .contours import to_shapely
from .types import Lesion, LesionClass, Region, RegionLabel, RegionLabelling

DEFAULT_ALPHA = 0.5


def iom_matrix(boxes: np.ndarray, lesions: list[Lesion]) -> np.ndarray:
    """IoM(i, c) = |r_i ∩ c| / min(|r_i|, |c|) for every box (N x 4) and lesion, exact polygon areas."""
    out = np.zeros((len(boxes), len(lesions)))
    if len(boxes) == 0 or not lesions:
        return out
    rects = shapely.box(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3])
    box_area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).astype(float)
    for j, lesion in enumerate(lesions):
        geom = to_shapely(lesion.polygon)
        lx0, ly0, lx1, ly1 = geom.bounds
        near = np.flatnonzero((boxes[:, 0] < lx1) & (boxes[:, 2] > lx0) & (boxes[:, 1] < ly1) & (boxes[:, 3] > ly0))
        if len(near) == 0 or geom.area <= 0:
            continue
        inter = shapely.area(shapely.intersection(rects[near], geom))
        out[near, j] = inter / np.minimum(box_area[near], geom.area)
    return out


def label_regions(regions: list[Region], lesions: list[Lesion], alpha: float = DEFAULT_ALPHA) -> list[RegionLabelling]:
    """M when some malignant lesion has IoM >= alpha, BN when no malignant lesion touches the
    region at all, ignored in between. Benign contours never make a region M; they do not
    block BN either, since BN means benign-or-normal."""
    from .regions import boxes_array

    malignant = [les for les in lesions if les.cls is LesionClass.MALIGNANT]
    boxes = boxes_array(regions)
    iom = iom_matrix(boxes, malignant)
    out: list[RegionLabelling] = []
    for i, region in enumerate(regions):
        if malignant and iom.shape[1]:
            j = int(np.argmax(iom[i]))
            best = float(iom[i, j])
        else:
            j, best = -1, 0.0
        if best >= alpha:
            label = RegionLabel.M
        elif best <= 0.0:
            label = RegionLabel.BN
        else:
            label = RegionLabel.IGNORED
        ann = malignant[j].annotation_id if best > 0.0 else None
        out.append(RegionLabelling(region.index, label, best, ann))
    return out
