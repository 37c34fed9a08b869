"""The export dialog runs the export in a worker thread, shows progress and stops on request."""

from __future__ import annotations

import time

import pytest

from mammo_annotator.core.progress import check_cancel  # noqa: E402
from mammo_annotator.qt import export_dialog  # noqa: E402
from mammo_annotator.qt.export_dialog import ExportDialog  # noqa: E402
from mammo_annotator.services.project import open_project  # noqa: E402
from tests.services.export_helpers import build_project  # noqa: E402


@pytest.fixture
def project(tmp_path):
    p = open_project(tmp_path / "p.sqlite", create=True)
    build_project(p)
    yield p
    p.close()


def test_exports_chosen_formats(qtbot, project, tmp_path):
    dialog = ExportDialog(project)
    qtbot.addWidget(dialog)
    for fmt, box in dialog.format_boxes.items():
        box.setChecked(fmt in ("labels", "masks"))
    dialog.folder_edit.setText(str(tmp_path / "out"))
    dialog.keep_ids.setChecked(True)
    dialog.export_button.click()
    # the worker's "finished" is queued to this thread, so right after the click the dialog is running
    assert dialog.status == "running" and not dialog.export_button.isEnabled() and dialog.stop_button.isEnabled()
    assert not any(box.isEnabled() for box in dialog.format_boxes.values())
    qtbot.waitUntil(lambda: dialog.status == "done", timeout=10000)
    assert not dialog.is_running() and dialog.export_button.isEnabled() and not dialog.stop_button.isEnabled()
    assert (tmp_path / "out" / "labels.csv").is_file() and len(list((tmp_path / "out" / "masks").glob("*.png"))) == 6
    assert "labels: 4 items" in dialog.message.text()
    assert (dialog.progress_bar.value(), dialog.progress_bar.maximum()) == (1, 1)


def test_stop_sets_the_cancel_token(qtbot, project, tmp_path, monkeypatch):
    def slow_export(project, formats, folder, options, progress, cancel):
        for k in range(1000):
            progress(k, 1000, "working")
            check_cancel(cancel)
            time.sleep(0.01)
        raise AssertionError("never stopped")

    monkeypatch.setattr(export_dialog.export_service, "export_many", slow_export)
    dialog = ExportDialog(project)
    qtbot.addWidget(dialog)
    dialog.folder_edit.setText(str(tmp_path / "out"))
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.progress_bar.value() > 2, timeout=5000)
    dialog.stop_button.click()
    qtbot.waitUntil(lambda: dialog.status == "stopped", timeout=5000)
    assert not dialog.is_running() and "Stopped" in dialog.message.text()


def test_asks_for_a_folder(qtbot, project):
    dialog = ExportDialog(project)
    qtbot.addWidget(dialog)
    dialog.export_button.click()
    assert dialog.status == "idle" and "folder" in dialog.message.text()


def test_the_reasons_images_were_skipped_are_shown(qtbot, project, tmp_path):
    """A SEG export of PNG-sourced images said only "seg: 0 items in 0 file(s)"."""
    dialog = ExportDialog(project)
    qtbot.addWidget(dialog)
    for fmt, box in dialog.format_boxes.items():
        box.setChecked(fmt == "seg")
    dialog.folder_edit.setText(str(tmp_path / "out"))
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.status == "done", timeout=10000)
    text = dialog.message.text()
    assert "seg: 0 items" in text and "skipped" in text and "not imported from DICOM" in text
