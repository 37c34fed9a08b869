"""A new, empty project per test (test modules that need a richer one define their own ``project``)."""

import pytest

from mammo_annotator.services.project import open_project


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    p = open_project(tmp_path / "p.sqlite", create=True)
    yield p
    p.close()
