"""The reading-room behaviour: the contour list with measurements, ruler and ellipse tools,
self-crossing repair, one highlighted selection in Edit, Undo texts, the annotate-next loop
(auto-advance, class reset, keyboard focus), reading mode and the layout kept per annotator."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from mammo_annotator.core.types import LesionClass, Polygon
from mammo_annotator.qt.contour_tool import Tool
from mammo_annotator.services import annotations as ann_service
from mammo_annotator.services import viewing

from .conftest import click, drag


def _image(project, side: str, patient: str = "P001") -> int:
    return next(r.image_id for r in viewing.worklist(project) if r.patient == patient and r.side == side)


def _open(window, qtbot, image_id: int) -> None:
    window.worklist.select_image(image_id)
    qtbot.waitUntil(lambda: window.page.image_id == image_id)
    window.page.view.fit()
    QApplication.processEvents()


def _set_spacing(project, image_id: int, row_mm: float, col_mm: float) -> None:
    from mammo_annotator.store.schema import ImageRow

    with project.session() as s:
        im = s.get(ImageRow, image_id)
        im.spacing_row_mm, im.spacing_col_mm = row_mm, col_mm


def test_contour_list_shows_measurements_in_mm_and_selects_and_deletes(window, project, qtbot):
    image_id = _image(project, "L-CC")
    _set_spacing(project, image_id, 0.1, 0.1)
    _open(window, qtbot, image_id)
    ann_service.save_contour(project, image_id, Polygon.from_array([(100, 100), (200, 100), (200, 150), (100, 150)]), "dr. a")
    ann_service.save_contour(project, image_id, Polygon.from_array([(300, 300), (330, 300), (330, 340)]), "dr. b",
                             cls=LesionClass.BENIGN)
    lst = window.contour_list
    qtbot.waitUntil(lambda: lst.table.rowCount() == 2)
    cells = [[lst.table.item(r, c).text() for c in range(4)] for r in range(2)]
    assert cells[0][0] == "Malignant" and cells[1][0] == "Benign"
    assert cells[0][3].startswith("dr. a\n") and cells[1][3].startswith("dr. b\n")  # annotator, then the time
    assert cells[0][1] == "50.0 mm²"  # 100 x 50 px at 0.1 mm
    assert cells[0][2] == f"{np.hypot(10, 5):.1f} mm"  # the diagonal
    assert cells[1][2] == "5.0 mm" and "mm" in lst.hint.text()
    second = ann_service.contours(project, image_id)[1].id
    lst.table.selectRow(1)  # a click on the row: selected on the canvas and centred
    assert window.page.contours.selected == second
    (x0, x1), (y0, y1) = window.page.view.vb.viewRange()
    assert abs((x0 + x1) / 2 - 315) < 2 and abs((y0 + y1) / 2 - 320) < 2  # the centre of its bounds
    QTest.keyClick(window, Qt.Key_Delete)
    assert [a.cls for a in ann_service.contours(project, image_id)] == [LesionClass.MALIGNANT]
    assert window.undo_action.text() == "&Undo delete benign contour"
    qtbot.waitUntil(lambda: lst.table.rowCount() == 1)


def test_sizes_in_pixels_without_spacing(window, project, qtbot):
    image_id = _image(project, "L-MLO")
    _open(window, qtbot, image_id)
    ann_service.save_contour(project, image_id, Polygon.from_array([(100, 100), (160, 100), (160, 180), (100, 180)]), "x")
    qtbot.waitUntil(lambda: window.contour_list.table.rowCount() == 1)
    assert window.contour_list.table.item(0, 1).text() == "4800 px²"
    assert window.contour_list.table.item(0, 2).text() == "100 px"


def test_ruler_measures_in_mm(window, project, qtbot):
    image_id = _image(project, "L-CC")
    _set_spacing(project, image_id, 0.2, 0.1)  # rows 0.2 mm apart, columns 0.1 mm
    _open(window, qtbot, image_id)
    window.page.reload()  # the first image was already open before the spacing was set
    QTest.keyClick(window, Qt.Key_R)
    assert window.page.tool is Tool.RULER
    drag(window.page.view, [(100, 100), (150, 100), (200, 100)])  # 100 px across: 10 mm
    ruler = window.page._handler
    assert abs(ruler.show_line(ruler.start, ruler.end)[0] - 10.0) < 0.5
    assert ruler.text_value.endswith(" mm")
    drag(window.page.view, [(100, 100), (100, 130), (100, 150)])  # 50 px down: 10 mm
    assert ruler.text_value == f"{ruler.show_line(ruler.start, ruler.end)[0]:.1f} mm"
    assert abs(ruler.show_line(ruler.start, ruler.end)[0] - 10.0) < 0.5
    assert ann_service.contours(project, image_id) == []  # a measurement, not an annotation
    QTest.keyClick(window, Qt.Key_Escape)
    assert ruler.text_value == ""


def test_ellipse_tool_stores_a_contour(window, project, qtbot):
    image_id = _image(project, "L-CC")
    _open(window, qtbot, image_id)
    QTest.keyClick(window, Qt.Key_O)
    drag(window.page.view, [(150, 160), (200, 200), (250, 240)])
    (a,) = ann_service.contours(project, image_id)
    x0, y0, x1, y1 = a.polygon.bounds
    assert abs(x0 - 150) < 3 and abs(x1 - 250) < 3 and abs(y0 - 160) < 3 and abs(y1 - 240) < 3
    assert abs(a.polygon.area - np.pi * 50 * 40) / (np.pi * 50 * 40) < 0.02
    assert a.cls is LesionClass.MALIGNANT


def test_self_crossing_polygon_is_repaired_not_discarded(window, project, qtbot):
    image_id = _image(project, "L-CC")
    _open(window, qtbot, image_id)
    QTest.keyClick(window, Qt.Key_P)
    bowtie = [(150, 150), (250, 250), (250, 150), (150, 250)]  # crosses itself at (200, 200)
    for x, y in bowtie:
        click(window.page.view, x, y)
    tool = window.page._handler
    assert len(tool.markers.data) == 4  # a marker per vertex while drawing
    xs, ys = tool.closing.getData()
    assert len(xs) == 2 and abs(xs[1] - 150) < 2 and abs(ys[1] - 150) < 2  # the closing segment
    QTest.keyClick(window, Qt.Key_Return)
    (a,) = ann_service.contours(project, image_id)
    x0, y0, x1, y1 = a.polygon.bounds
    assert x0 < 153 and x1 > 247 and y0 < 153 and y1 > 247  # both lobes kept: the outer outline
    assert a.polygon.area > 0.4 * 100 * 100
    assert "outer outline" in window.statusBar().currentMessage()


def test_edit_mode_has_one_highlighted_selection(window, project, qtbot):
    image_id = _image(project, "L-CC")
    _open(window, qtbot, image_id)
    for dx in (0, 150):
        ann_service.save_contour(project, image_id, Polygon.from_array([(100 + dx, 100), (180 + dx, 100), (180 + dx, 180)]), "x")
    qtbot.waitUntil(lambda: len(window.page.contours.records) == 2)
    first, second = (r.id for r in window.page.contours.records)
    QTest.keyClick(window, Qt.Key_E)
    layer = window.page.contours
    assert layer.selected == second  # the latest contour is selected on entering Edit
    import pyqtgraph as pg

    assert isinstance(layer.items[second], pg.PolyLineROI) and not isinstance(layer.items[first], pg.ROI)
    assert layer.items[second].pen.widthF() > layer.items[first].pen().widthF() and layer.halo is not None
    click(window.page.view, 165, 120)  # inside the first triangle
    assert layer.selected == first and isinstance(layer.items[first], pg.PolyLineROI)
    assert window.contour_list.selected_id() == first


def test_class_resets_to_malignant_on_each_image_and_focus_is_on_the_image(window, project, qtbot):
    a, b = _image(project, "L-CC"), _image(project, "L-MLO")
    _open(window, qtbot, a)
    QTest.keyClick(window, Qt.Key_2)  # benign
    assert window.page.cls is LesionClass.BENIGN and window.side.cls_b.isChecked()
    window.worklist.table.setFocus()
    _open(window, qtbot, b)
    assert window.page.cls is LesionClass.MALIGNANT and window.side.cls_m.isChecked()
    assert window.focusWidget() is window.page.view
    window.error("Test", "a message")  # closing a dialog gives the keyboard back to the image
    from PySide6.QtWidgets import QMessageBox

    box = next(x for x in window.findChildren(QMessageBox) if x.isVisible())
    window.worklist.search.setFocus()
    box.accept()
    QApplication.processEvents()
    assert window.focusWidget() is window.page.view


def test_auto_advance_after_no_malignant_finding(window, project, qtbot):
    a = _image(project, "R-CC")
    _open(window, qtbot, a)
    window.side.auto_advance.setChecked(True)
    assert window.settings.value("annotate/auto_advance") in (True, "true")
    QTest.keyClick(window, Qt.Key_N)
    qtbot.waitUntil(lambda: window.page.image_id != a)
    assert viewing.image_record(project, a).status.value == "no_malignant"
    window.side.auto_advance.setChecked(False)
    here = window.page.image_id
    QTest.keyClick(window, Qt.Key_N)
    QApplication.processEvents()
    assert window.page.image_id == here  # off: stays on the image


def test_auto_advance_after_a_malignant_contour(window, project, qtbot):
    a = _image(project, "L-CC")
    _open(window, qtbot, a)
    window.side.auto_advance.setChecked(True)
    QTest.keyClick(window, Qt.Key_P)
    for x, y in [(150, 150), (250, 150), (250, 250)]:
        click(window.page.view, x, y)
    QTest.keyClick(window, Qt.Key_Return)
    qtbot.waitUntil(lambda: window.page.image_id != a)
    assert len(ann_service.contours(project, a)) == 1


def test_reading_mode_shows_only_the_image(window, qtbot):
    QTest.keyClick(window, Qt.Key_F11)
    assert window.reading.active and window.isFullScreen()
    assert not any(d.isVisible() for d in window.docks)
    assert not window.menuBar().isVisible() and not window.statusBar().isVisible()
    assert window.page.view.isVisible()
    QTest.keyClick(window, Qt.Key_H)  # shortcuts still work without the menu bar: four views
    assert window.center.currentWidget() is window.four
    QTest.keyClick(window, Qt.Key_Escape)
    assert not window.reading.active and window.menuBar().isVisible()
    assert window.docks[0].isVisible() and window.docks[1].isVisible()


def test_layout_is_remembered_per_annotator(qtbot, project):
    from mammo_annotator.qt.app import temp_settings

    settings = temp_settings()
    w = _opened(qtbot, project, "reader-a", settings)
    assert not w.model_ui.history_dock.isVisible()  # the model docks start closed: the image first
    w.docks[0].hide()  # reader A closes the worklist
    w.side.region_opacity.setValue(22)
    w.close()
    w2 = _opened(qtbot, project, "reader-a", settings)
    assert not w2.docks[0].isVisible() and w2.side.region_opacity.value() == 22
    assert abs(w2.page.regions.alpha - 0.22) < 1e-6
    w2.close()
    w3 = _opened(qtbot, project, "reader-b", settings)  # another reader: the default layout
    assert w3.docks[0].isVisible()
    w3.close()


@pytest.mark.parametrize("size", [(1366, 768), (1600, 1000)])
def test_side_panel_fits_without_scrolling(qtbot, project, size):
    from mammo_annotator.qt.app import ensure_app, temp_settings
    from mammo_annotator.qt.main_window import MainWindow

    ensure_app()
    w = MainWindow(project, "fit", temp_settings())
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    QApplication.processEvents()
    for i in range(w.tabs.count()):
        scroll = w.tabs.widget(i)
        assert not scroll.verticalScrollBar().isVisible(), w.tabs.tabText(i)
        assert not scroll.horizontalScrollBar().isVisible(), w.tabs.tabText(i)
    # the image dominates: most of the height, nearly half the width (a mammogram is portrait)
    assert w.page.view.width() > 0.45 * size[0] and w.page.view.height() > 0.8 * size[1]
    w.close()


def test_one_stable_preset_list_and_the_automatic_breast_window(window, project, qtbot):
    from mammo_annotator.core.windowing import AUTO, DENSE, READING_PRESETS

    names = []
    for side in ("L-CC", "R-MLO"):
        _open(window, qtbot, _image(project, side))
        names.append(list(window.page.view.presets))
        assert window.page.view.window.name == AUTO  # no DICOM window in a PNG: the automatic one
    assert names[0] == names[1] == list(READING_PRESETS)
    assert len(window.wl_actions) == len(READING_PRESETS)
    assert all(a.text().lower().startswith(n.lower()) for a, n in zip(window.wl_actions, READING_PRESETS))
    assert all(a.isEnabled() for a in window.wl_actions)  # no disabled placeholders
    QTest.keyClick(window, Qt.Key_F3)
    assert window.page.view.window.name == DENSE
    px = window.page.view.pixels
    auto = window.page.view.presets[AUTO]
    assert auto.low > float(px.min())  # the background (air) does not set the window


def test_worklist_search_no_matches_labels_and_thumbnails(window, project, qtbot):
    from mammo_annotator.qt.worklist_model import PATIENT, THUMB
    from mammo_annotator.store.schema import ImageRow, PatientRow, StudyRow

    with project.session() as s:  # a dataset-style key and a study date, as mini-MIAS / DICOM imports store them
        study = s.query(StudyRow).join(PatientRow).filter(PatientRow.patient_key == "P003").one()
        study.study_date = "20240105"
        s.query(PatientRow).filter(PatientRow.patient_key == "P003").one().patient_key = "mias-mias003"
        name = s.query(ImageRow).filter(ImageRow.study_id == study.id).one().source_path.rsplit("/", 1)[-1]
    window.refresh_worklist()
    panel = window.worklist
    labels = [panel.proxy.index(r, PATIENT).data() for r in range(panel.proxy.rowCount())]
    assert "mias003" in labels and not any("mias-mias" in t for t in labels)  # no doubled prefix
    for text in ("mias003", name, "2024-01-05", "20240105"):
        panel.search.setText(text)
        assert panel.proxy.rowCount() == 1, text
        assert not panel.no_matches.isVisible()
    panel.search.setText("nothing-like-this")
    assert panel.proxy.rowCount() == 0 and panel.no_matches.isVisible()
    assert "No matches" in panel.no_matches.text()
    panel.search.clear()
    assert panel.proxy.rowCount() == 6 and not panel.no_matches.isVisible()
    head = panel.table.horizontalHeader()
    for col in range(1, panel.model.columnCount()):  # columns sized to their text: nothing cut
        assert head.sectionSize(col) >= panel.table.sizeHintForColumn(col), col
    first = panel.model.rows[0].image_id
    qtbot.waitUntil(lambda: first in panel.model.thumbnails.pixmaps, timeout=10_000)
    pm = panel.model.thumbnails.pixmaps[first]
    assert 0 < pm.height() <= 34 and panel.model.index(0, THUMB).data(Qt.DecorationRole) is not None


def test_closed_model_docks_leave_no_tab_bar_over_the_worklist(window, qtbot):
    """Tabified and hidden before the first show, Qt left the Training / Model history tab bar
    visible, drawn across the worklist; they become tabs when first opened now."""
    from PySide6.QtWidgets import QTabBar

    def titled_bars():
        return [[b.tabText(i) for i in range(b.count())] for b in window.findChildren(QTabBar)
                if b.parent() is window and b.isVisible() and b.count()]

    qtbot.waitExposed(window)
    assert ["Training", "Model history"] not in titled_bars()
    window.model_ui.show_model_docks(window.model_ui.history_dock)
    qtbot.wait(50)
    assert titled_bars().count(["Training", "Model history"]) == 1  # opened: one tab bar, in its place
    assert window.model_ui.history_dock.isVisible() and window.tabifiedDockWidgets(window.model_ui.training_dock)
    for dock in (window.model_ui.training_dock, window.model_ui.history_dock):
        dock.close()
    qtbot.wait(50)
    assert ["Training", "Model history"] not in titled_bars()


@pytest.mark.parametrize("width", [1024, 1366, 1920])
def test_the_image_gets_at_least_two_fifths_of_a_laptop_window(qtbot, project, width):
    """At 1024 px the side panels took 70 % of the width, leaving the image 300 px."""
    from mammo_annotator.qt.app import temp_settings
    from mammo_annotator.qt.main_window import side_widths

    w = _opened(qtbot, project, "tester", temp_settings(), width)
    qtbot.wait(50)
    assert w.page.view.width() >= 0.4 * width
    left, right = side_widths(width)
    assert left >= 240 and right >= 250  # never narrower than their shortest texts and key columns
    assert side_widths(1920) == (360, 340)  # on a large screen they stop growing: the image gets the rest
    w.close()


def test_model_docks_moved_by_the_reader_stay_where_the_saved_layout_put_them(qtbot, project):
    """Made tabs at their first opening in each session, they were pulled back under Training
    even when the reader's saved layout had put Model history elsewhere."""
    from mammo_annotator.qt.app import temp_settings

    settings = temp_settings()
    w = _opened(qtbot, project, "reader-a", settings)
    w.model_ui.show_model_docks()
    w.addDockWidget(Qt.RightDockWidgetArea, w.model_ui.history_dock)  # the reader moves it beside the reading panel
    w.close()
    w2 = _opened(qtbot, project, "reader-a", settings)
    w2.model_ui.show_model_docks()
    assert w2.dockWidgetArea(w2.model_ui.history_dock) == Qt.RightDockWidgetArea
    assert not w2.tabifiedDockWidgets(w2.model_ui.training_dock)
    w2.close()


def _opened(qtbot, project, annotator: str, settings, width: int | None = None):
    """A main window over ``project`` for ``annotator``, shown and exposed."""
    from mammo_annotator.qt.app import ensure_app
    from mammo_annotator.qt.main_window import MainWindow

    ensure_app()
    w = MainWindow(project, annotator, settings)
    qtbot.addWidget(w)
    if width is not None:
        w.resize(width, 720)
    w.show()
    qtbot.waitExposed(w)
    return w
