"""Closing the window (or opening another project) while a contour's save waits for a frozen
server: the reader is asked, and keeping the window open is the default. The window closed
without a word before, and the process then ended with the save still in its thread."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from mammo_annotator.qt import leave_guard
from tests.pg_outage import freeze, private_pg  # noqa: F401 - the fixture

from .test_team_outage import THAW_AFTER_S, _server_project, _window
from .test_team_outage_saves import OTHER, SQUARE, _draw, _open_first, _rows

SEEN: list[str] = []


def _answer_with(label: str | None, after_ms: int = 300) -> None:
    """Click ``label`` on the question when it shows (None: leave it on screen)."""

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(50, click)
            return
        SEEN.append(box.text())
        if label is not None:
            next(b for b in box.buttons() if b.text() == label).click()

    QTimer.singleShot(after_ms, click)


def _save_while_frozen(qtbot, w, server, points):
    _draw(w, points)
    frozen = freeze(server, thaw_after_s=THAW_AFTER_S)
    QTest.keyClick(w, Qt.Key_Return)
    assert w.page.editor.pending  # the save waits for the server
    return frozen


@pytest.fixture
def on_server(qtbot, private_pg, tmp_path, monkeypatch):
    """(window, project, its first image, the server): the window on a server project, the first
    image open; closed afterwards whatever the test left."""
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    project, (first, _second) = _server_project(private_pg.new_database(), tmp_path)
    w = _window(qtbot, project, "dr.a")
    try:
        _open_first(qtbot, w, first)
        yield w, project, first, private_pg
    finally:
        w.close()
        project.close()


def test_closing_with_a_save_waiting_asks_and_keeps_the_window_by_default(qtbot, on_server):
    w, project, first, server = on_server
    frozen = _save_while_frozen(qtbot, w, server, SQUARE)
    try:
        SEEN.clear()
        _answer_with(leave_guard.KEEP)
        assert not w.close()  # the reader kept it
        assert w.isVisible() and len(SEEN) == 1
        assert f"image {first}" in SEEN[0] and str(server.port) in SEEN[0]
        _answer_with(None)  # the question stays on screen ...
        QTimer.singleShot(600, frozen.thaw)  # ... until the server answers: saved, the window closes as asked
        assert w.close()
    finally:
        frozen.thaw()
    assert _rows(project, first) == 1 and not w.isVisible()


def test_the_reader_may_close_without_the_waiting_save_or_open_another_project(qtbot, on_server, tmp_path,
                                                                              monkeypatch):
    w, _project, _first, server = on_server
    frozen = _save_while_frozen(qtbot, w, server, OTHER)
    try:
        opened = []
        monkeypatch.setattr("mammo_annotator.services.project_guard.open_guarded",
                            lambda *a, **k: opened.append(a) or (_ for _ in ()).throw(AssertionError("opened")))
        SEEN.clear()
        _answer_with(leave_guard.KEEP)
        w._open_path(str(tmp_path / "other.sqlite"), create=True)
        assert opened == [] and "Opening another project" in SEEN[0]  # kept: nothing opened
        _answer_with(leave_guard.LEAVE["close"])
        assert w.close() and not w.isVisible()
    finally:
        frozen.thaw()
