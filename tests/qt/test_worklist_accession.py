"""The worklist finds a DICOM image by its accession number (read at import, kept with the
study); a number nobody has shows "no matches"."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from mammo_annotator.core.synthetic import synthetic_mammogram
from mammo_annotator.qt.worklist_model import PATIENT
from tests.core.factories import make_dicom


def test_search_by_accession_number(window, qtbot, tmp_path):
    dcm = make_dicom(tmp_path / "screening.dcm", synthetic_mammogram(8, size=(320, 256)).pixels, PatientID="MRN-4711",
                     AccessionNumber="RIS-2024-0815", StudyDate="20240105", ImageLaterality="R", ViewPosition="MLO")
    worker = window.importer.start([dcm])
    with qtbot.waitSignal(worker.finished, timeout=30000):
        pass
    qtbot.waitUntil(lambda: window.importer.report_dialog is not None and window.importer.report_dialog.isVisible())
    assert window.importer.last_report.imported, window.importer.last_report.failed
    image_id = window.importer.last_report.imported[0]
    window.importer.report_dialog.reject()
    panel = window.worklist
    assert panel.proxy.rowCount() == 7
    for text in ("RIS-2024-0815", "ris-2024-0815", "0815"):
        panel.search.setText(text)
        QApplication.processEvents()
        assert panel.proxy.rowCount() == 1, text
        idx = panel.proxy.index(0, PATIENT)
        assert panel.proxy.data(idx, Qt.UserRole + 1) == image_id
        assert "accession RIS-2024-0815" in idx.data(Qt.ToolTipRole)
        assert not panel.no_matches.isVisible()
    panel.table.setCurrentIndex(panel.proxy.index(0, PATIENT))
    qtbot.waitUntil(lambda: window.page.image_id == image_id)  # the match opens
    panel.search.setText("RIS-2024-9999")
    QApplication.processEvents()
    assert panel.proxy.rowCount() == 0 and panel.no_matches.isVisible()
    assert panel.no_matches.text() == "No matches for “RIS-2024-9999”"
    panel.search.clear()
    assert panel.proxy.rowCount() == 7 and not panel.no_matches.isVisible()
    assert "accession" in panel.search.placeholderText()
