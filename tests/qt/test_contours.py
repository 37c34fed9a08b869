"""Drawing, editing and undoing contours with real mouse and key events; the database is checked."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from mammo_annotator.core.types import AnnotationStatus, LesionClass
from mammo_annotator.qt.contour_layer import roi_points
from mammo_annotator.qt.contour_tool import Tool
from mammo_annotator.services import annotations as ann_service
from mammo_annotator.services import viewing

from .conftest import circle, click, double_click, drag, to_widget


def _image_id(project, side: str, patient: str = "P001") -> int:
    return next(r.image_id for r in viewing.worklist(project) if r.patient == patient and r.side == side)


def _open(window, qtbot, image_id: int) -> None:
    window.worklist.select_image(image_id)
    qtbot.waitUntil(lambda: window.page.image_id == image_id)
    window.page.view.fit()


def _region_labels(project, image_id: int) -> dict[str, int]:
    b = viewing.load_bundle(project, image_id)
    out: dict[str, int] = {}
    for lab in b.regions.labels:
        out[lab] = out.get(lab, 0) + 1
    return out


def test_polygon_contour_is_saved_with_region_labels(window, project, qtbot):
    image_id = _image_id(project, "L-CC")
    _open(window, qtbot, image_id)
    view = window.page.view
    QTest.keyClick(window, Qt.Key_P)
    assert window.page.tool is Tool.POLYGON
    pts = [(150, 170), (230, 175), (235, 245), (160, 240)]
    for x, y in pts:
        click(view, x, y)
    click(view, 151, 171)  # on the first vertex: closes the outline
    anns = ann_service.contours(project, image_id)
    assert len(anns) == 1
    a = anns[0]
    assert a.annotator == "tester" and a.cls is LesionClass.MALIGNANT
    assert np.allclose(a.polygon.as_array().min(0), (150, 170), atol=2)
    assert viewing.image_record(project, image_id).status is AnnotationStatus.CONTOURED
    labels = _region_labels(project, image_id)
    assert labels.get("M", 0) >= 1 and labels.get("BN", 0) >= 1
    assert window.page.regions.has_labels  # the overlay shows them
    assert window.page.contours.records[0].id == a.id  # and the outline is drawn


def test_polygon_closes_on_double_click_and_enter(window, project, qtbot):
    image_id = _image_id(project, "L-MLO")
    _open(window, qtbot, image_id)
    view = window.page.view
    QTest.keyClick(window, Qt.Key_P)
    QTest.keyClick(window, Qt.Key_2)  # benign class
    for x, y in [(100, 100), (160, 100), (160, 160)]:
        click(view, x, y)
    double_click(view, 100, 160)
    anns = ann_service.contours(project, image_id)
    assert len(anns) == 1 and anns[0].cls is LesionClass.BENIGN
    QTest.keyClick(window, Qt.Key_1)
    for x, y in [(200, 300), (260, 300), (260, 360)]:
        click(view, x, y)
    QTest.keyClick(window, Qt.Key_Return)
    anns = ann_service.contours(project, image_id)
    assert len(anns) == 2 and anns[1].cls is LesionClass.MALIGNANT


def test_freehand_contour_by_drag(window, project, qtbot):
    image_id = _image_id(project, "L-CC")
    _open(window, qtbot, image_id)
    QTest.keyClick(window, Qt.Key_F)
    assert window.page.tool is Tool.FREEHAND
    drag(window.page.view, circle(190, 205, 40, n=40))
    anns = ann_service.contours(project, image_id)
    assert len(anns) == 1
    poly = anns[0].polygon
    assert len(poly.points) >= 8
    assert abs(poly.area - np.pi * 40**2) / (np.pi * 40**2) < 0.15
    assert _region_labels(project, image_id).get("M", 0) >= 1


def test_vertex_edit_move_undo_redo(window, project, qtbot):
    image_id = _image_id(project, "L-CC")
    _open(window, qtbot, image_id)
    view = window.page.view
    QTest.keyClick(window, Qt.Key_P)
    square = [(150, 150), (250, 150), (250, 250), (150, 250)]
    for x, y in square:
        click(view, x, y)
    QTest.keyClick(window, Qt.Key_Return)
    original = ann_service.contours(project, image_id)[0]

    QTest.keyClick(window, Qt.Key_E)  # edit tool: ROIs with handles
    roi = window.page.contours.items[original.id]
    corner = roi_points(roi)[2]
    drag(view, [tuple(corner), (corner[0] + 15, corner[1] + 10), (corner[0] + 30, corner[1] + 20)])
    qtbot.waitUntil(lambda: not np.allclose(ann_service.contours(project, image_id)[0].polygon.as_array(),
                                            original.polygon.as_array()))
    edited = ann_service.contours(project, image_id)[0].polygon.as_array()
    assert np.any(np.all(np.isclose(edited, (280, 270), atol=2.5), axis=1)), edited

    # move the whole contour by dragging its inside
    roi = window.page.contours.items[original.id]
    drag(view, [(190, 190), (200, 195), (210, 200)])
    qtbot.waitUntil(lambda: not np.allclose(ann_service.contours(project, image_id)[0].polygon.as_array(), edited))
    moved = ann_service.contours(project, image_id)[0].polygon.as_array()
    assert np.allclose(moved.min(0), edited.min(0) + (20, 10), atol=2.5)

    QTest.keyClick(window, Qt.Key_Z, Qt.ControlModifier)  # undo the move
    assert np.allclose(ann_service.contours(project, image_id)[0].polygon.as_array(), edited, atol=1e-3)
    QTest.keyClick(window, Qt.Key_Z, Qt.ControlModifier)  # undo the vertex edit
    assert np.allclose(ann_service.contours(project, image_id)[0].polygon.as_array(),
                       original.polygon.as_array(), atol=1e-3)
    QTest.keyClick(window, Qt.Key_Z, Qt.ControlModifier)  # undo the drawing
    assert ann_service.contours(project, image_id) == []
    assert viewing.image_record(project, image_id).status is AnnotationStatus.NOT_ANNOTATED
    assert _region_labels(project, image_id) == {None: len(viewing.load_bundle(project, image_id).regions.labels)}
    QTest.keyClick(window, Qt.Key_Y, Qt.ControlModifier)  # redo: the contour is back, labelled
    assert len(ann_service.contours(project, image_id)) == 1
    assert _region_labels(project, image_id).get("M", 0) >= 1
    QTest.keyClick(window, Qt.Key_Y, Qt.ControlModifier)
    assert np.allclose(ann_service.contours(project, image_id)[0].polygon.as_array(), edited, atol=1e-3)


def test_delete_and_class_switch_are_undoable(window, project, qtbot):
    image_id = _image_id(project, "L-CC")
    _open(window, qtbot, image_id)
    view = window.page.view
    QTest.keyClick(window, Qt.Key_P)
    for x, y in [(150, 150), (250, 150), (250, 250)]:
        click(view, x, y)
    QTest.keyClick(window, Qt.Key_Return)
    aid = ann_service.contours(project, image_id)[0].id
    QTest.keyClick(window, Qt.Key_E)
    click(view, 220, 170)  # inside the triangle: selects it
    assert window.page.contours.selected == aid
    QTest.keyClick(window, Qt.Key_C)
    assert ann_service.contours(project, image_id)[0].cls is LesionClass.BENIGN
    QTest.keyClick(window, Qt.Key_Delete)
    assert ann_service.contours(project, image_id) == []
    QTest.keyClick(window, Qt.Key_Z, Qt.ControlModifier)
    QTest.keyClick(window, Qt.Key_Z, Qt.ControlModifier)
    anns = ann_service.contours(project, image_id)
    assert len(anns) == 1 and anns[0].cls is LesionClass.MALIGNANT


def test_no_malignant_confirmation(window, project, qtbot):
    image_id = _image_id(project, "R-CC")
    _open(window, qtbot, image_id)
    QTest.keyClick(window, Qt.Key_N)
    assert viewing.image_record(project, image_id).status is AnnotationStatus.NO_MALIGNANT
    labels = _region_labels(project, image_id)
    assert set(labels) == {"BN"}
    assert window.side.no_malignant.isChecked()
    QTest.keyClick(window, Qt.Key_Z, Qt.ControlModifier)
    assert viewing.image_record(project, image_id).status is AnnotationStatus.NOT_ANNOTATED
    assert not window.side.no_malignant.isChecked()


def test_cursor_readout(window, project, qtbot):
    image_id = _image_id(project, "L-CC")
    _open(window, qtbot, image_id)
    view = window.page.view
    with qtbot.waitSignal(view.cursorMoved, timeout=2000) as sig:
        QTest.mouseMove(view.viewport(), to_widget(view, 100.5, 200.5))
    x, y, value = sig.args
    assert abs(x - 100.5) < 1.5 and abs(y - 200.5) < 1.5
    assert value == int(view.pixels[int(y), int(x)])
    assert "value" in window.status_cursor.text()
