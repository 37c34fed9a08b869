"""Lesion contours as COCO instance segmentation JSON (images, annotations, categories).

Streamed in two passes over the project (the images, then their annotations), so memory stays
constant. Image ids are a running number of this export (COCO needs integers; database ids stay
private); each image entry also carries the export's image key, size and annotation status,
which a re-import matches on.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from ...core.progress import CancelToken, ProgressFn, no_progress
from ...core.types import AnnotationStatus
from ..project import Project
from .common import CLASS_NAMES, ExportOptions, ExportResult, iso_time, iter_images
from .geojson import FORMAT_TAG, image_properties
from .jsonstream import JsonStream
from .paths import atomic_open, out_file
from .pseudonyms import Identities

CATEGORIES = [{"id": 1, "name": "malignant", "supercategory": "lesion"}, {"id": 2, "name": "benign", "supercategory": "lesion"}]
CATEGORY_ID = {"M": 1, "B": 2}


def _wanted(status: AnnotationStatus, n_contours: int) -> bool:
    return n_contours > 0 or status is AnnotationStatus.NO_MALIGNANT


def _numbered_images(project: Project, progress: ProgressFn, cancel: CancelToken | None, what: str):
    """(running number, image, contours) of the exported images; both passes number them alike."""
    number = 0
    for image, anns in iter_images(project, progress, cancel, what):
        if _wanted(image.status, len(anns)):
            number += 1
            yield number, image, anns


def export_coco(project: Project, out: str | os.PathLike, options: ExportOptions = ExportOptions(),
                progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> ExportResult:
    """Write ``coco.json``: images that hold contours (or are confirmed free of malignancy)."""
    path = out_file(out, "coco.json")
    ids = Identities(project, options.keep_ids)
    result = ExportResult("coco", path, files=1)
    header = {
        "info": {"description": FORMAT_TAG, "date_created": datetime.now(timezone.utc).isoformat(),
                 "alpha": project.alpha(), "grid": project.grid_spec().__dict__},
        "categories": CATEGORIES,
    }
    with atomic_open(path, "w", encoding="utf-8") as fh:
        stream = JsonStream(fh, header)
        stream.open_array("images")
        for number, image, anns in _numbered_images(project, progress, cancel, "COCO images"):
            ident = ids.of(image)
            stream.item({"id": number, "file_name": ident.file or f"{ident.stem}.png", "width": image.width,
                         "height": image.height, **image_properties(image, ident)})
        stream.open_array("annotations")
        for number, image, anns in _numbered_images(project, progress, cancel, "COCO annotations"):
            for ann in anns:
                x0, y0, x1, y1 = ann.polygon.bounds
                flat = [round(v, 3) for xy in ann.polygon.points for v in xy]
                stream.item({
                    "id": ann.id, "image_id": number, "category_id": CATEGORY_ID[ann.cls.value],
                    "segmentation": [flat], "area": round(ann.polygon.area, 3),
                    "bbox": [round(x0, 3), round(y0, 3), round(x1 - x0, 3), round(y1 - y0, 3)], "iscrowd": 0,
                    "attributes": {"class": CLASS_NAMES[ann.cls.value], "annotator": ann.annotator, "source": ann.source,
                                   "created": iso_time(ann.created_at), "modified": iso_time(ann.modified_at)},
                })
                result.items += 1
        stream.close()
    return result
