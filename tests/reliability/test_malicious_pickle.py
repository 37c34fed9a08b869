"""Pickled code in a model file, a weights file, a project's stored model or learned extractor is
refused, and the code never runs (it would create a marker file)."""

from __future__ import annotations

import io

import pytest
import torch

from mammo_annotator.core.errors import MammoError
from mammo_annotator.ml import modelio
from mammo_annotator.ml.features.learned import LearnedExtractor
from mammo_annotator.services.project import open_project
from mammo_annotator.store import extractors as extractor_store
from mammo_annotator.store import models as model_store


class _Payload:
    """Unpickling this calls ``open(marker, "w")``: the file appears only if the code ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _evil_bytes(marker) -> bytes:
    buf = io.BytesIO()
    torch.save({"format": "mammo-model", "state": {"w": torch.zeros(2)}, "evil": _Payload(str(marker))}, buf)
    return buf.getvalue()


def test_the_payload_does_run_under_a_plain_pickle_load(tmp_path):
    """The control: without weights_only the marker appears (so the refusals below mean something)."""
    marker = tmp_path / "ran"
    torch.load(io.BytesIO(_evil_bytes(marker)), weights_only=False)
    assert marker.exists()


def test_a_model_file_with_pickled_code_is_refused(tmp_path):
    marker, path = tmp_path / "ran", tmp_path / "model.pt"
    path.write_bytes(_evil_bytes(marker))
    with pytest.raises(modelio.ModelFileError, match=str(path)):
        modelio.load(path)
    assert not marker.exists()


def test_a_weights_file_with_pickled_code_is_refused(tmp_path):
    from torch import nn

    from mammo_annotator.ml.features.cnn import WeightsError, load_torchvision_weights

    marker, path = tmp_path / "ran", tmp_path / "resnet18.pth"
    path.write_bytes(_evil_bytes(marker))
    with pytest.raises(WeightsError, match="not a plain state-dict"):
        load_torchvision_weights(nn.Linear(2, 2), path, "fc.")
    assert not marker.exists()


def test_a_project_whose_stored_model_and_extractor_carry_pickled_code(tmp_path):
    """Someone else's project file: its model version and learned extractor blobs are refused."""
    from .procs import blank_project

    marker = tmp_path / "ran"
    project = open_project(blank_project(tmp_path / "p.sqlite", n_images=2))
    try:
        with project.session() as s:
            vid = model_store.add_model_version(s, "evil", "handcrafted", "g", {}, {}, {}, _evil_bytes(marker))
            model_store.activate(s, vid)
            extractor_store.put_extractor_weights(s, "learned-evil", _evil_bytes(marker), {})
        with project.session() as s:
            blob = model_store.model_weights(s, vid)
            ext_blob = extractor_store.extractor_weights(s, "learned-evil")
        with pytest.raises(modelio.ModelFileError):  # how training, scoring and comparison read a version
            modelio.from_bytes(blob, f"model version {vid}")
        with pytest.raises(MammoError):
            LearnedExtractor.from_bytes(ext_blob, "extractor learned-evil")
    finally:
        project.close()
    assert not marker.exists()
