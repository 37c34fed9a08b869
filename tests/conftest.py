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
