"""The training job can refresh the project's backbone before the heads, and says which it did."""

import pytest

from mammo_annotator.services.features import project_extractor
from mammo_annotator.services.training import TrainingRequest, run_training
from tests.helpers import open_copy, synthetic_project_file


@pytest.fixture
def project(tmp_path_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    template = synthetic_project_file(tmp_path_factory.mktemp("tpl"), n_patients=3, seed=4, size=(256, 224))
    p = open_copy(template, tmp_path)
    yield p
    p.close()


def test_heads_only_then_backbone_refresh_then_refresh_again(project):
    fixed = project_extractor(project).key
    first = run_training(project, TrainingRequest(epochs=2, augment=()))
    assert first.state == "done" and first.metrics["backbone"] == "keep" and first.message.endswith("heads only")
    assert first.metrics["extractor"] == fixed

    stages = []
    second = run_training(project, TrainingRequest(epochs=2, augment=(), backbone="refresh", backbone_steps=2),
                          progress=lambda stage, d, t, m: stages.append(stage))
    learned = project_extractor(project)
    assert learned.key.startswith("learned-supervised:1:") and second.metrics["extractor"] == learned.key
    assert "backbone refreshed" in second.message and learned.key in second.message
    assert stages.index("backbone") < stages.index("train")
    assert second.activated  # new features: nothing comparable, the user's refresh takes over

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
