"""The viewer and drawing tools at their edges: zoom limits, the corner's W/L readout, a stroke
cancelled with the button still down, odd worklist searches."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from mammo_annotator.services import annotations as ann_service
from mammo_annotator.qt.contour_tool import Tool
from mammo_annotator.qt.canvas_viewbox import MAX_ZOOM, MIN_ZOOM_OF_FIT

from .conftest import circle, drag, to_widget


def _wheel(view, x: float, y: float, steps: int, delta: int = 240) -> None:
    """``steps`` wheel notches over image point (x, y): positive ``delta`` zooms in."""
    pos = to_widget(view, x, y)
    for _ in range(steps):
        ev = QWheelEvent(QPointF(pos), QPointF(view.viewport().mapToGlobal(pos)), QPoint(0, 0), QPoint(0, delta),
                         Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
        QApplication.sendEvent(view.viewport(), ev)
    QApplication.processEvents()


def _scale(view) -> float:
    """Screen pixels per image pixel."""
    (x0, x1), _ = view.vb.viewRange()
    return view.vb.width() / (x1 - x0)


def test_wheel_zoom_stops_at_single_pixels_and_comes_back(window):
    view = window.page.view
    h, w = view.pixels.shape
    fit = min(view.vb.width() / w, view.vb.height() / h)
    _wheel(view, 200, 250, 60)  # far more notches than any reader turns
    assert _scale(view) <= MAX_ZOOM * 1.01
    (x0, x1), (y0, y1) = view.vb.viewRange()
    assert x1 - x0 > 1 and y1 - y0 > 1  # pixels, not a billionth of one
    _wheel(view, 200, 250, 100, delta=-240)
    assert _scale(view) >= fit * MIN_ZOOM_OF_FIT * 0.99  # the image is still there to see
    assert _scale(view) < fit  # and the wheel did zoom back out past the fit
    before = _scale(view)
    _wheel(view, 200, 250, 2)
    assert _scale(view) > before


def test_corner_text_follows_the_window_drag_and_presets(window):
    view = window.page.view
    drag(view, [(200, 200), (230, 230), (260, 250)], button=Qt.RightButton)
    corner = view.corners["top"].text()
    assert f"W/L {view.window.width:.0f}/{view.window.center:.0f} (custom)" in corner
    QTest.keyClick(window, Qt.Key_F3)
    assert f"({view.window.name})" in view.corners["top"].text() and "custom" not in view.corners["top"].text()


def _stroke_with_interruption(window, interrupt) -> None:
    """A freehand stroke round a circle whose button is still down when ``interrupt()`` runs."""
    view = window.page.view
    vp = view.viewport()
    pts = [to_widget(view, *p) for p in circle(250, 250, 40, 16)]
    QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, pts[0])

    def move(points):
        for p in points:
            QApplication.sendEvent(vp, QMouseEvent(QEvent.MouseMove, QPointF(p), QPointF(vp.mapToGlobal(p)),
                                                   Qt.NoButton, Qt.LeftButton, Qt.NoModifier))

    move(pts[1:8])
    interrupt()
    move(pts[8:])
    QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, pts[-1])
    QApplication.processEvents()


def test_escape_during_a_freehand_stroke_saves_nothing(window, project):
    image_id = window.page.image_id
    window.page.set_tool(Tool.FREEHAND)
    before = len(ann_service.contours(project, image_id))
    _stroke_with_interruption(window, lambda: QTest.keyClick(window.page.view, Qt.Key_Escape))
    assert len(ann_service.contours(project, image_id)) == before  # was: the rest of the stroke was saved
    assert not window.page._handler.drawing


def test_a_freehand_stroke_is_not_carried_onto_the_next_image(window, project):
    first = window.page.image_id
    window.page.set_tool(Tool.FREEHAND)
    _stroke_with_interruption(window, lambda: QTest.keyClick(window, Qt.Key_PageDown))
    second = window.page.image_id
    assert second != first
    assert ann_service.contours(project, second) == []  # was: the half stroke landed on the new image
    assert not window.page._handler.drawing
    # the tool still works for the next, whole stroke
    drag(window.page.view, circle(250, 250, 40, 16) + [circle(250, 250, 40, 16)[0]])
    assert len(ann_service.contours(project, second)) == 1


def test_a_long_search_without_matches_keeps_the_worklist_narrow(window):
    wl = window.worklist
    width = window.width()
    wl.search.setText("1.2.840.113619.2.55.3.604688119.969.1268071029.320" * 20)  # a pasted UID, no space to wrap
    QApplication.processEvents()
    assert window.width() == width and wl.width() < 600  # was: the window grew to 38 000 px
    assert wl.no_matches.isVisible() and "…" in wl.no_matches.text()
    assert wl.no_matches.sizeHint().width() < 400
    wl.search.setText("[(*")  # regex characters are plain text
    QApplication.processEvents()
    assert wl.proxy.rowCount() == 0 and "[(*" in wl.no_matches.text()
    wl.search.setText("<b>x</b>")  # shown as typed, not as markup
    QApplication.processEvents()
    assert wl.no_matches.textFormat() == Qt.PlainText and "<b>x</b>" in wl.no_matches.text()
    wl.search.setText("")
    QApplication.processEvents()
    assert wl.proxy.rowCount() == 6 and not wl.no_matches.isVisible()


def test_closing_an_outline_of_two_points_says_why_nothing_happened(window, project):
    from .conftest import click, double_click

    view, image_id = window.page.view, window.page.image_id
    window.page.set_tool(Tool.POLYGON)
    click(view, 100, 100)
    double_click(view, 200, 100)  # a reader's habit: double-click to close, here after two points
    assert "at least 3 points" in window.statusBar().currentMessage()  # was: silence
    assert len(window.page._handler.points) == 2  # kept: one more click makes an outline
    window.statusBar().clearMessage()
    QTest.keyClick(view, Qt.Key_Return)
    assert "at least 3 points" in window.statusBar().currentMessage()
    click(view, 150, 200)
    QTest.keyClick(view, Qt.Key_Return)
    assert len(ann_service.contours(project, image_id)) == 1
    window.page.set_tool(Tool.FREEHAND)
    drag(view, [(300, 300), (330, 300)])  # a flick of the mouse, not an outline
    assert "too short" in window.statusBar().currentMessage()
    assert len(ann_service.contours(project, image_id)) == 1


def test_four_view_of_an_image_without_a_view_says_why_it_is_empty(window, project):
    from mammo_annotator.store.schema import ImageRow

    image_id = window.page.image_id
    with project.session() as s:
        row = s.get(ImageRow, image_id)
        row.laterality, row.view = None, None
    window.page.reload()
    window.open_image(image_id)
    QTest.keyClick(window, Qt.Key_H)
    assert window.center.currentWidget() is window.four
    panes = window.four.panes.values()
    assert all(p.record is None or p.record.id != image_id for p in panes)
    empty = [p for p in panes if p.record is None]
    assert empty and all("not a standard view" in p.view.notice_text() for p in empty)  # was: blank panes
    QTest.keyClick(window, Qt.Key_H)
    window.open_image(window.worklist.current_image_id())
