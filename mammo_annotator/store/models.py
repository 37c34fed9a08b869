"""Model versions (weights as tensors-only blobs) and the predictions each version made."""

from __future__ import annotations

import json

import numpy as np
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ..core.records import ModelVersionRecord, PredictionRecord
from .convert import SCORE_COLUMNS, model_record, prediction_record
from .schema import ModelVersionRow, PredictionRow, SettingRow


def add_model_version(
    session: Session,
    name: str,
    extractor_key: str,
    grid_key: str,
    config: dict,
    summary: dict,
    metrics: dict,
    weights: bytes,
    state: str = "done",
    note: str | None = None,
) -> int:
    row = ModelVersionRow(
        name=name,
        extractor_key=extractor_key,
        grid_key=grid_key,
        config_json=json.dumps(config),
        summary_json=json.dumps(summary),
        metrics_json=json.dumps(metrics),
        weights=weights,
        state=state,
        note=note,
    )
    session.add(row)
    session.flush()
    return row.id


def list_model_versions(session: Session) -> list[ModelVersionRecord]:
    return [model_record(r) for r in session.scalars(select(ModelVersionRow).order_by(ModelVersionRow.id))]


def get_model_version(session: Session, version_id: int) -> ModelVersionRecord:
    row = session.get(ModelVersionRow, version_id)
    if row is None:
        raise KeyError(f"no model version {version_id}")
    return model_record(row)


def model_weights(session: Session, version_id: int) -> bytes:
    row = session.get(ModelVersionRow, version_id)
    if row is None:
        raise KeyError(f"no model version {version_id}")
    return row.weights


def active_model_id(session: Session) -> int | None:
    return session.scalar(select(ModelVersionRow.id).where(ModelVersionRow.is_active.is_(True)))


def activate(session: Session, version_id: int) -> None:
    if session.get(ModelVersionRow, version_id) is None:
        raise KeyError(f"no model version {version_id}")
    session.execute(update(ModelVersionRow).values(is_active=False))
    session.execute(update(ModelVersionRow).where(ModelVersionRow.id == version_id).values(is_active=True))


def put_prediction(session: Session, version_id: int, image_id: int, grid_id: int, p_m: float, p_b: float, scores: np.ndarray) -> None:
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    assert scores.ndim == 2 and scores.shape[1] == SCORE_COLUMNS, scores.shape
    session.execute(delete(PredictionRow).where(PredictionRow.model_version_id == version_id, PredictionRow.image_id == image_id))
    session.add(
        PredictionRow(model_version_id=version_id, image_id=image_id, grid_id=grid_id, p_m=float(p_m), p_b=float(p_b), region_scores=scores.tobytes())
    )


def prediction(session: Session, version_id: int, image_id: int) -> PredictionRecord | None:
    row = session.scalar(select(PredictionRow).where(PredictionRow.model_version_id == version_id, PredictionRow.image_id == image_id))
    return prediction_record(row) if row is not None else None


def image_probabilities(session: Session, version_id: int) -> dict[int, tuple[float, float]]:
    """image id -> (p_M, p_B) for every image the version scored (cheap: no region blobs)."""
    rows = session.execute(select(PredictionRow.image_id, PredictionRow.p_m, PredictionRow.p_b).where(PredictionRow.model_version_id == version_id))
    return {i: (pm, pb) for i, pm, pb in rows}


def get_setting(session: Session, key: str, default=None):
    row = session.get(SettingRow, key)
    return json.loads(row.value_json) if row is not None else default


def set_setting(session: Session, key: str, value) -> None:
    row = session.get(SettingRow, key)
    if row is None:
        session.add(SettingRow(key=key, value_json=json.dumps(value)))
    else:
        row.value_json = json.dumps(value)
