"""The import direction of the layers (core -> ml/store -> services -> qt/cli) is enforced."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    """import-linter checks the contracts declared in pyproject.toml."""
    from importlinter.api import read_configuration  # noqa: F401  (fails loudly if import-linter is missing)

    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"],
        cwd=REPO, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "broken" not in proc.stdout.lower() or "0 broken" in proc.stdout.lower()


def test_cli_does_not_load_qt():
    code = "import sys, mammo_annotator.cli, mammo_annotator.services.importing; print('PySide6' in sys.modules, 'pyqtgraph' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"
