"""DICOM SR measurement report (TID 1500) of each DICOM-sourced image's contours, via highdicom.

One Comprehensive 3D SR per image and annotator (``<image>_sr.dcm``; ``<image>_observer<k>_sr.dcm``
when several annotators outlined the image): an Imaging Measurement Report whose planar ROI measurement
groups (TID 1410) each hold one contour as a closed SCOORD POLYLINE in the source image's pixel
coordinates (column, row; origin at the top-left corner of the top-left pixel, which is the
project's own convention), a tracking identifier, the finding (malignant / benign) and, when the
pixel spacing is known, the area in mm^2. The annotator is the observer.
"""

from __future__ import annotations

import os
import re

import highdicom as hd
import numpy as np
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from ...core.progress import CancelToken, ProgressFn, no_progress
from ...core.records import AnnotationRecord, ImageRecord
from ..project import Project
from .common import CLASS_NAMES, ExportOptions, ExportResult
from .dicom_seg import PROPERTY, device, export_dicom_objects
from .vr_fit import MAX_BYTES, cut_bytes

SR_SERIES_NUMBER = 9002
LESION = Code("52988006", "SCT", "Lesion")
FINDING = Code("121071", "DCM", "Finding")
MAMMOGRAPHY = Code("71651007", "SCT", "Mammography")


PN_MAX = MAX_BYTES["PN"]  # a person name's alphabetic group (PS3.5 table 6.2-1); dciodvfy counts bytes


def _person(name: str) -> str:
    """A valid DICOM person name for an annotator name, which is free text: control characters,
    the value delimiter ``\\`` and the group delimiter ``=`` become spaces (a backslash made two
    names, a newline an invalid one), at most five ``^`` components, at most 64 bytes; a
    single-component name gets its trailing caret."""
    clean = " ".join(re.sub(r"[\x00-\x1f\x7f\\=]", " ", name).split())
    parts = [" ".join(p.split()) for p in clean.split("^")]
    parts = parts[:4] + [" ".join(" ".join(parts[4:]).split())] if len(parts) > 5 else parts
    if len(parts) == 1:
        return f"{cut_bytes(parts[0] or 'unknown', PN_MAX - 1)}^"
    return cut_bytes("^".join(parts), PN_MAX)


def _group(source, image: ImageRecord, ann: AnnotationRecord, number: int) -> hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations:
    points = ann.polygon.as_array()
    region = hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=np.vstack([points, points[:1]]),
        source_image=hd.sr.SourceImageForRegion.from_source_image(source),
    )
    measurements = []
    if image.pixel_spacing_mm:
        row_mm, col_mm = image.pixel_spacing_mm
        measurements.append(hd.sr.Measurement(name=codes.SCT.Area, value=round(ann.polygon.area * row_mm * col_mm, 3),
                                              unit=codes.UCUM.SquareMillimeter))
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"{CLASS_NAMES[ann.cls.value]} lesion {number}"),
        referenced_region=region, finding_type=LESION, measurements=measurements or None,
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(name=FINDING, value=PROPERTY[ann.cls.value])],
    )


def build_srs(source, image: ImageRecord, anns: list[AnnotationRecord]) -> list[tuple[str, hd.sr.Comprehensive3DSR]]:
    """One report per annotator of the image, as (file-name suffix, SR): a report has one person
    observer, and one report for all named only the first annotator as the observer of every
    contour. A single annotator's report keeps the plain name; several are numbered in name order."""
    by_annotator: dict[str, list[AnnotationRecord]] = {}
    for ann in anns:
        by_annotator.setdefault(ann.annotator, []).append(ann)
    if len(by_annotator) == 1:
        return [("", build_sr(source, image, anns))]
    return [(f"_observer{k}", build_sr(source, image, group))
            for k, (_, group) in enumerate(sorted(by_annotator.items()), start=1)]


def build_sr(source, image: ImageRecord, anns: list[AnnotationRecord]) -> hd.sr.Comprehensive3DSR:
    """The TID 1500 report of one annotator's contours on one image (``source``: its de-identified header)."""
    annotators = sorted({a.annotator for a in anns})
    if len(annotators) != 1:
        raise ValueError(f"one report per annotator: got {len(annotators)}")
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=_person(annotators[0])),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=observer),
        procedure_reported=MAMMOGRAPHY, title=codes.DCM.ImagingMeasurementReport,
        imaging_measurements=[_group(source, image, a, k) for k, a in enumerate(anns, start=1)],
    )
    dev = device()
    return hd.sr.Comprehensive3DSR(
        evidence=[source], content=report[0], series_number=SR_SERIES_NUMBER, series_instance_uid=hd.UID(),
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer=dev["manufacturer"],
        series_description="Lesion contours (Mammo Annotator)", is_complete=True, is_final=False, is_verified=False,
    )


def export_sr(project: Project, out: str | os.PathLike, options: ExportOptions = ExportOptions(),
              progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> ExportResult:
    return export_dicom_objects("sr", project, out, options, progress, cancel, build_srs)
