"""The training use case end to end on a small synthetic project."""

from __future__ import annotations

import threading

import pytest

from mammo_annotator.services import training
from mammo_annotator.services.model_history import active_version, list_versions
from mammo_annotator.services.training import TrainingRequest, activate_version, run_training
from mammo_annotator.store import models as model_store
from tests.helpers import open_copy, synthetic_project_file


@pytest.fixture(scope="module")
def base_project(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("template")
    mp = pytest.MonkeyPatch()
    mp.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp / "cache"))
    yield synthetic_project_file(tmp, n_patients=6, seed=11)
    mp.undo()


@pytest.fixture
def project(base_project, tmp_path):
    p = open_copy(base_project, tmp_path)
    yield p
    p.close()


def test_first_training_activates_and_scores_every_image(project):
    events = []
    project.events.connect("model_activated", lambda version_id: events.append(version_id))
    stages = []
    out = run_training(project, TrainingRequest(epochs=20), progress=lambda st, d, n, m: stages.append(st))
    assert out.state == "done" and out.activated and events == [out.version_id]
    assert {"train", "validate", "store"} <= set(stages)
    assert out.metrics["method"] == "ss_cls_det_rs"  # the synthetic truth contours make it semi-supervised
    with project.session() as s:
        probs = model_store.image_probabilities(s, out.version_id)
    assert len(probs) == 24 and all(0 <= pm <= 1 and 0 <= pb <= 1 for pm, pb in probs.values())
    v = active_version(project)
    assert v.id == out.version_id and v.summary["n_local"] > 0 and "val_loss" in v.metrics
    assert v.summary["augment"] == ["flip_lr"]  # flipped-image features were added as training samples
    from mammo_annotator.store import regions as region_store

    with project.session() as s:
        assert region_store.grids_missing_features(s, v.extractor_key + "|flip_lr") == []


def test_warm_retrain_and_worse_version_not_activated(project, monkeypatch):
    first = run_training(project, TrainingRequest(epochs=20))
    monkeypatch.setattr(training, "WORSE_TOLERANCE", -1.0)  # any new version now counts as worse
    second = run_training(project, TrainingRequest(epochs=20, warm_start=True))
    assert second.state == "worse" and not second.activated and second.metrics["warm_start"]
    assert active_version(project).id == first.version_id
    assert [v.state for v in list_versions(project)] == ["done", "worse"]
    activate_version(project, second.version_id)  # the user may still choose it
    assert active_version(project).id == second.version_id


def test_diverged_run_keeps_previous_model(project, monkeypatch):
    first = run_training(project, TrainingRequest(epochs=10))
    from mammo_annotator.ml import train as ml_train

    real = ml_train.objective

    def poisoned(*a, **k):
        loss, parts = real(*a, **k)
        return loss * float("nan"), parts

    monkeypatch.setattr(ml_train, "objective", poisoned)
    out = run_training(project, TrainingRequest(epochs=10))
    assert out.state == "diverged" and not out.activated
    assert active_version(project).id == first.version_id


def test_cancel_stores_nothing(project):
    token = threading.Event()

    def progress(stage, done, total, message):
        if stage == "train" and done >= 1:
            token.set()

    out = run_training(project, TrainingRequest(epochs=50), progress=progress, cancel=token)
    assert out.state == "cancelled" and out.version_id is None
    assert list_versions(project) == []


def test_validation_split_is_patient_wise_and_stable(project):
    run_training(project, TrainingRequest(epochs=5))
    val = set(project.setting("validation_patients"))
    run_training(project, TrainingRequest(epochs=5))
    assert set(project.setting("validation_patients")) == val
    assert 0 < len(val) < 6
