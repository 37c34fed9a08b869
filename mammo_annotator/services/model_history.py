"""Model versions as the history panel and the CLI list them."""

from __future__ import annotations

from ..core.records import ModelVersionRecord
from ..store import models as model_store
from .project import Project


def list_versions(project: Project) -> list[ModelVersionRecord]:
    with project.session() as s:
        return model_store.list_model_versions(s)


def active_version(project: Project) -> ModelVersionRecord | None:
    with project.session() as s:
        vid = model_store.active_model_id(s)
        return model_store.get_model_version(s, vid) if vid else None


def annotation_cost_points(project: Project, metric: str = "val_M_vs_BN/auroc") -> list[tuple[int, int, float]]:
    """(version id, locally annotated training images, metric) per version that has the metric:
    the curve that tells when more contouring stops paying off."""
    points = []
    for v in list_versions(project):
        value = v.metrics.get(metric)
        if value is not None and v.state != "diverged":
            points.append((v.id, int(v.summary.get("n_local", 0)), float(value)))
    return points
