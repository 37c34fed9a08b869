"""Closing the import report or the export dialog gives the keyboard back to the image, so the
next shortcut acts on it without a click (issue 13)."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtWidgets import QApplication, QDialogButtonBox


def _elsewhere(window) -> None:
    """The window's focus widget is the search box while the dialog is up: without the hand-back,
    Qt would give the keyboard to it when the dialog closes."""
    window.worklist.search.setFocus()
    QApplication.processEvents()


def test_closing_the_import_report_focuses_the_image(window, qtbot, tmp_path):
    png = tmp_path / "new.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 4000, size=(300, 240)).astype(np.uint16)).save(png)
    worker = window.importer.start([png])
    with qtbot.waitSignal(worker.finished, timeout=30000):
        pass
    qtbot.waitUntil(lambda: window.importer.report_dialog is not None and window.importer.report_dialog.isVisible())
    dialog = window.importer.report_dialog
    _elsewhere(window)
    assert window.focusWidget() is not window.page.view
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.Close).click()
    QApplication.processEvents()
    assert not dialog.isVisible()
    assert window.focusWidget() is window.page.view


def test_a_failed_import_message_closed_focuses_the_image(window, qtbot):
    from PySide6.QtWidgets import QMessageBox

    window.importer._failed("the import could not start")  # what the worker's "failed" signal calls
    box = next(x for x in window.findChildren(QMessageBox) if x.isVisible())
    _elsewhere(window)
    box.accept()
    QApplication.processEvents()
    assert window.focusWidget() is window.page.view


def test_closing_the_export_dialog_focuses_the_image(window, qtbot):
    window.export_action.trigger()
    dialog = window.export_dialog
    qtbot.waitUntil(dialog.isVisible)
    _elsewhere(window)
    assert window.focusWidget() is not window.page.view
    dialog.close_button.click()
    QApplication.processEvents()
    assert not dialog.isVisible()
    assert window.focusWidget() is window.page.view
