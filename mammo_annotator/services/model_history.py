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
