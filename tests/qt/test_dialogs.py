"""Warnings that repeat (a damaged project fails every poll and refresh) update one box rather
than stacking a new one each time over the image."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from mammo_annotator.qt.dialogs import show_error


def _visible(parent: QWidget) -> list[QMessageBox]:
    return [b for b in parent.findChildren(QMessageBox) if b.isVisible()]


def test_a_repeated_warning_updates_one_box(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    parent.show()
    first = show_error(parent, "Cannot read the worklist", "database disk image is malformed (1)")
    again = show_error(parent, "Cannot read the worklist", "database disk image is malformed (2)", detail="trace")
    third = show_error(parent, "Cannot read the worklist", "database disk image is malformed (3)")
    QApplication.processEvents()
    assert first is again is third and len(_visible(parent)) == 1
    assert first.text().endswith("(3)") and "3 times" in first.informativeText()
    assert first.detailedText() == ""  # the latest warning's detail, not an earlier one's


def test_different_warnings_each_get_a_box_and_a_closed_one_is_not_reused(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    parent.show()
    a = show_error(parent, "Import failed", "a.dcm: not a DICOM file")
    b = show_error(parent, "Cannot switch model", "version 3 is missing")
    assert a is not b and len(_visible(parent)) == 2
    a.close()
    QApplication.processEvents()
    c = show_error(parent, "Import failed", "b.dcm: truncated pixel data")
    assert c is not a and c.informativeText() == "" and len(_visible(parent)) == 2


def test_the_main_window_stacks_no_repeated_warning(window, qtbot):
    for n in range(4):
        window.error("Cannot read the worklist", f"damaged ({n})")
    QApplication.processEvents()
    boxes = [b for b in _visible(window) if b.windowTitle() == "Cannot read the worklist"]
    assert len(boxes) == 1 and boxes[0].text() == "damaged (3)"
