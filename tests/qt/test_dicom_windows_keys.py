"""The header's several DICOM windows in the window: F2 shows the first, F2 again the header's next
(HARDER, SOFTER, then back), the Window list names them with their key, and the four views follow
where a pane's image has the same window. Before, only the first window could be shown."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from mammo_annotator.core.windowing import DICOM
from tests.core.factories import make_dicom

from .conftest import shown_window

HARDER, SOFTER = f"{DICOM} 2: HARDER", f"{DICOM} 3: SOFTER"


@pytest.fixture
def study(tmp_path):
    """A new project with one study: L-CC whose header gives three windows, R-CC with one."""
    from mammo_annotator.services.importing import ImportItem, ImportReport, import_one
    from mammo_annotator.services.project import open_project

    yy, xx = np.mgrid[0:96, 0:80]
    breast = (1200 + 1500 * np.exp(-((yy - 48) ** 2 + xx ** 2) / 2500.0)).astype(np.uint16)
    breast[:, 60:] = 0  # background beside the breast
    common = dict(PatientID="P9", StudyInstanceUID="1.2.3.9", ViewPosition="CC")
    left = make_dicom(tmp_path / "lcc.dcm", breast, ImageLaterality="L", WindowCenter=["2000", "1800", "2300"],
                      WindowWidth=["2500", "800", "3000"],
                      WindowCenterWidthExplanation=["NORMAL", "HARDER", "SOFTER"], **common)
    right = make_dicom(tmp_path / "rcc.dcm", breast[:, ::-1].copy(), ImageLaterality="R", WindowCenter="2100",
                       WindowWidth="2000", **common)
    project = open_project(tmp_path / "p.sqlite", create=True)
    report = ImportReport()
    ids = [import_one(project, ImportItem(path=p), report) for p in (left, right)]
    assert None not in ids, report.failed
    yield project, ids
    project.close()


def test_f2_steps_through_the_header_windows_and_the_list_names_them(qtbot, study):
    project, (left, right) = study
    w = shown_window(qtbot, project)
    try:
        w.open_image(left)
        qtbot.waitUntil(lambda: w.page.image_id == left)
        view = w.page.view
        assert list(view.presets)[4:] == [HARDER, SOFTER]  # re-read from the header: the record keeps one window
        assert view.window.name == DICOM and (view.window.center, view.window.width) == (2000, 2500)
        for expected in (HARDER, SOFTER, DICOM, HARDER):
            QTest.keyClick(w, Qt.Key_F2)
            assert view.window.name == expected
        assert (view.window.center, view.window.width) == (1800, 800)
        combo = w.side.presets
        labels = [combo.itemText(i) for i in range(combo.count())]
        assert labels[1].endswith("F2") and labels[4] == f"{HARDER}   F2 again" and labels[5].endswith("F2 again")
        assert combo.currentData() == HARDER
        QTest.keyClick(w, Qt.Key_F1)
        QTest.keyClick(w, Qt.Key_F2)  # from another preset, F2 is the first DICOM window again
        assert view.window.name == DICOM
        combo.activated.emit(5)  # chosen from the list
        assert view.window.name == SOFTER

        QTest.keyClick(w, Qt.Key_H)  # four views: a pane shows the same window where its header has it
        QApplication.processEvents()
        panes = w.four.panes
        QTest.keyClick(w, Qt.Key_F2)
        QTest.keyClick(w, Qt.Key_F2)
        assert view.window.name == HARDER
        assert panes["L-CC"].view.window.name == HARDER
        assert panes["R-CC"].view.window.name == DICOM and panes["R-CC"].view.window.center == 2100
    finally:
        assert w.importer.shutdown()
        w.close()


def test_the_shortcuts_page_says_f2_again_steps(qtbot, study):
    from mammo_annotator.qt.help import shortcut_rows

    project, _ = study
    w = shown_window(qtbot, project)
    try:
        rows = {text: keys for _menu, text, keys in shortcut_rows(w.menuBar())}
        assert rows["DICOM window (again: the header's next)"] == "F2"
    finally:
        assert w.importer.shutdown()
        w.close()
