"""The worklist read again (after a save, a colleague's change, a new model) on a shared server that
went silent: the window goes on, one read runs at a time, and the list shows the change once the
server answers. Each read held the window until the connection's timeout before."""

from __future__ import annotations

import time

from mammo_annotator.services import annotations as ann_service
from mammo_annotator.services.project import open_project
from tests.pg_outage import freeze, private_pg  # noqa: F401 - the fixture

from .test_team_outage import THAW_AFTER_S, _server_project, _window


def _status(window, image_id: int) -> str:
    return next(r.status for r in window.worklist.model.rows if r.image_id == image_id)


def test_worklist_reads_on_a_frozen_server_never_hold_the_window(qtbot, private_pg, tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    project, (first, second) = _server_project(private_pg.new_database(), tmp_path)
    w = _window(qtbot, project, "dr.a")
    colleague = open_project(project.target)
    try:
        qtbot.waitUntil(lambda: w.page.image_id == first, timeout=10_000)
        before = _status(w, second)
        ann_service.set_no_malignant(colleague, second, "dr.b")  # a colleague's change, not yet in this list
        reads = []
        real = w.worklist_reads._apply
        w.worklist_reads._apply = lambda ids, rows: (reads.append(ids), real(ids, rows))
        frozen = freeze(private_pg, thaw_after_s=THAW_AFTER_S)
        try:
            t0 = time.perf_counter()
            w.refresh_worklist_rows([first])
            w.refresh_worklist_rows([second])
            w.refresh_worklist()
            w.refresh_worklist_rows([first])
            held = time.perf_counter() - t0
            assert held < 3.0, f"the window was held {held:.1f} s"
            assert w.worklist_reads.waiting and _status(w, second) == before and reads == []
        finally:
            frozen.thaw()
        qtbot.waitUntil(lambda: _status(w, second) != before, timeout=15_000)
        qtbot.waitUntil(lambda: not w.worklist_reads.waiting, timeout=15_000)
        assert reads == [[first], None]  # the first read, then one for everything asked meanwhile
    finally:
        colleague.close()
        w.close()
        project.close()
