"""DICOM Segmentation (SEG) of each DICOM-sourced image's lesion contours, built with highdicom.

One binary SEG per image, with a segment per class present (malignant, benign), referencing the
(de-identified, see ``dicom_source``) source image. Each SEG gets fresh Series and SOP Instance
UIDs. Images imported from PNG/TIFF have no DICOM study to attach to and are skipped.
"""

from __future__ import annotations

import os

import highdicom as hd
import numpy as np
from pydicom.sr.coding import Code

from ... import __version__
from ...core.errors import ImageReadError
from ...core.progress import CancelToken, ProgressFn, no_progress
from ...core.records import AnnotationRecord, ImageRecord
from ..project import Project
from .common import CLASS_NAMES, ExportOptions, ExportResult, iter_images
from .dicom_source import declare_charset, fitted_source, is_dicom_source
from .masks import class_mask
from .paths import atomic_open, inside, out_folder
from .pseudonyms import Identities
from .vr_fit import fit_dataset, holds

MANUFACTURER = "Mammo Annotator"
CATEGORY = Code("49755003", "SCT", "Morphologically abnormal structure")
PROPERTY = {
    "M": Code("86049000", "SCT", "Malignant neoplasm, primary"),
    "B": Code("3898006", "SCT", "Neoplasm, benign"),
}
SEG_SERIES_NUMBER = 9001


def device() -> dict:
    """Equipment attributes highdicom requires of every derived object."""
    return {"manufacturer": MANUFACTURER, "manufacturer_model_name": "mammo-annotator",
            "software_versions": __version__, "device_serial_number": "1"}


def build_seg(source, image: ImageRecord, anns: list[AnnotationRecord]) -> hd.seg.Segmentation:
    """The SEG object of one image (``source``: its de-identified header)."""
    classes = [c for c in ("M", "B") if any(a.cls.value == c for a in anns)]
    masks = np.stack([class_mask(anns, c, image.height, image.width) for c in classes], axis=-1)[None]
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=k, segment_label=f"{CLASS_NAMES[c]} lesion", segmented_property_category=CATEGORY,
            segmented_property_type=PROPERTY[c], algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for k, c in enumerate(classes, start=1)
    ]
    seg = hd.seg.Segmentation(
        source_images=[source], pixel_array=masks, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=hd.UID(), instance_number=1, series_description="Lesion contours (Mammo Annotator)",
        **device(),
    )
    if "PatientOrientation" not in seg:
        # General Image, Type 2C: required when the image has no Plane Orientation (a projection
        # mammogram has none); the mask lies on the source's pixel grid, so the source's value holds
        seg.PatientOrientation = source.get("PatientOrientation", "")
    return seg


def export_dicom_objects(kind: str, project: Project, out: str | os.PathLike, options: ExportOptions,
                         progress: ProgressFn, cancel: CancelToken | None, build) -> ExportResult:
    """Shared loop of SEG and SR: the objects ``build`` makes of each DICOM-sourced image that holds
    contours, as (file-name suffix, data set) pairs (a SEG is one object; an SR is one per annotator).
    Every value of the source and of each object is fitted to its VR (``vr_fit``), and each change
    is a warning of the result naming the source file or the written file and the element."""
    folder = out_folder(out)
    ids = Identities(project, options.keep_ids)
    result = ExportResult(kind, folder)
    for image, anns in iter_images(project, progress, cancel, kind.upper()):
        if not anns:
            continue
        ident = ids.of(image)
        if not is_dicom_source(image):
            result.skipped.append((ident.image, "not imported from DICOM"))
            continue
        try:
            source, changes = fitted_source(image, ids)
            objects = build(source, image, anns)
        except ImageReadError as exc:  # the source moved or changed: say which file to bring back
            result.skipped.append((ident.image, f"{exc.reason}: {image.source_path}"))
            continue
        for suffix, dataset in objects:
            path = inside(folder, f"{ident.stem}{suffix}_{kind}.dcm")
            result.warnings += [(ident.image, f"{path.name}: {change} (from {image.source_path})")
                                for change in changes if holds(dataset, change)]
            result.warnings += [(ident.image, f"{path.name}: {change}") for change in fit_dataset(dataset)]
            declare_charset(dataset)
            with atomic_open(path, "wb") as fh:
                dataset.save_as(fh, enforce_file_format=True)
            result.files += 1
        result.items += 1
    return result


def export_seg(project: Project, out: str | os.PathLike, options: ExportOptions = ExportOptions(),
               progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> ExportResult:
    return export_dicom_objects("seg", project, out, options, progress, cancel,
                                lambda source, image, anns: [("", build_seg(source, image, anns))])
