"""Lesion contours as GeoJSON: one FeatureCollection per project, or one per image.

Coordinates are image pixels (x = column, y = row, origin at the top-left corner of the
top-left pixel, as QuPath reads them), not longitude/latitude. Each feature carries its class,
annotator, times and the image's key, size and annotation status; an image confirmed to hold no
malignant finding gets one feature with a null geometry, so a re-import reproduces the region
labels exactly.
"""

from __future__ import annotations

import os

from ...core.progress import CancelToken, ProgressFn, no_progress
from ...core.records import AnnotationRecord, ImageRecord
from ...core.types import AnnotationStatus
from ..project import Project
from .common import CLASS_NAMES, ExportOptions, ExportResult, iso_time, iter_images
from .jsonstream import JsonStream
from .paths import atomic_open, inside, out_file, out_folder
from .pseudonyms import Identities, ImageIdentity

FORMAT_TAG = "mammo-annotator contours 1"


def image_properties(image: ImageRecord, ident: ImageIdentity) -> dict:
    """What an export says about an image (and a re-import matches on)."""
    props = {"image": ident.image, "patient": ident.patient, "image_width": image.width,
             "image_height": image.height, "image_status": image.status.value}
    if ident.sha256:
        props["sha256"] = ident.sha256
    if ident.file:
        props["image_file"] = ident.file
    return props


def ring(ann: AnnotationRecord) -> list[list[float]]:
    pts = [[round(x, 3), round(y, 3)] for x, y in ann.polygon.points]
    return pts + [pts[0]]


def feature(ann: AnnotationRecord, image_props: dict) -> dict:
    return {
        "type": "Feature",
        "id": ann.id,
        "geometry": {"type": "Polygon", "coordinates": [ring(ann)]},
        "properties": {
            "class": CLASS_NAMES[ann.cls.value], "class_code": ann.cls.value, "annotator": ann.annotator,
            "source": ann.source, "created": iso_time(ann.created_at), "modified": iso_time(ann.modified_at),
            **image_props,
        },
    }


def export_geojson(project: Project, out: str | os.PathLike, options: ExportOptions = ExportOptions(),
                   progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> ExportResult:
    """Write the contours as GeoJSON (``options.per_image``: a folder of ``<image>.geojson``)."""
    ids = Identities(project, options.keep_ids)
    header = {"type": "FeatureCollection", "format": FORMAT_TAG, "alpha": project.alpha(),
              "grid": project.grid_spec().__dict__, "coordinates": "image pixels (x column, y row)"}
    if options.per_image:
        folder = out_folder(out)
        result = ExportResult("geojson", folder)
        for image, anns in iter_images(project, progress, cancel, "GeoJSON"):
            if not anns and image.status is not AnnotationStatus.NO_MALIGNANT:
                continue
            ident = ids.of(image)
            props = image_properties(image, ident)
            with atomic_open(inside(folder, ident.stem + ".geojson"), "w", encoding="utf-8") as fh:
                stream = JsonStream(fh, {**header, "image": props})
                stream.open_array("features")
                for ann in anns:
                    stream.item(feature(ann, props))
                stream.close()
            result.files += 1
            result.items += len(anns)
        return result
    path = out_file(out, "contours.geojson")
    result = ExportResult("geojson", path, files=1)
    with atomic_open(path, "w", encoding="utf-8") as fh:
        stream = JsonStream(fh, header)
        stream.open_array("features")
        for image, anns in iter_images(project, progress, cancel, "GeoJSON"):
            if not anns and image.status is not AnnotationStatus.NO_MALIGNANT:
                continue
            props = image_properties(image, ids.of(image))
            if not anns:  # "no malignant finding" confirmed: a feature without geometry says so
                stream.item({"type": "Feature", "geometry": None, "properties": props})
            for ann in anns:
                stream.item(feature(ann, props))
            result.items += len(anns)
        stream.close()
    return result

