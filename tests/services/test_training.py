"""The training use case end to end on a small synthetic project."""

from __future__ import annotations

import threading

import pytest

from mammo_annotator.services import training
from mammo_annotator.services.model_history import active_version, list_versions
from mammo_annotator.services.training import TrainingRequest, activate_version, run_training
from mammo_annotator.store import images as image_store
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
    out = run_training(project, TrainingRequest(epochs=20, augment=("flip_lr",)), progress=lambda st, d, n, m: stages.append(st))
    assert out.state == "done" and out.activated and events == [out.version_id]
    assert {"train", "validate", "store"} <= set(stages)
    assert out.metrics["method"] == "ss_cls_det_rs"  # the synthetic truth contours make it semi-supervised
    with project.session() as s:
        probs = model_store.image_probabilities(s, out.version_id)
    assert len(probs) == 24
    with project.session() as s:
        weak = {im.id: im.weak for im in image_store.list_images(s)}
    malignant = [pm for i, (pm, _) in probs.items() if weak[i].y_m == 1]
    others = [pm for i, (pm, _) in probs.items() if weak[i].y_m == 0]
    assert malignant and others and sum(malignant) / len(malignant) > sum(others) / len(others)  # it learned something
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


def test_warm_retrain_puts_the_newly_contoured_image_in_every_batch(project):
    from mammo_annotator.services import annotations as ann_svc
    from tests.helpers import square

    run_training(project, TrainingRequest(epochs=20))
    same = run_training(project, TrainingRequest(epochs=20, warm_start=True))
    assert same.metrics["warm_start"] and same.metrics["warm_focus_images"] == 0  # nothing changed
    val = set(project.setting("validation_patients") or [])
    with project.session() as s:
        image_id = next(im.id for im in image_store.list_images(s) if im.weak.y_m == 1 and im.patient_key not in val)
    ann_svc.save_contour(project, image_id, square(100, 100, 120), annotator="dr.a")
    after = run_training(project, TrainingRequest(epochs=20, warm_start=True))
    assert after.metrics["warm_focus_images"] == 1
    assert after.metrics["epochs"] == 20 // 8  # an eighth of the full training's epochs


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


def test_activate_never_stores_without_activating(project):
    events = []
    project.events.connect("model_activated", lambda version_id: events.append(version_id))
    out = run_training(project, TrainingRequest(epochs=5, activate="never"))
    assert out.state == "done" and not out.activated and events == []
    assert active_version(project) is None
    assert [(v.id, v.state, v.is_active) for v in list_versions(project)] == [(out.version_id, "done", False)]
    with project.session() as s:  # its predictions are stored all the same (for comparison views)
        assert len(model_store.image_probabilities(s, out.version_id)) == 24


def test_activate_always_takes_even_a_worse_version(project, monkeypatch):
    first = run_training(project, TrainingRequest(epochs=5))
    monkeypatch.setattr(training, "WORSE_TOLERANCE", -1.0)
    second = run_training(project, TrainingRequest(epochs=5, seed=1, activate="always"))
    assert second.state == "worse" and second.activated
    assert active_version(project).id == second.version_id != first.version_id


def test_if_better_around_the_tolerance(project, monkeypatch):
    """The same seeded run judged against the same active version, with the tolerance just below
    and just above its validation-loss ratio: worse (kept), then activated."""
    first = run_training(project, TrainingRequest(epochs=5, num_threads=1))
    probe = run_training(project, TrainingRequest(epochs=5, seed=1, num_threads=1, activate="never"))
    ratio = probe.metrics["val_loss"] / probe.metrics["active_val_loss"]
    assert probe.metrics["active_val_loss"] == pytest.approx(first.metrics["val_loss"])
    monkeypatch.setattr(training, "WORSE_TOLERANCE", ratio - 1 - 1e-6)
    below = run_training(project, TrainingRequest(epochs=5, seed=1, num_threads=1))
    assert below.metrics["val_loss"] == pytest.approx(probe.metrics["val_loss"], rel=1e-9)  # the run is reproducible
    assert below.state == "worse" and not below.activated and active_version(project).id == first.version_id
    monkeypatch.setattr(training, "WORSE_TOLERANCE", ratio - 1 + 1e-6)
    above = run_training(project, TrainingRequest(epochs=5, seed=1, num_threads=1))
    assert above.state == "done" and above.activated and active_version(project).id == above.version_id


def test_first_training_after_new_features_defers_the_augmented_view(project):
    """The first training extracts the plain view only (proposals in half the time); the next adds the mirror view."""
    from mammo_annotator.services.features import project_extractor, view_key
    from mammo_annotator.store import regions as region_store
    from mammo_annotator.store.schema import FeatureRow

    key = project_extractor(project).key
    with project.session() as s:
        gone = s.query(FeatureRow).filter(FeatureRow.extractor_key == key).limit(3).all()
        grids = [row.grid_id for row in gone]
        for row in gone:
            s.delete(row)
    first = run_training(project, TrainingRequest(epochs=4, augment=("flip_lr",)))
    assert first.state == "done" and "flip_lr deferred to the next training (3 new images)" in first.message
    assert active_version(project).summary["augment"] == []
    with project.session() as s:
        assert len(region_store.grids_missing_features(s, view_key(key, "flip_lr"))) > 0
        assert not [g for g in grids if g in {gid for _, gid in region_store.grids_missing_features(s, key)}]
    second = run_training(project, TrainingRequest(epochs=4, activate="always", augment=("flip_lr",)))
    assert "deferred" not in second.message
    assert active_version(project).summary["augment"] == ["flip_lr"]
    with project.session() as s:
        assert region_store.grids_missing_features(s, view_key(key, "flip_lr")) == []
