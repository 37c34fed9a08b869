"""Region grids, regions, their IoM labels and the cached features of each grid."""

from __future__ import annotations

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..core.records import RegionSet
from ..core.types import GridSpec, Region, RegionLabelling
from .schema import FeatureRow, RegionGridRow, RegionLabelRow, RegionRow, utcnow


def add_grid(session: Session, image_id: int, spec: GridSpec, spacing_mm: float | None, regions: list[Region]) -> int:
    size, stride = spec.resolve(spacing_mm)
    grid = RegionGridRow(image_id=image_id, grid_key=spec.key(spacing_mm), size_px=size, stride_px=stride, min_inside=spec.min_inside)
    session.add(grid)
    session.flush()
    session.add_all(
        RegionRow(grid_id=grid.id, idx=r.index, x0=r.box.x0, y0=r.box.y0, x1=r.box.x1, y1=r.box.y1, inside_fraction=r.inside_fraction)
        for r in regions
    )
    session.flush()
    return grid.id


def grid_id_for(session: Session, image_id: int, grid_key: str | None = None) -> int | None:
    """The image's grid with that key, or its first grid when no key is given."""
    query = select(RegionGridRow.id).where(RegionGridRow.image_id == image_id).order_by(RegionGridRow.id)
    if grid_key is not None:
        query = query.where(RegionGridRow.grid_key == grid_key)
    return session.scalars(query).first()


def region_set(session: Session, grid_id: int) -> RegionSet:
    grid = session.get(RegionGridRow, grid_id)
    rows = session.execute(
        select(RegionRow, RegionLabelRow)
        .outerjoin(RegionLabelRow, RegionLabelRow.region_id == RegionRow.id)
        .where(RegionRow.grid_id == grid_id)
        .order_by(RegionRow.idx)
    ).all()
    boxes = np.asarray([(r.x0, r.y0, r.x1, r.y1) for r, _ in rows], dtype=np.int64).reshape(-1, 4)
    inside = np.asarray([r.inside_fraction for r, _ in rows], dtype=float)
    labels = [lab.label if lab is not None else None for _, lab in rows]
    iom = np.asarray([lab.iom if lab is not None else 0.0 for _, lab in rows], dtype=float)
    anns = [lab.annotation_id if lab is not None else None for _, lab in rows]
    return RegionSet(grid.image_id, grid.id, grid.grid_key, boxes, inside, labels, iom, anns)


def regions_of(session: Session, grid_id: int) -> list[Region]:
    from ..core.types import Box

    rows = session.scalars(select(RegionRow).where(RegionRow.grid_id == grid_id).order_by(RegionRow.idx))
    return [Region(r.idx, Box(r.x0, r.y0, r.x1, r.y1), r.inside_fraction) for r in rows]


def write_labels(session: Session, grid_id: int, labelling: list[RegionLabelling], alpha: float) -> None:
    """Replace the grid's region labels with a fresh labelling (same transaction as the edit)."""
    ids = dict(session.execute(select(RegionRow.idx, RegionRow.id).where(RegionRow.grid_id == grid_id)).all())
    session.execute(delete(RegionLabelRow).where(RegionLabelRow.region_id.in_(list(ids.values()))))
    now = utcnow()
    session.add_all(
        RegionLabelRow(region_id=ids[l.region_index], label=l.label.value, iom=l.iom, alpha=alpha, annotation_id=l.annotation_id, updated_at=now)
        for l in labelling
    )
    session.flush()


def clear_labels(session: Session, grid_id: int) -> None:
    ids = select(RegionRow.id).where(RegionRow.grid_id == grid_id)
    session.execute(delete(RegionLabelRow).where(RegionLabelRow.region_id.in_(ids)))


def grids_of_image(session: Session, image_id: int) -> list[int]:
    return list(session.scalars(select(RegionGridRow.id).where(RegionGridRow.image_id == image_id)))


def get_features(session: Session, grid_id: int, extractor_key: str) -> np.ndarray | None:
    row = session.scalar(select(FeatureRow).where(FeatureRow.grid_id == grid_id, FeatureRow.extractor_key == extractor_key))
    if row is None:
        return None
    return np.frombuffer(row.data, dtype=np.float32).reshape(row.n_regions, row.dim).copy()


def put_features(session: Session, grid_id: int, extractor_key: str, features: np.ndarray) -> None:
    features = np.ascontiguousarray(features, dtype=np.float32)
    session.execute(delete(FeatureRow).where(FeatureRow.grid_id == grid_id, FeatureRow.extractor_key == extractor_key))
    session.add(FeatureRow(grid_id=grid_id, extractor_key=extractor_key, n_regions=features.shape[0], dim=features.shape[1], data=features.tobytes()))
    session.flush()


def grids_missing_features(session: Session, extractor_key: str, grid_key: str | None = None) -> list[tuple[int, int]]:
    """(image_id, grid_id) pairs whose features for this extractor are not cached yet."""
    have = select(FeatureRow.grid_id).where(FeatureRow.extractor_key == extractor_key)
    query = select(RegionGridRow.image_id, RegionGridRow.id).where(RegionGridRow.id.not_in(have)).order_by(RegionGridRow.image_id)
    if grid_key is not None:
        query = query.where(RegionGridRow.grid_key == grid_key)
    return [tuple(r) for r in session.execute(query)]


def label_counts(session: Session) -> dict[str, int]:
    from sqlalchemy import func

    rows = session.execute(select(RegionLabelRow.label, func.count()).group_by(RegionLabelRow.label)).all()
    out = {label: n for label, n in rows}
    out["regions"] = session.scalar(select(func.count(RegionRow.id))) or 0
    return out
