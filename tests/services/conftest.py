"""A new, empty project per test, once on SQLite and once on PostgreSQL (test modules that need a
richer one define their own ``project``)."""

import pytest

from mammo_annotator.services.project import open_project


@pytest.fixture
def project(project_target, tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    p = open_project(project_target, create=True)
    yield p
    p.close()


@pytest.fixture
def sqlite_project(tmp_path):
    """A SQLite project with a small region grid (64 / 32 px): the export tests' small images."""
    project = open_project(tmp_path / "p.sqlite", create=True)
    project.set_grid_spec(type(project.grid_spec())(size_px=64, stride_px=32))
    yield project
    project.close()
