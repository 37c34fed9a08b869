"""A shared PostgreSQL project whose server goes silent while the reader edits: saving a contour,
undoing it and redrawing the image never hold the window; the edit is saved once, when the server
answers, and a second edit of the image meanwhile is refused with a message.

The outage is real: the test's own server frozen (``pg_outage.freeze``: its processes stopped, as
a machine gone from the network looks to a client). The old code held the window until the thaw.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from sqlalchemy import text

from mammo_annotator.qt.stall import StallMeter
from mammo_annotator.services import annotations as ann_service
from mammo_annotator.services.project import open_project
from tests.pg_outage import freeze, private_pg  # noqa: F401 - the fixture

from .conftest import click
from .test_team_outage import THAW_AFTER_S, _server_project, _window

SQUARE = [(150, 150), (250, 150), (250, 250), (150, 250)]
OTHER = [(300, 300), (380, 300), (380, 380), (300, 380)]


def _rows(project, image_id: int) -> int:
    """Every contour row of the image, deleted ones included: a save applied twice shows here."""
    with project.session() as s:
        return s.execute(text("SELECT count(*) FROM annotations WHERE image_id = :i"), {"i": image_id}).scalar_one()


def _draw(window, points) -> None:
    for x, y in points:
        click(window.page.view, x, y)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _open_first(qtbot, window, first: int) -> None:
    qtbot.waitUntil(lambda: window.page.image_id == first, timeout=10_000)
    window.page.view.fit()
    QTest.keyClick(window, Qt.Key_P)


def test_a_contour_saved_while_the_server_is_frozen_is_saved_once_when_it_answers(qtbot, private_pg, tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    project, (first, _second) = _server_project(private_pg.new_database(), tmp_path)
    w = _window(qtbot, project, "dr.a")
    page = w.page
    try:
        _open_first(qtbot, w, first)
        _draw(w, SQUARE)
        meter = StallMeter()
        frozen = freeze(private_pg, thaw_after_s=THAW_AFTER_S)
        try:
            meter.start()
            returned_s = _timed(lambda: QTest.keyClick(w, Qt.Key_Return))
            assert returned_s < 3.0, f"the save held the window {returned_s:.1f} s"
            status = w.statusBar().currentMessage()
            assert "database server" in status and str(private_pg.port) in status, status
            assert page.editor.saving(first)
            assert page.saving.points is not None and len(page.saving.item.xData) > 0  # drawn (dashed) meanwhile
            assert not page._handler.drawing  # the tool is free
            _draw(w, OTHER)  # a second outline: refused while the first waits, and kept
            returned_s = _timed(lambda: QTest.keyClick(w, Qt.Key_Return))
            assert returned_s < 3.0
            assert "still waiting for the database server" in w.statusBar().currentMessage()
            assert len(page._handler.points) == 4  # not lost: Enter saves it later
            qtbot.wait(1500)  # the window goes on meanwhile
            meter.stop()
            assert meter.worst_ms() < 3000, f"the window stalled {meter.worst_ms():.0f} ms"
            assert page._stack(first).count() == 0  # nothing pushed before the database has it
        finally:
            frozen.thaw()
        qtbot.waitUntil(lambda: not page.editor.saving(first), timeout=15_000)
        assert "contour saved" in w.statusBar().currentMessage()
        qtbot.waitUntil(lambda: len(page.bundle.contours) == 1, timeout=10_000)  # the view shows it saved
        assert page.saving.points is None
        qtbot.wait(500)
        assert _rows(project, first) == 1  # saved exactly once
        assert page._stack(first).count() == 1
        QTest.keyClick(w, Qt.Key_Return)  # the second outline, kept in the tool, saves now
        qtbot.waitUntil(lambda: _rows(project, first) == 2, timeout=10_000)
        assert page._stack(first).count() == 2 and not page._handler.drawing
    finally:
        w.close()
        project.close()


def test_an_undo_while_the_server_is_frozen_is_done_when_it_answers(qtbot, private_pg, tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    project, (first, _second) = _server_project(private_pg.new_database(), tmp_path)
    w = _window(qtbot, project, "dr.a")
    page = w.page
    try:
        _open_first(qtbot, w, first)
        _draw(w, SQUARE)
        QTest.keyClick(w, Qt.Key_Return)
        qtbot.waitUntil(lambda: len(ann_service.contours(project, first)) == 1, timeout=10_000)
        stack = page._stack(first)
        frozen = freeze(private_pg, thaw_after_s=THAW_AFTER_S)
        try:
            assert _timed(stack.undo) < 3.0
            assert page.editor.saving(first)
            assert _timed(stack.redo) < 3.0  # refused while the undo waits: the step keeps its place
            assert _timed(page.delete_selected) < 3.0
            assert _timed(lambda: page.set_no_malignant(True)) < 3.0
            assert "still waiting for the database server" in w.statusBar().currentMessage()
        finally:
            frozen.thaw()
        qtbot.waitUntil(lambda: not page.editor.saving(first), timeout=15_000)
        qtbot.waitUntil(lambda: page.bundle.contours == [], timeout=10_000)
        assert ann_service.contours(project, first) == [] and stack.index() == 0 and stack.count() == 1
        stack.redo()  # the history still works: the contour comes back
        qtbot.waitUntil(lambda: len(page.bundle.contours) == 1, timeout=10_000)
        assert _rows(project, first) == 1
    finally:
        w.close()
        project.close()


def test_a_reload_while_the_server_is_frozen_redraws_when_it_answers(qtbot, private_pg, tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    url = private_pg.new_database()
    project, (first, _second) = _server_project(url, tmp_path)
    elsewhere = open_project(url)
    w = _window(qtbot, project, "dr.a")
    page = w.page
    try:
        qtbot.waitUntil(lambda: page.image_id == first, timeout=10_000)
        ann_service.save_contour(elsewhere, first, np.array(SQUARE, dtype=float), "dr.b")  # a colleague's contour
        frozen = freeze(private_pg, thaw_after_s=THAW_AFTER_S)
        try:
            returned_s = _timed(page.reload)
            assert returned_s < 3.0, f"the reload held the window {returned_s:.1f} s"
            assert page.image_id == first and page.view.pixels is not None  # the image stays shown meanwhile
            status = w.statusBar().currentMessage()
            assert "database server" in status and str(private_pg.port) in status, status
        finally:
            frozen.thaw()
        qtbot.waitUntil(lambda: len(page.bundle.contours) == 1, timeout=15_000)  # redrawn once it answers
        assert page.image_id == first
    finally:
        w.close()
        elsewhere.close()
        project.close()


def test_no_malignant_finding_and_a_moved_outline_while_the_server_is_frozen(qtbot, private_pg, tmp_path, monkeypatch):
    from mammo_annotator.core.types import AnnotationStatus

    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    project, (first, _second) = _server_project(private_pg.new_database(), tmp_path)
    w = _window(qtbot, project, "dr.a")
    page = w.page
    try:
        _open_first(qtbot, w, first)
        frozen = freeze(private_pg, thaw_after_s=THAW_AFTER_S)
        try:
            assert _timed(lambda: page.set_no_malignant(True)) < 3.0
            assert page.editor.saving(first)
        finally:
            frozen.thaw()
        qtbot.waitUntil(lambda: page.bundle.record.status is AnnotationStatus.NO_MALIGNANT, timeout=15_000)
        assert page._stack(first).count() == 1

        page.set_no_malignant(False)  # withdrawn (the server answers at once), then a contour
        _draw(w, SQUARE)
        QTest.keyClick(w, Qt.Key_Return)
        qtbot.waitUntil(lambda: len(page.bundle.contours) == 1, timeout=10_000)
        aid = page.bundle.contours[0].id
        moved = np.array(SQUARE, dtype=float) + 40
        frozen = freeze(private_pg, thaw_after_s=THAW_AFTER_S)
        try:
            assert _timed(lambda: page._edit_outline(aid, moved)) < 3.0
            assert np.allclose(page.contours.unsaved[aid], moved)  # shown where it was moved meanwhile
            QTest.keyClick(page.view, Qt.Key_Escape)  # cannot call back a save in flight: it stays shown
            assert aid in page.contours.unsaved
        finally:
            frozen.thaw()
        qtbot.waitUntil(lambda: np.allclose(page.bundle.contours[0].polygon.as_array(), moved), timeout=15_000)
        assert not page.contours.unsaved and _rows(project, first) == 1
        assert page._stack(first).count() == 4  # confirm, withdraw, draw, move: each once
    finally:
        w.close()
        project.close()
