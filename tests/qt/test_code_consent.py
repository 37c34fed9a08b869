"""The app asks before a project's TorchScript extractor runs, showing the file and its SHA-256."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtWidgets import QMessageBox
from torch import nn

from mammo_annotator.qt import code_consent
from mammo_annotator.qt.training import TrainingController
from mammo_annotator.qt.training_panel import TrainingPanel
from mammo_annotator.services.features import project_extractor
from mammo_annotator.services.project import open_project
from mammo_annotator.services.trusted_code import UntrustedCodeError, file_sha256, forget_allowed, pending_torchscript


@pytest.fixture
def shared(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    forget_allowed()
    script = tmp_path / "extractor.pt"
    torch.jit.script(nn.Conv2d(1, 4, 3, 2, 1)).save(str(script))
    project = open_project(tmp_path / "shared.sqlite", create=True)
    project.set_setting("extractor", {"name": "torchscript", "options": {"path": str(script)}})
    yield project, script
    project.close()
    forget_allowed()


def test_dialog_shows_path_and_digest_and_defaults_to_no(qtbot, shared):
    project, script = shared
    box = code_consent.consent_dialog(None, script, file_sha256(script))
    qtbot.addWidget(box)
    assert str(script) in box.informativeText() and file_sha256(script) in box.informativeText()
    assert box.defaultButton() is box.button(QMessageBox.No)


@pytest.mark.parametrize("answer", [True, False])
def test_attaching_the_project_asks_and_follows_the_answer(qtbot, shared, monkeypatch, answer):
    project, script = shared
    asked = []
    monkeypatch.setattr(code_consent, "ask", lambda parent, path, digest: asked.append((path, digest)) or answer)
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    controller = TrainingController(panel)
    controller.attach(project)
    try:
        assert asked == [(script, file_sha256(script))]
        if answer:
            assert pending_torchscript(project) is None and project_extractor(project).dim == 4
        else:
            with pytest.raises(UntrustedCodeError):
                project_extractor(project)
    finally:
        controller.shutdown()
