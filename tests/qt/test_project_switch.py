"""Attaching a project to the window: the current row's image is on the canvas even when the new
project is a copy with the same image ids, and the GUI thread's writes wait only briefly for
another program's lock."""

from __future__ import annotations

import sqlite3
import time

import pytest
from PySide6.QtWidgets import QApplication

from mammo_annotator.store.engine import DatabaseError


def _copy(project, dest):
    """A consistent copy of the open project (its -wal included), as a backup would be."""
    src, dst = sqlite3.connect(str(project.path)), sqlite3.connect(str(dest))
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return dest


def test_opening_a_copy_of_the_open_project_shows_the_highlighted_image(window, tmp_path):
    before = window.worklist.current_image_id()
    assert before is not None and window.page.image_id == before
    copy = _copy(window.project, tmp_path / "copy.sqlite")
    window._open_path(str(copy), create=False)
    QApplication.processEvents()
    assert window.project.path.name == "copy.sqlite"
    assert window.worklist.current_image_id() == before
    assert window.page.image_id == before  # not a blank canvas under a highlighted row
    assert window.page.view.pixels is not None


def test_opening_a_copy_after_choosing_another_row_keeps_that_row_and_shows_it(window, tmp_path):
    window.worklist.step(2)
    QApplication.processEvents()
    chosen = window.worklist.current_image_id()
    assert window.page.image_id == chosen
    window._open_path(str(_copy(window.project, tmp_path / "copy.sqlite")), create=False)
    QApplication.processEvents()
    assert window.page.image_id == chosen == window.worklist.current_image_id()


def test_the_window_opens_the_first_image_once_on_start(qtbot, project, monkeypatch):
    from tests.qt.conftest import shown_window
    from mammo_annotator.qt.image_page import ImagePage

    opened: list[int] = []
    real = ImagePage.open_image
    monkeypatch.setattr(ImagePage, "open_image", lambda self, i, **kw: opened.append(i) or real(self, i, **kw))
    w = shown_window(qtbot, project)
    assert len(opened) == 1 and w.page.image_id == opened[0] == w.worklist.current_image_id()
    w.close()


def test_gui_thread_writes_give_up_in_about_2_s_while_another_program_holds_the_lock(window, tmp_path):
    for project in (window.project, None):  # the first project, then one switched to
        if project is None:
            window._open_path(str(_copy(window.project, tmp_path / "copy.sqlite")), create=False)
            project = window.project
        locker = sqlite3.connect(str(project.path), isolation_level=None, timeout=30)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            t0 = time.monotonic()
            with pytest.raises(DatabaseError, match="locked by another program"):
                project.set_setting("from_gui", 1)
            assert time.monotonic() - t0 < 6
        finally:
            locker.execute("ROLLBACK")
            locker.close()


def test_file_open_of_an_empty_file_says_so_and_keeps_the_current_project(window, tmp_path, monkeypatch):
    from mammo_annotator.qt import project_opening

    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(project_opening, "show_error", lambda parent, title, text, *a: shown.append((title, text)))
    current = window.project
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    window._open_path(str(empty), create=False)
    assert window.project is current
    assert shown and str(empty) in shown[-1][1] and "is empty, not a project yet" in shown[-1][1]
    assert empty.stat().st_size == 0
