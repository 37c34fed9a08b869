"""Code from a shared file: a project's TorchScript extractor never runs from its setting alone.

The module used here prints when its code runs, so each test sees whether it ran, with the real
``torch.jit.load`` and the real project settings.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mammo_annotator.cli import main
from mammo_annotator.ml.features.cnn import WeightsError
from mammo_annotator.services.features import project_extractor
from mammo_annotator.services.project import open_project
from mammo_annotator.services.trusted_code import (
    UntrustedCodeError, allow_torchscript, forget_allowed, pending_torchscript)

RAN = "torchscript code ran"


class Loud(nn.Module):
    def __init__(self, channels: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(1, channels, 3, 2, 1)

    def forward(self, x):
        print("torchscript code ran")
        return self.conv(x)


@pytest.fixture(autouse=True)
def fresh_session():
    forget_allowed()
    yield
    forget_allowed()


@pytest.fixture
def shared(tmp_path, monkeypatch):
    """A project someone sent: its extractor setting names a TorchScript file."""
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    script = tmp_path / "extractor.pt"
    torch.jit.script(Loud()).save(str(script))
    project = open_project(tmp_path / "shared.sqlite", create=True)
    project.set_setting("extractor", {"name": "torchscript", "options": {"path": str(script)}})
    yield project, script
    project.close()


def test_setting_alone_never_loads_it(shared, capfd):
    project, script = shared
    with pytest.raises(UntrustedCodeError) as info:
        project_extractor(project)
    assert str(script) in str(info.value) and "--allow-torchscript" in str(info.value)
    assert RAN not in capfd.readouterr().out


def test_allowed_in_this_session_loads(shared, capfd):
    project, script = shared
    path, digest = pending_torchscript(project)
    assert path == script and len(digest) == 64
    allow_torchscript(script)
    assert pending_torchscript(project) is None
    ext = project_extractor(project)
    assert ext.dim == 4 and RAN in capfd.readouterr().out


def test_file_swapped_after_it_was_allowed_is_refused(shared, capfd):
    project, script = shared
    allow_torchscript(script)
    torch.jit.script(Loud(channels=6)).save(str(script))  # another program at the same path
    with pytest.raises(WeightsError, match="changed since it was allowed"):
        project_extractor(project)
    assert RAN not in capfd.readouterr().out


def test_cli_needs_the_flag(shared, capfd):
    project, script = shared
    db = str(project.path)
    assert main(["train", "--db", db]) == 2
    captured = capfd.readouterr()
    assert "--allow-torchscript" in captured.err and str(script) in captured.err and RAN not in captured.out
    forget_allowed()
    main(["train", "--db", db, "--allow-torchscript", str(script)])  # the project has no images to train on
    captured = capfd.readouterr()
    assert RAN in captured.out and "--allow-torchscript" not in captured.err
