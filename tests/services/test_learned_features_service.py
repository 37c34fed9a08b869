"""Training a project's own backbone: weights stored in the database by key, made the project's extractor,
features cached under its key; a stop keeps a checkpoint that the next run resumes; the training
job refreshes the backbone before the heads when asked, and says which it did."""

import threading

import pytest

from mammo_annotator.ml.features.learned_train import ExtractorTrainConfig
from mammo_annotator.services.features import ensure_features, project_extractor
from mammo_annotator.services.learned_features import extractor_folder, train_project_extractor
from mammo_annotator.services.training import TrainingRequest, run_training
from tests.helpers import open_copy, synthetic_project_file


@pytest.fixture
def project(tmp_path_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    template = synthetic_project_file(tmp_path_factory.mktemp("tpl"), n_patients=2, seed=3, size=(256, 224))
    p = open_copy(template, tmp_path)
    yield p
    p.close()


def test_train_save_and_use_as_project_extractor(project):
    cfg = ExtractorTrainConfig(steps=3, batch=8, mil_images=2, bag=2, device="cpu", checkpoint_every=1)
    stop = threading.Event()

    def progress(stage, done, total, msg):
        if done == 2:
            stop.set()

    out = train_project_extractor(project, cfg, progress=progress, cancel=stop)
    assert out.state == "cancelled" and (extractor_folder(project) / "supervised.ckpt").is_file()
    out = train_project_extractor(project, cfg)
    assert out.state == "done" and not (extractor_folder(project) / "supervised.ckpt").exists()
    assert project.setting("extractor") == {"name": "learned", "options": {"key": out.key}}
    from mammo_annotator.services.info import format_info, project_info

    info = project_info(project)
    assert info["extractor"] == out.key and info["learned_extractors"] == [out.key]
    assert f"extractor        {out.key}  (1 learned backbones stored)" in format_info(info)
    ext = project_extractor(project)
    assert ext.key == out.key
    done, failures = ensure_features(project, ext)
    assert done > 0 and not failures


def test_stored_weights_that_do_not_match_their_key_are_refused(project):
    from mammo_annotator.ml.features.learned import LearnedWeightsError
    from mammo_annotator.store import extractors as extractor_store

    out = train_project_extractor(project, ExtractorTrainConfig(steps=1, batch=4, mil_images=0, device="cpu"))
    other = "learned-supervised:1:000000000000"
    with project.session() as s:
        extractor_store.put_extractor_weights(s, other, extractor_store.extractor_weights(s, out.key), {})
    project.set_setting("extractor", {"name": "learned", "options": {"key": other}})
    with pytest.raises(LearnedWeightsError, match="expected"):
        project_extractor(project)
    project.set_setting("extractor", {"name": "learned", "options": {"key": "learned-simclr:1:abc"}})
    with pytest.raises(LearnedWeightsError, match="no stored weights"):
        project_extractor(project)


def test_heads_only_then_backbone_refresh_then_refresh_again(project):
    from mammo_annotator.store import images as image_store

    with project.session() as s:
        patients = sorted({im.patient_key for im in image_store.list_images(s)})
    project.set_setting("validation_patients", patients[:1])  # a fixed hold-out patient
    project.set_setting("split_patients_seen", patients)
    fixed = project_extractor(project).key
    first = run_training(project, TrainingRequest(epochs=2, augment=()))
    assert first.state == "done" and first.metrics["backbone"] == "keep" and first.message.endswith("heads only")
    assert first.metrics["extractor"] == fixed

    stages = []
    second = run_training(project, TrainingRequest(epochs=2, augment=(), backbone="refresh", backbone_steps=2),
                          progress=lambda stage, d, t, m: stages.append(stage))
    learned = project_extractor(project)
    # a project on the pretrained default refreshes by fine-tuning the packaged EfficientNet-Lite1 on its taps
    assert learned.key.startswith("learned-supervised-efficientnet-lite1-s57:1:") and second.metrics["extractor"] == learned.key
    assert "backbone refreshed" in second.message and learned.key in second.message
    assert stages.index("backbone") < stages.index("train")
    # the version on new features is judged against the active one on the same validation patients,
    # the active one scored on its own (still cached) features
    assert second.metrics["n_val_images"] > 0 and "active_val_loss" in second.metrics
    assert second.activated == (second.state == "done")
    assert second.state == ("worse" if second.metrics["val_loss"] > 1.02 * second.metrics["active_val_loss"] else "done")

    third = run_training(project, TrainingRequest(epochs=2, augment=(), backbone="refresh", backbone_steps=2))
    again = project_extractor(project)
    assert again.key != learned.key and again.meta["start"] == learned.key  # continued, not restarted
    assert third.metrics["extractor"] == again.key


def test_stopping_a_refresh_keeps_the_current_extractor(project):
    import threading

    before = project_extractor(project).key
    stop = threading.Event()
    stop.set()
    out = run_training(project, TrainingRequest(epochs=2, augment=(), backbone="refresh", backbone_steps=2), cancel=stop)
    assert out.state == "cancelled" and out.version_id is None and "backbone" in out.message
    assert project_extractor(project).key == before


def test_unknown_backbone_choice_is_refused():
    with pytest.raises(ValueError, match="backbone"):
        TrainingRequest(backbone="sometimes")


def test_a_supervised_backbone_with_nothing_to_learn_from_is_refused(project):
    """Before: with no weak label and no contour the loss was 0 at every step, and the unchanged
    backbone was stored and made the project's extractor."""
    from mammo_annotator.core.types import WeakLabel
    from mammo_annotator.services import annotations as ann
    from mammo_annotator.services.learned_features import BackboneTrainingError
    from mammo_annotator.store import images as image_store

    before = project.setting("extractor")
    with project.session() as s:
        ids = [im.id for im in image_store.list_images(s)]
        for image_id in ids:
            image_store.set_weak_label(s, image_id, WeakLabel(None, None), "test")
    for image_id in ids:
        for c in ann.contours(project, image_id):
            ann.delete_contour(project, c.id, c.annotator)
    cfg = ExtractorTrainConfig(steps=2, batch=8, mil_images=2, bag=2, device="cpu")
    with pytest.raises(BackboneTrainingError, match="has a weak label or a contour"):
        train_project_extractor(project, cfg)
    assert project.setting("extractor") == before

