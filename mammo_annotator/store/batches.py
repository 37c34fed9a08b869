"""Batched reads for exports: images in id order a page at a time, so memory stays constant.

Keyset pagination (``id > after``) keeps each read short, so an export of a large project never
holds a long transaction open while the GUI writes.
"""

from __future__ import annotations

from typing import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..core.records import AnnotationRecord, ImageRecord, PredictionRecord
from .convert import annotation_record, image_record, prediction_record
from .images import record_query
from .schema import (
    AnnotationRow,
    ImageRow,
    PatientRow,
    PredictionRow,
    RegionGridRow,
    RegionLabelRow,
    RegionRow,
    StudyRow,
)


def _images():
    return record_query()


def image_count(session: Session) -> int:
    return session.scalar(select(func.count(ImageRow.id))) or 0


def images_after(session: Session, after_id: int, limit: int) -> list[ImageRecord]:
    """The next ``limit`` images with an id above ``after_id``, in id order."""
    rows = session.execute(_images().where(ImageRow.id > after_id).order_by(ImageRow.id).limit(limit))
    return [image_record(*r) for r in rows]


def live_annotations_of(session: Session, image_ids: list[int]) -> dict[int, list[AnnotationRecord]]:
    """image id -> its live (not deleted) annotations, oldest first."""
    out: dict[int, list[AnnotationRecord]] = {i: [] for i in image_ids}
    if not image_ids:
        return out
    query = (
        select(AnnotationRow)
        .where(AnnotationRow.image_id.in_(image_ids), AnnotationRow.deleted_at.is_(None))
        .order_by(AnnotationRow.image_id, AnnotationRow.id)
    )
    for row in session.scalars(query):
        out[row.image_id].append(annotation_record(row))
    return out


def predictions_of(session: Session, version_id: int, image_ids: list[int]) -> dict[int, PredictionRecord]:
    """image id -> the version's prediction, for the images of one page."""
    if not image_ids:
        return {}
    rows = session.scalars(
        select(PredictionRow).where(PredictionRow.model_version_id == version_id, PredictionRow.image_id.in_(image_ids))
    )
    return {r.image_id: prediction_record(r) for r in rows}


def region_boxes(session: Session, grid_id: int) -> dict[int, tuple[int, int, int, int]]:
    """region index -> (x0, y0, x1, y1) of one grid."""
    rows = session.execute(select(RegionRow.idx, RegionRow.x0, RegionRow.y0, RegionRow.x1, RegionRow.y1).where(RegionRow.grid_id == grid_id))
    return {idx: (x0, y0, x1, y1) for idx, x0, y0, x1, y1 in rows}


def region_label_rows(session: Session, yield_per: int = 2000) -> Iterator[tuple]:
    """Every region with its grid and label, streamed in (image, grid, region) order.

    Yields (image_id, sha256, patient_key, source_path, grid_key, size_px, stride_px, min_inside,
    idx, x0, y0, x1, y1, inside_fraction, label, iom, alpha, annotation_id); the label fields are
    None for a region that has no label.
    """
    query = (
        select(
            ImageRow.id, ImageRow.sha256, PatientRow.patient_key, ImageRow.source_path,
            RegionGridRow.grid_key, RegionGridRow.size_px, RegionGridRow.stride_px, RegionGridRow.min_inside,
            RegionRow.idx, RegionRow.x0, RegionRow.y0, RegionRow.x1, RegionRow.y1, RegionRow.inside_fraction,
            RegionLabelRow.label, RegionLabelRow.iom, RegionLabelRow.alpha, RegionLabelRow.annotation_id,
        )
        .join(StudyRow, ImageRow.study_id == StudyRow.id)
        .join(PatientRow, StudyRow.patient_id == PatientRow.id)
        .join(RegionGridRow, RegionGridRow.image_id == ImageRow.id)
        .join(RegionRow, RegionRow.grid_id == RegionGridRow.id)
        .outerjoin(RegionLabelRow, RegionLabelRow.region_id == RegionRow.id)
        .order_by(ImageRow.id, RegionGridRow.id, RegionRow.idx)
        .execution_options(yield_per=yield_per)
    )
    for row in session.execute(query):
        yield tuple(row)
