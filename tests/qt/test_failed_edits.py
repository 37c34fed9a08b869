"""A save, undo or redo that the database refuses for a passing reason (another program holds
its write lock) loses nothing: the outline stays drawn, the undo step stays in the history, and
the same key works once the lock is gone. Saved edits say their repairs in the same message.

The lock is real: a second SQLite connection holding ``BEGIN EXCLUSIVE`` on the project file.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QUndoStack
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

import mammo_annotator.store.engine as engine
from mammo_annotator.core.types import LesionClass
from mammo_annotator.qt.contour_layer import roi_points
from mammo_annotator.qt.contour_tool import Tool
from mammo_annotator.qt.undo import AddContourCommand, Failure, push
from mammo_annotator.services import annotations as ann_service
from mammo_annotator.services import viewing

from .conftest import circle, click, drag

SQUARE = [(150, 150), (250, 150), (250, 250), (150, 250)]


@pytest.fixture
def short_wait(window, project, monkeypatch):
    """A 0.3 s busy timeout instead of 15 s, so a locked write fails fast (new connections only)."""
    monkeypatch.setattr(engine, "BUSY_TIMEOUT_MS", 300)
    project.engine.dispose()
    return window


@contextmanager
def write_locked(path) -> Iterator[None]:
    """Another connection holds the write lock, as another program would."""
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=5)
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("UPDATE settings SET key = key")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def _open(window, qtbot, side: str = "L-CC") -> int:
    image_id = next(r.image_id for r in viewing.worklist(window.page.project) if r.patient == "P001" and r.side == side)
    window.worklist.select_image(image_id)
    qtbot.waitUntil(lambda: window.page.image_id == image_id)
    window.page.view.fit()
    return image_id


def _errors(window) -> list[str]:
    return [box.text() for box in window.findChildren(QMessageBox) if box.isVisible()]


def _close_errors(window) -> None:
    """Close the error boxes and give the window back the keyboard, as a click on OK does."""
    for box in window.findChildren(QMessageBox):
        box.close()
    window.activateWindow()
    QApplication.processEvents()


def _status(window) -> str:
    return window.statusBar().currentMessage()


def _draw_square(window) -> None:
    QTest.keyClick(window, Qt.Key_P)
    for x, y in SQUARE:
        click(window.page.view, x, y)


def test_polygon_stays_drawn_when_its_save_fails(short_wait, project, qtbot):
    window = short_wait
    image_id = _open(window, qtbot)
    _draw_square(window)
    QTest.keyClick(window, Qt.Key_Return)  # a first contour: "Malignant contour saved" in the status bar
    assert "contour saved" in _status(window)
    _draw_square(window)
    with write_locked(project.path):
        QTest.keyClick(window, Qt.Key_Return)
        qtbot.waitUntil(lambda: any("locked" in t for t in _errors(window)))
        handler = window.page._handler
        assert len(handler.points) == 4 and handler.drawing  # still drawn, still editable
        assert len(ann_service.contours(project, image_id)) == 1
        assert window.page._stack(image_id).count() == 1
        assert _status(window).startswith("Contour not saved")  # not the earlier "saved"
    _close_errors(window)
    QTest.keyClick(window, Qt.Key_Return)  # the lock is gone: the same key saves it
    assert len(ann_service.contours(project, image_id)) == 2
    assert window.page._handler.points == [] and window.page._stack(image_id).count() == 2


def test_escape_discards_an_outline_whose_save_failed(short_wait, project, qtbot):
    window = short_wait
    image_id = _open(window, qtbot)
    _draw_square(window)
    with write_locked(project.path):
        QTest.keyClick(window, Qt.Key_Return)
    assert window.page._handler.drawing
    _close_errors(window)
    QTest.keyClick(window.page.view, Qt.Key_Escape)
    assert window.page._handler.points == []
    QTest.keyClick(window, Qt.Key_Return)  # nothing left to save
    assert ann_service.contours(project, image_id) == []


def test_freehand_stroke_stays_drawn_when_its_save_fails(short_wait, project, qtbot):
    window = short_wait
    image_id = _open(window, qtbot)
    QTest.keyClick(window, Qt.Key_F)
    with write_locked(project.path):
        drag(window.page.view, circle(190, 205, 40, n=40))
    assert ann_service.contours(project, image_id) == []
    assert len(window.page._handler.points) >= 8
    _close_errors(window)
    QTest.keyClick(window, Qt.Key_Return)
    assert len(ann_service.contours(project, image_id)) == 1 and not window.page._handler.drawing


def test_ellipse_is_kept_when_its_save_fails(short_wait, project, qtbot):
    window = short_wait
    image_id = _open(window, qtbot)
    QTest.keyClick(window, Qt.Key_O)
    assert window.page.tool is Tool.ELLIPSE
    with write_locked(project.path):
        drag(window.page.view, [(150, 150), (200, 190), (250, 230)])
    assert ann_service.contours(project, image_id) == []
    assert window.page.kept.points is not None and len(window.page.kept.item.xData) > 0  # shown
    _close_errors(window)
    QTest.keyClick(window, Qt.Key_Return)
    anns = ann_service.contours(project, image_id)
    assert len(anns) == 1 and window.page.kept.points is None
    assert np.allclose(anns[0].polygon.as_array().min(0), (150, 150), atol=2)


def test_outline_edit_stays_when_its_save_fails(short_wait, project, qtbot):
    window = short_wait
    image_id = _open(window, qtbot)
    _draw_square(window)
    QTest.keyClick(window, Qt.Key_Return)
    original = ann_service.contours(project, image_id)[0]
    QTest.keyClick(window, Qt.Key_E)
    corner = roi_points(window.page.contours.items[original.id])[2]
    target = (corner[0] + 30, corner[1] + 20)
    with write_locked(project.path):
        drag(window.page.view, [tuple(corner), (corner[0] + 15, corner[1] + 10), target])
        qtbot.waitUntil(lambda: any("locked" in t for t in _errors(window)))
    assert np.allclose(ann_service.contours(project, image_id)[0].polygon.as_array(), original.polygon.as_array())
    shown = roi_points(window.page.contours.items[original.id])
    assert np.any(np.all(np.isclose(shown, target, atol=2.5), axis=1)), shown  # the edit is still on screen
    _close_errors(window)
    QTest.keyClick(window, Qt.Key_Return)  # saves it now
    saved = ann_service.contours(project, image_id)[0].polygon.as_array()
    assert np.any(np.all(np.isclose(saved, target, atol=2.5), axis=1)), saved
    assert window.page._stack(image_id).count() == 2 and not window.page.contours.unsaved


def test_undo_and_redo_under_a_lock_keep_the_step(short_wait, project, qtbot):
    window = short_wait
    image_id = _open(window, qtbot)
    _draw_square(window)
    QTest.keyClick(window, Qt.Key_Return)
    stack = window.page._stack(image_id)
    with write_locked(project.path):
        QTest.keyClick(window, Qt.Key_Z, Qt.ControlModifier)
        qtbot.waitUntil(lambda: stack.index() == 1)  # put back once the stack is done
        assert any("locked" in t for t in _errors(window))
        assert stack.count() == 1 and stack.canUndo() and not stack.canRedo()
        assert len(ann_service.contours(project, image_id)) == 1
    _close_errors(window)
    QTest.keyClick(window, Qt.Key_Z, Qt.ControlModifier)  # the lock is gone: the same undo works
    assert ann_service.contours(project, image_id) == [] and stack.index() == 0
    with write_locked(project.path):
        QTest.keyClick(window, Qt.Key_Y, Qt.ControlModifier)
        qtbot.waitUntil(lambda: stack.index() == 0 and not stack.canUndo())
        assert stack.count() == 1 and stack.canRedo()
        assert ann_service.contours(project, image_id) == []
    _close_errors(window)
    QTest.keyClick(window, Qt.Key_Y, Qt.ControlModifier)
    assert len(ann_service.contours(project, image_id)) == 1 and stack.index() == 1


def test_the_editor_says_which_kind_of_failure(short_wait, project, qtbot):
    """Locked: passing, the step is kept; a contour that does not exist: refused, the step is dropped."""
    window = short_wait
    image_id = _open(window, qtbot)
    editor = window.page.editor
    with write_locked(project.path):
        assert editor.no_malignant(image_id, True) is None
    assert editor.last_failure is Failure.PASSING
    stack = QUndoStack()
    push(stack, AddContourCommand(editor, image_id, 999_999, LesionClass.MALIGNANT))
    stack.undo()
    QApplication.processEvents()
    assert editor.last_failure is Failure.REFUSED
    assert stack.count() == 0 and stack.index() == 0  # a step that can never apply leaves the history


def test_repairs_are_said_with_the_saved_message(window, project, qtbot):
    image_id = _open(window, qtbot)
    shown: list[str] = []
    window.statusBar().messageChanged.connect(lambda text: text and shown.append(text))
    QTest.keyClick(window, Qt.Key_P)
    window.page._handler.points = [(-100.0, 100.0), (200.0, 100.0), (200.0, 300.0), (-100.0, 300.0)]
    QTest.keyClick(window, Qt.Key_Return)
    assert ann_service.contours(project, image_id)[0].polygon.as_array()[:, 0].min() >= 0
    assert _status(window) == "Malignant contour saved (clipped to the image border)"
    assert shown == ["Malignant contour saved (clipped to the image border)"]  # none hidden behind another


def test_a_refused_outline_is_not_kept_to_save_again(window, project, qtbot):
    """Only a passing failure keeps the outline: one without area will never save, so offering
    "press Enter to save it again" would be wrong; the tool starts afresh, as before."""
    image_id = _open(window, qtbot)
    QTest.keyClick(window, Qt.Key_P)
    for x, y in [(150, 150), (200, 150), (250, 150)]:  # three points on a line: no area
        click(window.page.view, x, y)
    QTest.keyClick(window, Qt.Key_Return)
    assert window.page._handler.points == [] and window.page.kept.points is None
    assert ann_service.contours(project, image_id) == [] and not _status(window).startswith("Contour not saved")
