"""Ask before a project's TorchScript extractor runs: the path and SHA-256, then allow or not.

A project's ``extractor`` setting can name a TorchScript file, and loading one runs its code;
the file may have come with a project from someone else. The app loads it only after the user
has seen exactly which file (path and digest) and said yes, for this session only.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

from ..services.project import Project
from ..services.trusted_code import allow_torchscript, pending_torchscript


def consent_dialog(parent: QWidget | None, path: Path, digest: str) -> QMessageBox:
    box = QMessageBox(QMessageBox.Warning, "Run code from this project?",
                      "This project's feature extractor is a TorchScript file. Loading it runs the code "
                      "inside it. Allow it only if you trust where this file comes from.",
                      QMessageBox.Yes | QMessageBox.No, parent)
    box.setInformativeText(f"File: {path}\nSHA-256: {digest}")
    box.setDefaultButton(QMessageBox.No)
    box.button(QMessageBox.Yes).setText("Allow for this session")
    box.button(QMessageBox.No).setText("Do not run it")
    return box


def ask(parent: QWidget | None, path: Path, digest: str) -> bool:
    return consent_dialog(parent, path, digest).exec() == QMessageBox.Yes


def confirm_torchscript(parent: QWidget | None, project: Project) -> bool | None:
    """None when the project runs no TorchScript (or it is already allowed); else whether the
    user allowed it. The allowance is for the digest shown, so a file swapped after is refused."""
    pending = pending_torchscript(project)
    if pending is None:
        return None
    path, digest = pending
    if not ask(parent, path, digest):
        return False
    allow_torchscript(path, digest)
    return True
