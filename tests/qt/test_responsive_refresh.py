"""The window's refreshes after a save or a new model: one worklist row updated in place (no
reset of the list, the selection kept), and the views after a new model refreshed one per
event-loop turn. The slowness these avoid is measured in benchmarks/bench_gui_stall.py."""

from __future__ import annotations

import gc

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from mammo_annotator.qt.heap import collector_paused, freeze_long_lived
from mammo_annotator.qt.worklist_model import P_M, STATUS
from mammo_annotator.services import viewing
from mammo_annotator.store import models as model_store

from .conftest import click


def _row_of(panel, image_id: int) -> int:
    return next(i for i, r in enumerate(panel.model.rows) if r.image_id == image_id)


def test_a_saved_contour_updates_its_row_in_place(window, qtbot):
    panel = window.worklist
    image_id = next(r.image_id for r in panel.model.rows if r.status == "not_annotated")
    others = {r.image_id: r for r in panel.model.rows if r.image_id != image_id}
    panel.select_image(image_id)
    qtbot.waitUntil(lambda: window.page.image_id == image_id)
    resets: list[int] = []
    panel.model.modelReset.connect(lambda: resets.append(1))
    window.page.view.fit()
    QTest.keyClick(window, Qt.Key_P)
    for px, py in ((150, 150), (210, 155), (205, 210), (150, 200)):
        click(window.page.view, px, py)
    QTest.keyClick(window, Qt.Key_Return)
    QApplication.processEvents()
    i = _row_of(panel, image_id)
    assert panel.model.rows[i].status == "contoured" and panel.model.rows[i].n_contours == 1
    assert panel.model.data(panel.model.index(i, STATUS)) == "outlined (1)"  # no ●: only this reader has it open
    assert resets == []  # the list was not rebuilt
    assert panel.current_image_id() == image_id  # the selection stayed on the image
    assert {r.image_id: r for r in panel.model.rows if r.image_id != image_id} == others
    text_width = panel.table.fontMetrics().horizontalAdvance("outlined (1)")
    assert panel.table.horizontalHeader().sectionSize(STATUS) > text_width  # the new text is not cut


def test_a_new_model_refreshes_the_list_and_the_image(window, project, qtbot):
    image_id = window.page.image_id
    with project.session() as s:
        old = model_store.active_model_id(s)
        vid = model_store.add_model_version(s, "demo-v2", "demo-extractor", "g", {}, {}, {}, b"")
        for r in window.worklist.model.rows:
            pred = model_store.prediction(s, old, r.image_id)
            model_store.put_prediction(s, vid, r.image_id, pred.grid_id, 0.42, 0.11, pred.region_scores)
        model_store.activate(s, vid)
    resets: list[int] = []
    window.worklist.model.modelReset.connect(lambda: resets.append(1))
    spans: set[tuple[int, int]] = set()
    window.worklist.model.dataChanged.connect(  # a thumbnail that arrives meanwhile is not the model's
        lambda a, b, roles=(): None if list(roles) == [Qt.DecorationRole] else spans.add((a.column(), b.column())))
    project.events.emit("model_added", version_id=vid)
    project.events.emit("model_activated", version_id=vid)
    # both announcements queue each view once, and nothing has been redrawn in this turn
    assert window.steps.pending() == ["model history", "worklist", "image"]
    assert vid not in [v.id for v in window.model_ui.history.versions]
    qtbot.waitUntil(lambda: window.page.bundle.model is not None and window.page.bundle.model.id == vid)
    qtbot.waitUntil(lambda: all(r.p_m == 0.42 for r in window.worklist.model.rows))
    assert window.steps.pending() == [] and vid in [v.id for v in window.model_ui.history.versions]
    assert window.page.image_id == image_id and resets == []  # same images: updated in place
    # p(M) redrawn; the status cell at most where someone's presence changed meanwhile; never the rest
    assert (P_M, P_M) in spans and all(a >= STATUS and b == P_M for a, b in spans)
    assert [r.p_m for r in viewing.worklist(project)] == [0.42] * len(window.worklist.model.rows)


def test_rows_of_some_images_equal_those_of_the_whole_list(project):
    rows = viewing.worklist(project)
    some = [rows[0].image_id, rows[-1].image_id]
    assert viewing.worklist(project, some + [10_000]) == sorted([rows[0], rows[-1]], key=lambda r: r.image_id)
    assert viewing.worklist(project, []) == []
    names = viewing.image_names(project, some)
    assert names == {r.image_id: f"{r.patient_label} {r.side}" for r in (rows[0], rows[-1])}


def test_the_shown_window_is_out_of_the_collectors_reach(window):
    assert gc.get_freeze_count() > 10_000  # modules, classes and widgets are not walked again
    before = gc.get_freeze_count()
    keep = [[i] for i in range(1000)]
    assert freeze_long_lived("test") >= before + 1000
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled() and keep


def test_thresholds_read_ahead_equal_a_direct_read(project):
    from mammo_annotator.qt.operating_points import OperatingPoints
    from mammo_annotator.services import cad

    with project.session() as s:
        vid = model_store.active_model_id(s)
    project.set_setting("validation_patients", sorted({r.patient for r in viewing.worklist(project)}))
    warnings: list[str] = []
    points = OperatingPoints(project, warnings.append)
    points.prefetch(vid)
    points.wait()
    assert not points.reading(vid) and vid in points._points  # read by the thread, before anyone asked
    direct = {c: cad.operating_point(project, vid, c) for c in ("M", "B")}
    assert points.get(vid) == direct and direct["M"].source == "validation"
    assert warnings == []
