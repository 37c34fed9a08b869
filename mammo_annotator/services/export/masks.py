"""Binary PNG masks, one per image and class (0 background, 255 lesion), for segmentation training.

Written for every image that holds contours or is confirmed free of malignancy (its masks are
empty, which is itself a label); named ``<image>_malignant.png`` / ``<image>_benign.png``.
A pixel is in a mask when its centre lies inside a contour; a contour thinner than a pixel that
holds no pixel centre gets the pixels its outline runs through, so it is never lost.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from ...core.contours import rasterize
from ...core.progress import CancelToken, ProgressFn, no_progress
from ...core.records import AnnotationRecord
from ...core.types import AnnotationStatus, Polygon
from ..project import Project
from .common import CLASS_NAMES, ExportOptions, ExportResult, iter_images
from .paths import atomic_open, inside, out_folder
from .pseudonyms import Identities


def outline_pixels(polygon: Polygon, height: int, width: int) -> np.ndarray:
    """The pixels the closed outline runs through (sampled every half pixel along each edge)."""
    pts = polygon.as_array()
    start, end = pts, np.roll(pts, -1, axis=0)
    steps = np.maximum(1, np.ceil(2 * np.hypot(*(end - start).T)).astype(int))
    t = np.concatenate([np.arange(n + 1) / n for n in steps])
    edge = np.repeat(np.arange(len(pts)), steps + 1)
    xy = start[edge] + t[:, None] * (end[edge] - start[edge])
    mask = np.zeros((height, width), dtype=bool)
    rows = np.clip(np.floor(xy[:, 1]).astype(int), 0, height - 1)
    cols = np.clip(np.floor(xy[:, 0]).astype(int), 0, width - 1)
    mask[rows, cols] = True
    return mask


def contour_mask(polygon: Polygon, height: int, width: int) -> np.ndarray:
    """The pixels whose centres lie inside the contour; a sliver thinner than a pixel that holds no
    pixel centre (yet has the area to be stored, and labels regions M) gets the pixels its outline
    runs through instead, so no stored contour vanishes from the masks or the SEG."""
    mask = rasterize(polygon, height, width)
    return mask if mask.any() else outline_pixels(polygon, height, width)


def class_mask(anns: list[AnnotationRecord], cls: str, height: int, width: int) -> np.ndarray:
    """Union of the class's contours as a boolean (height, width) mask."""
    mask = np.zeros((height, width), dtype=bool)
    for ann in anns:
        if ann.cls.value == cls:
            mask |= contour_mask(ann.polygon, height, width)
    return mask


def export_masks(project: Project, out: str | os.PathLike, options: ExportOptions = ExportOptions(),
                 progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> ExportResult:
    folder = out_folder(out)
    ids = Identities(project, options.keep_ids)
    result = ExportResult("masks", folder)
    for image, anns in iter_images(project, progress, cancel, "masks"):
        if not anns and image.status is not AnnotationStatus.NO_MALIGNANT:
            continue
        stem = ids.of(image).stem
        for cls, name in CLASS_NAMES.items():
            mask = class_mask(anns, cls, image.height, image.width)
            with atomic_open(inside(folder, f"{stem}_{name}.png"), "wb") as fh:
                Image.fromarray(mask.astype(np.uint8) * 255).save(fh, format="PNG", optimize=False)
            result.files += 1
        result.items += 1
    return result
