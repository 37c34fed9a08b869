"""Shared fixtures: the real datasets beside the repository (skipped cleanly when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def mini_mias_dir() -> Path:
    path = SHARED_DATASETS / "mini-mias"
    if not (path / "Info.txt").is_file():
        pytest.skip("real mini-MIAS data not available (../shared/datasets/mini-mias is absent)")
    return path


@pytest.fixture(scope="session")
def real_dicom_path() -> Path:
    path = SHARED_DATASETS / "dicom" / "MG1_J2KI.dcm"
    if not path.is_file():
        pytest.skip("real DICOM not available (../shared/datasets/dicom/MG1_J2KI.dcm is absent)")
    return path


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for the session (skipped only when its binaries are not installed)."""
    from tests import pg_server as pg

    if not (pg.find_bin("initdb") and pg.find_bin("pg_ctl")):
        pytest.skip("PostgreSQL server binaries not installed (Debian package postgresql)")
    server = pg.start()
    old = os.environ.get("PGPASSFILE")
    os.environ["PGPASSFILE"] = str(server.pgpass)  # the password reaches libpq as ~/.pgpass would
    yield server
    if old is None:
        os.environ.pop("PGPASSFILE", None)
    else:
        os.environ["PGPASSFILE"] = old
    pg.stop(server)


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty database on the session's server, dropped afterwards."""
    url = pg_server.new_database()
    yield url
    pg_server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def project_target(request, tmp_path):
    """Where a test project lives, once per backend: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "p.sqlite")
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def orthanc_server():
    """A real Orthanc PACS with DICOMweb for the session (skipped only when it is not installed)."""
    from tests import orthanc_server as orthanc

    if not (orthanc.find_orthanc() and orthanc.find_dicomweb_plugin()):
        pytest.skip("Orthanc or its DICOMweb plugin not installed (Debian packages orthanc, orthanc-dicomweb)")
    server = orthanc.start()
    yield server
    orthanc.stop(server)


@pytest.fixture
def orthanc(orthanc_server):
    """The session's Orthanc, emptied for each test."""
    orthanc_server.clear()
    yield orthanc_server


@pytest.fixture
def lenient_writer():
    """Let pydicom write the values a broken modality writes (NaN, inf, absurd numbers, multi-values)."""
    from pydicom import config

    before = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE
    yield
    config.settings.writing_validation_mode = before
