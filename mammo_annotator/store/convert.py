"""Row -> record conversion: the one place where ORM rows turn into core types."""

from __future__ import annotations

import json

import numpy as np

from ..core.records import AnnotationRecord, ImageRecord, ModelVersionRecord, PacsOrigin, PredictionRecord
from ..core.types import AnnotationStatus, LesionClass, Polygon, WeakLabel
from .schema import AnnotationRow, ImageRow, ModelVersionRow, PacsInstanceRow, PredictionRow

SCORE_COLUMNS = 7  # p_cls N, B, M; p_det B, M; d_B, d_M


def polygon_to_json(polygon: Polygon) -> str:
    return json.dumps([[round(x, 3), round(y, 3)] for x, y in polygon.points])


def polygon_from_json(text: str) -> Polygon:
    return Polygon.from_array(json.loads(text))


def image_record(row: ImageRow, patient_key: str, study_key: str, pacs: PacsInstanceRow | None = None) -> ImageRecord:
    spacing = None
    if row.spacing_row_mm and row.spacing_col_mm:
        spacing = (row.spacing_row_mm, row.spacing_col_mm)
    return ImageRecord(
        id=row.id,
        patient_key=patient_key,
        study_key=study_key,
        source_path=row.source_path,
        sha256=row.sha256,
        width=row.width,
        height=row.height,
        bits_stored=row.bits_stored,
        pixel_spacing_mm=spacing,
        laterality=row.laterality,
        view=row.view,
        photometric=row.photometric,
        modality=row.modality,
        window_center=row.window_center,
        window_width=row.window_width,
        weak=WeakLabel(row.y_m, row.y_b),
        birads=row.birads,
        pathology=row.pathology,
        label_source=row.label_source,
        status=AnnotationStatus(row.status),
        revision=row.revision,
        sop_instance_uid=row.sop_instance_uid,
        pacs=PacsOrigin(pacs.url, pacs.study_uid, pacs.series_uid, pacs.sop_uid) if pacs is not None else None,
    )


def annotation_record(row: AnnotationRow) -> AnnotationRecord:
    return AnnotationRecord(
        id=row.id,
        image_id=row.image_id,
        cls=LesionClass(row.cls),
        polygon=polygon_from_json(row.polygon_json),
        annotator=row.annotator,
        source=row.source,
        created_at=row.created_at,
        modified_at=row.modified_at,
        deleted=row.deleted_at is not None,
    )


def model_record(row: ModelVersionRow) -> ModelVersionRecord:
    return ModelVersionRecord(
        id=row.id,
        created_at=row.created_at,
        name=row.name,
        extractor_key=row.extractor_key,
        grid_key=row.grid_key,
        config=json.loads(row.config_json),
        summary=json.loads(row.summary_json),
        metrics=json.loads(row.metrics_json),
        state=row.state,
        is_active=row.is_active,
        note=row.note,
    )


def prediction_record(row: PredictionRow) -> PredictionRecord:
    scores = np.frombuffer(row.region_scores, dtype=np.float32).reshape(-1, SCORE_COLUMNS)
    return PredictionRecord(row.model_version_id, row.image_id, row.p_m, row.p_b, row.grid_id, scores.copy())
