"""Dialogs that take input, given what a reader may really type or do: a comma-separated list of
study UIDs, a date written the local way, a URL without its scheme, a name far too long, a relative
export folder, a huge folder to import, closing the window while an import runs."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog, QMessageBox

from mammo_annotator.qt import importer as importer_module
from mammo_annotator.qt.dialogs import ANNOTATOR_MAX, ImportReportDialog, ask_annotator
from mammo_annotator.qt.pacs_dialog import PacsDialog


def _visible_reports() -> list[ImportReportDialog]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, ImportReportDialog) and w.isVisible()]


# import ------------------------------------------------------------------------------------------
def test_closing_the_window_during_an_import_stops_it_and_opens_no_report(window, qtbot, monkeypatch, tmp_path):
    """The report of an import stopped by closing the window opened after the window had gone,
    alone on screen, and kept the application running."""
    from mammo_annotator.services import importing

    started = threading.Event()

    def slow_hash(path):
        started.set()
        time.sleep(0.05)
        raise OSError("test")

    monkeypatch.setattr(importing, "content_sha256", slow_hash)
    worker = window.importer.start([tmp_path / f"{k}.png" for k in range(200)])
    assert started.wait(10)
    window.close()
    assert not worker.is_running()
    qtbot.wait(200)  # the worker's queued outcome arrives
    assert not _visible_reports()
    assert window.importer.last_report is not None and window.importer.last_report.cancelled
    assert not [b for b in window.findChildren(QMessageBox) if b.isVisible()]


def test_a_folder_is_walked_in_the_worker_not_the_window(window, qtbot, monkeypatch, tmp_path):
    """A large folder (a network share) was walked in the GUI thread before the progress dialog
    showed: the window froze for as long as the walk took."""
    walked_in: list[threading.Thread] = []
    release = threading.Event()

    def slow_walk(folder, *args):
        walked_in.append(threading.current_thread())
        release.wait(2)
        return []

    monkeypatch.setattr(importer_module, "image_files", slow_walk)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    window.importer.import_folder()
    qtbot.waitUntil(lambda: bool(walked_in), timeout=5000)
    assert walked_in[0] is not threading.main_thread()
    assert window.importer.dialog is not None and window.importer.dialog.isVisible()
    release.set()
    qtbot.waitUntil(lambda: not window.importer.worker.is_running(), timeout=5000)
    qtbot.waitUntil(lambda: any(b.isVisible() for b in window.findChildren(QMessageBox)), timeout=5000)
    texts = [b.text() for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert any(str(tmp_path) in t and "No DICOM, PNG or TIFF" in t for t in texts), texts


def test_progress_without_a_total_shows_no_zero_counts(qtbot):
    from mammo_annotator.qt.dialogs import ProgressDialog

    dialog = ProgressDialog("Import")
    qtbot.addWidget(dialog)
    dialog.update_progress(0, 0, "reading the source…")
    assert dialog.message.text() == "reading the source…"
    dialog.update_progress(3, 300, "importing a.png")
    assert dialog.message.text().startswith("3 / 300")


def test_stop_ends_the_walk_of_a_folder(tmp_path):
    for k in range(5):
        (tmp_path / f"{k}.png").write_bytes(b"x")
    stop = threading.Event()
    assert len(importer_module.image_files(tmp_path, stop)) == 5
    stop.set()
    assert importer_module.image_files(tmp_path, stop) == []


# PACS --------------------------------------------------------------------------------------------
@pytest.fixture
def pacs(qtbot):
    dialog = PacsDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


@pytest.mark.parametrize("url, studies, since, field, words", [
    ("", "", "", "url", "Enter the PACS's DICOMweb URL"),
    ("   ", "", "", "url", "Enter the PACS's DICOMweb URL"),
    ("pacs.example/dicom-web", "", "", "url", "expected http:// or https://"),
    ("https://pacs.example/dicom-web", "", "01/05/2024", "since", "'01/05/2024' is not a date"),
    ("https://pacs.example/dicom-web", "", "2024-13-45", "since", "'2024-13-45' is not a date"),
    ("https://pacs.example/dicom-web", "1.2.3\nACC12345\n1.2.x", "", "studies", "'ACC12345', '1.2.x'"),
])
def test_pacs_form_says_what_is_wrong_and_stays_open(pacs, url, studies, since, field, words):
    """An empty URL did nothing at all; the others closed the form and failed afterwards, with
    the CLI's '--since' or the PACS client's regex in the message."""
    pacs.url.setText(url)
    pacs.studies.setPlainText(studies)
    pacs.since.setText(since)
    pacs.accept()
    assert pacs.isVisible() and pacs.result() == 0
    assert pacs.problem.isVisible() and words in pacs.problem.text()
    assert "--since" not in pacs.problem.text() and "re.compile" not in pacs.problem.text()
    assert getattr(pacs, field).hasFocus() or not QApplication.focusWindow()


def test_pacs_study_uids_pasted_with_odd_separators(pacs):
    """Only whitespace split the list: '1.2.3,1.2.4' reached the PACS client as one UID."""
    uids = [f"1.2.826.0.1.3680043.8.498.{k}" for k in range(500)]
    text = uids[0] + ", " + "; ".join(uids[1:250]) + "\r\n" + " | ".join(f'"{u}"' for u in uids[250:]) + "\n\n" + uids[3]
    pacs.url.setText("  https://pacs.example/dicom-web  ")
    pacs.studies.setPlainText(text)
    pacs.since.setText("20240501")
    pacs.modality.setText(" mg ")
    pacs.accept()
    assert pacs.result() == 1
    assert pacs.params() == {"url": "https://pacs.example/dicom-web", "studies": uids, "modality": "MG",
                             "since": "2024-05-01"}


# annotator ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("typed, expected", [("   ", None), ("  Dr   A.\tSmith ", "Dr A. Smith"),
                                             ("x" * (ANNOTATOR_MAX + 1), None), ("x" * ANNOTATOR_MAX, "x" * ANNOTATOR_MAX)])
def test_annotator_name(window, monkeypatch, typed, expected):
    """A name of 500 characters was accepted: the database's column holds 128, and on a server
    project every contour save then failed."""
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: (typed, True))
    assert ask_annotator(window, "tester") == expected
    warned = [b.text() for b in window.findChildren(QMessageBox) if b.isVisible()]
    if len(typed) > ANNOTATOR_MAX:
        assert any(f"at most {ANNOTATOR_MAX}" in t for t in warned), warned
        window.change_annotator()
        assert window.page.editor.annotator == "tester"
    else:
        assert not warned


# export ------------------------------------------------------------------------------------------
def test_export_refuses_a_relative_folder(window, qtbot, monkeypatch, tmp_path):
    """'exports' was written into the program's working folder, which the reader never sees."""
    from mammo_annotator.qt.export_dialog import ExportDialog

    monkeypatch.chdir(tmp_path)
    dialog = ExportDialog(window.project, window)
    qtbot.addWidget(dialog)
    dialog.folder_edit.setText("exports")
    dialog.start()
    assert dialog.status == "idle" and not dialog.is_running()
    assert "not a full folder path" in dialog.message.text()
    assert not (tmp_path / "exports").exists()
    dialog.folder_edit.setText(str(tmp_path / "out"))
    dialog.start()
    qtbot.waitUntil(lambda: dialog.status != "running", timeout=20000)
    assert dialog.status == "done" and (tmp_path / "out" / "labels.csv").is_file()
