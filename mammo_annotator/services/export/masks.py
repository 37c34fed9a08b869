"""Binary PNG masks, one per image and class (0 background, 255 lesion), for segmentation training.

Written for every image that holds contours or is confirmed free of malignancy (its masks are
empty, which is itself a label); named ``<image>_malignant.png`` / ``<image>_benign.png``.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from ...core.contours import rasterize
from ...core.progress import CancelToken, ProgressFn, no_progress
from ...core.records import AnnotationRecord
from ...core.types import AnnotationStatus
from ..project import Project
from .common import CLASS_NAMES, ExportOptions, ExportResult, iter_images
from .paths import atomic_open, inside, out_folder
from .pseudonyms import Identities


def class_mask(anns: list[AnnotationRecord], cls: str, height: int, width: int) -> np.ndarray:
    """Union of the class's contours as a boolean (height, width) mask."""
    mask = np.zeros((height, width), dtype=bool)
    for ann in anns:
        if ann.cls.value == cls:
            mask |= rasterize(ann.polygon, height, width)
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
