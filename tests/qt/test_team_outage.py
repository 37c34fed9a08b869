"""A shared PostgreSQL project whose server goes away while the window is open: opening an image
and closing the window never wait for it, and the presence dot shows the other readers only.

The outages are real: a server of the test's own is stopped (``pg_outage.halt``) or frozen
(``pg_outage.freeze``: its processes stopped, as a machine gone from the network looks to a
client; the old code waited for the 10 s connection timeout, or for ever on a pooled connection).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from mammo_annotator.core.synthetic import synthetic_mammogram
from mammo_annotator.qt.stall import StallMeter
from mammo_annotator.qt.worklist_model import STATUS
from mammo_annotator.services import team
from mammo_annotator.services.importing import import_items
from mammo_annotator.services.project import open_project
from mammo_annotator.services.sources import items_from_paths
from tests.pg_outage import freeze, halt, private_pg  # noqa: F401 - the fixture

from .conftest import shown_window

THAW_AFTER_S = 8.0  # the safety net: code that waits for a frozen server for ever fails the bound instead of hanging


def _server_project(url: str, folder, n: int = 2):
    """A project on ``url`` with ``n`` real images (PNG files imported), and their ids."""
    project = open_project(url, create=True)
    paths = []
    for k in range(n):
        path = folder / f"img{k}.png"
        case = synthetic_mammogram(k, size=(512, 416), view="MLO", laterality="LR"[k % 2])
        Image.fromarray(case.pixels.astype(np.uint16)).save(path)
        paths.append(path)
    report = import_items(project, items_from_paths(paths))
    assert len(report.imported) == n, report.failed
    return project, report.imported


def _window(qtbot, project, annotator: str):
    return shown_window(qtbot, project, annotator=annotator)


def _holders(project, image_id: int) -> list[str]:
    return [p.annotator for p in team.on_image(project, image_id)]


def test_opening_an_image_while_the_server_is_frozen_keeps_the_window_responsive(qtbot, private_pg, tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    project, (first, second) = _server_project(private_pg.new_database(), tmp_path)
    w = _window(qtbot, project, "dr.a")
    try:
        qtbot.waitUntil(lambda: w.page.image_id == first, timeout=10_000)
        qtbot.waitUntil(lambda: _holders(project, first) == ["dr.a"], timeout=10_000)
        meter = StallMeter()
        frozen = freeze(private_pg, thaw_after_s=THAW_AFTER_S)
        try:
            meter.start()
            t0 = time.perf_counter()
            shown = w.page.open_image(second)
            returned_s = time.perf_counter() - t0
            qtbot.wait(1500)  # the window goes on meanwhile (the lease of the first image, the poll: all waiting)
            meter.stop()
            assert returned_s < 3.0, f"the open held the window {returned_s:.1f} s"
            assert meter.worst_ms() < 3000, f"the window stalled {meter.worst_ms():.0f} ms"
            assert shown is False  # not shown yet: the server has not answered
            assert w.page.waiting_for_server and w.page.image_id is None  # not the first image under the second's name
            assert "database server" in w.statusBar().currentMessage() and str(private_pg.port) in w.statusBar().currentMessage()
        finally:
            frozen.thaw()
        qtbot.waitUntil(lambda: w.page.image_id == second, timeout=15_000)  # shown once the server answers
        assert not w.page.waiting_for_server and w.page.bundle.record.id == second
        qtbot.waitUntil(lambda: _holders(project, second) == ["dr.a"] and _holders(project, first) == [], timeout=15_000)
    finally:
        w.close()
        project.close()


def test_opening_an_image_while_the_server_is_stopped_says_so(qtbot, private_pg, tmp_path, monkeypatch):
    """A stopped server refuses at once: the open fails with the server and the reason, quickly."""
    from mammo_annotator.qt.image_page import ImagePage
    from PySide6.QtGui import QUndoGroup

    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    project, (first, second) = _server_project(private_pg.new_database(), tmp_path)
    page = ImagePage(project, "dr.a", QUndoGroup())
    errors: list[tuple[str, str]] = []
    page.error.connect(lambda title, text: errors.append((title, text)))
    try:
        assert page.open_image(first)
        halt(private_pg)
        t0 = time.perf_counter()
        assert page.open_image(second) is False
        assert time.perf_counter() - t0 < 3.0
        assert errors and errors[-1][0] == "Cannot open image"
        assert str(private_pg.port) in errors[-1][1] and "refused" in errors[-1][1].lower()
        assert page.image_id is None and not page.waiting_for_server
    finally:
        project.close()


def test_closing_does_not_wait_for_a_poll_stuck_on_a_frozen_server(qtbot, private_pg, tmp_path, monkeypatch):
    from mammo_annotator.qt.team_sync import TeamSync
    from tests.helpers import add_blank_image

    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    project = open_project(private_pg.new_database(), create=True)
    image_id = add_blank_image(project)
    sync = TeamSync(project, lambda: "dr.a")
    sync.poll_timer.stop()
    after_stop: list[object] = []
    try:
        with qtbot.waitSignal(sync.othersChanged, timeout=10_000):
            sync.image_shown(image_id)  # the lease, taken in the lease thread
        assert _holders(project, image_id) == ["dr.a"]
        frozen = freeze(private_pg, thaw_after_s=THAW_AFTER_S)
        try:
            assert sync.poll_in_background()  # a read now stuck on the frozen server
            time.sleep(0.2)
            t0 = time.perf_counter()
            sync.stop()
            stop_s = time.perf_counter() - t0
            assert stop_s < 3.0, f"closing waited {stop_s:.1f} s for the server"
            sync.polled.connect(after_stop.append)
            sync.othersChanged.connect(after_stop.append)
        finally:
            frozen.thaw()
        for thread in (sync._reading, sync._lease_thread):  # the abandoned threads end once it answers
            thread.join(15)
            assert not thread.is_alive()
        qtbot.wait(200)
        assert after_stop == []  # nothing reaches the window after it stopped listening
        assert _holders(project, image_id) == []  # the close asked for at stop has been done, whole
    finally:
        project.close()


@pytest.fixture
def two_sessions(pg_url, tmp_path, monkeypatch):
    """One PostgreSQL project open twice: this window's session and a colleague's."""
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    here, images = _server_project(pg_url, tmp_path)
    elsewhere = open_project(pg_url)
    yield here, elsewhere, images
    elsewhere.close()
    here.close()


def test_the_presence_dot_shows_the_other_readers_only(qtbot, two_sessions):
    here, elsewhere, (first, second) = two_sessions
    w = _window(qtbot, here, "dr.a")
    try:
        w.team.poll_timer.stop()
        qtbot.waitUntil(lambda: w.page.image_id == first, timeout=10_000)
        qtbot.waitUntil(lambda: _holders(elsewhere, first) == ["dr.a"], timeout=10_000)  # the reader's own lease
        model = w.worklist.model

        def status(image_id: int, role=None):
            from PySide6.QtCore import Qt

            row = next(i for i, r in enumerate(model.rows) if r.image_id == image_id)
            return model.data(model.index(row, STATUS), role or Qt.DisplayRole)

        w.team.poll()
        w.refresh_worklist()
        assert "●" not in status(first)  # only the reader is on it: no dot
        team.open_image(elsewhere, first, "dr.b")
        team.open_image(elsewhere, second, "dr.c")
        w.team.poll()
        from PySide6.QtCore import Qt

        assert "●" in status(first) and status(first, Qt.ToolTipRole).endswith("open now by dr.b")
        assert "●" in status(second) and status(second, Qt.ToolTipRole).endswith("open now by dr.c")
        assert w.statusBar().currentMessage() == "Also on this image: dr.b"
        team.close_image(elsewhere, first, "dr.b")
        w.team.poll()
        assert "●" not in status(first)
    finally:
        w.close()
