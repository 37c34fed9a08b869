"""Lesion annotations with soft delete and a revision trail: nothing drawn is ever lost."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core.records import AnnotationRecord
from ..core.types import LesionClass, Polygon
from .convert import annotation_record, polygon_to_json
from .schema import AnnotationRevisionRow, AnnotationRow, utcnow


def _revision(session: Session, row: AnnotationRow, action: str, annotator: str) -> None:
    session.add(
        AnnotationRevisionRow(
            annotation_id=row.id, cls=row.cls, polygon_json=row.polygon_json, annotator=annotator, action=action
        )
    )


def add_annotation(
    session: Session, image_id: int, cls: LesionClass, polygon: Polygon, annotator: str, source: str = "drawn",
    created_at: datetime | None = None, modified_at: datetime | None = None,
) -> int:
    """Insert a contour; imported contours keep their original times when the source has them."""
    now = utcnow()
    row = AnnotationRow(image_id=image_id, cls=cls.value, polygon_json=polygon_to_json(polygon), annotator=annotator,
                        source=source, created_at=created_at or now, modified_at=modified_at or created_at or now)
    session.add(row)
    session.flush()
    _revision(session, row, "create", annotator)
    return row.id


def update_annotation(
    session: Session, annotation_id: int, annotator: str, polygon: Polygon | None = None, cls: LesionClass | None = None
) -> AnnotationRow:
    row = _live(session, annotation_id)
    if polygon is not None:
        row.polygon_json = polygon_to_json(polygon)
    if cls is not None:
        row.cls = cls.value
    row.modified_at = utcnow()
    row.annotator = annotator
    _revision(session, row, "edit", annotator)
    return row


def soft_delete(session: Session, annotation_id: int, annotator: str) -> AnnotationRow:
    row = _live(session, annotation_id)
    row.deleted_at = utcnow()
    row.modified_at = row.deleted_at
    _revision(session, row, "delete", annotator)
    return row


def restore(session: Session, annotation_id: int, annotator: str) -> AnnotationRow:
    row = session.get(AnnotationRow, annotation_id)
    if row is None:
        raise KeyError(f"no annotation with id {annotation_id}")
    row.deleted_at = None
    row.modified_at = utcnow()
    _revision(session, row, "restore", annotator)
    return row


def _live(session: Session, annotation_id: int) -> AnnotationRow:
    row = session.get(AnnotationRow, annotation_id)
    if row is None or row.deleted_at is not None:
        raise KeyError(f"no live annotation with id {annotation_id}")
    return row


def image_of(session: Session, annotation_id: int) -> int:
    row = session.get(AnnotationRow, annotation_id)
    if row is None:
        raise KeyError(f"no annotation with id {annotation_id}")
    return row.image_id


def list_annotations(session: Session, image_id: int | None = None, include_deleted: bool = False) -> list[AnnotationRecord]:
    query = select(AnnotationRow).order_by(AnnotationRow.image_id, AnnotationRow.id)
    if image_id is not None:
        query = query.where(AnnotationRow.image_id == image_id)
    if not include_deleted:
        query = query.where(AnnotationRow.deleted_at.is_(None))
    return [annotation_record(r) for r in session.scalars(query)]


def history(session: Session, annotation_id: int) -> list[tuple[str, str, str]]:
    """(action, annotator, polygon JSON) of every state the annotation went through, oldest first."""
    rows = session.scalars(
        select(AnnotationRevisionRow).where(AnnotationRevisionRow.annotation_id == annotation_id).order_by(AnnotationRevisionRow.id)
    )
    return [(r.action, r.annotator, r.polygon_json) for r in rows]
