"""Opening and switching images, window/level, presets, invert, four-view, worklist filters."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from mammo_annotator.services import viewing
from mammo_annotator.qt.worklist_model import COLUMNS

from .conftest import click, drag, to_widget


def _ids(project) -> dict[str, int]:
    return {f"{r.patient}:{r.side}": r.image_id for r in viewing.worklist(project)}


def test_opens_first_image_and_switches_with_keys_and_clicks(window, project, qtbot):
    rows = window.worklist.proxy.rowCount()
    assert rows == 6
    first = window.page.image_id
    assert first is not None and window.page.view.pixels is not None
    assert window.page.view.pixels.shape == (512, 416)
    QTest.keyClick(window, Qt.Key_PageDown)
    assert window.page.image_id != first
    QTest.keyClick(window, Qt.Key_PageUp)
    assert window.page.image_id == first
    # a click on the worklist's fourth row opens that image
    table = window.worklist.table
    rect = table.visualRect(window.worklist.proxy.index(3, 0))
    QTest.mouseClick(table.viewport(), Qt.LeftButton, Qt.NoModifier, rect.center())
    assert window.page.image_id == window.worklist.current_image_id()
    assert window.side.info["patient"].text() == viewing.image_record(project, window.page.image_id).patient_key


def test_window_level_by_right_drag_presets_and_invert(window, project, qtbot):
    view = window.page.view
    before = view.window
    drag(view, [(200, 200), (230, 230), (260, 250)], button=Qt.RightButton)
    after = view.window
    assert after.name == "custom"
    assert after.width != before.width and after.center != before.center
    levels = view.image_item.getLevels()
    assert abs(levels[0] - after.low) < 1e-6 and abs(levels[1] - after.high) < 1e-6
    assert "custom" in window.side.window_value.text()
    names = list(view.presets)
    assert names[0] == "breast (auto)" and len(names) == 4
    QTest.keyClick(window, Qt.Key_F3)
    assert view.window.name == names[2]
    assert window.side.presets.currentData() == names[2]
    QTest.keyClick(window, Qt.Key_F2)  # a PNG has no DICOM window: the automatic one, and it says so
    assert "no DICOM window" in view.window.name and "no DICOM window" in window.side.window_value.text()
    QTest.keyClick(window, Qt.Key_I)
    assert view.inverted and window.side.invert.isChecked()
    assert view.image_item.lut is not None and view.image_item.lut[0] == 255


def test_zoom_pan_and_fit(window, qtbot):
    view = window.page.view
    (x0, x1), _ = view.vb.viewRange()
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent

    pos = to_widget(view, 200, 250)
    ev = QWheelEvent(QPointF(pos), QPointF(view.viewport().mapToGlobal(pos)), QPoint(0, 0), QPoint(0, 240),
                     Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QTest.qWait(1)
    from PySide6.QtWidgets import QApplication

    QApplication.sendEvent(view.viewport(), ev)
    (z0, z1), _ = view.vb.viewRange()
    assert (z1 - z0) < (x1 - x0) * 0.9  # zoomed in
    drag(view, [(200, 250), (180, 240), (160, 230)])  # navigate tool: left-drag pans
    (p0, p1), _ = view.vb.viewRange()
    assert abs((p1 - p0) - (z1 - z0)) < 1e-6 and p0 > z0
    QTest.keyClick(window, Qt.Key_Home)
    (f0, f1), _ = view.vb.viewRange()
    assert abs((f1 - f0) - (x1 - x0)) < 2


def test_four_view_hanging_is_synchronised(window, project, qtbot):
    ids = _ids(project)
    window.worklist.select_image(ids["P001:L-CC"])
    QTest.keyClick(window, Qt.Key_H)
    assert window.center.currentWidget() is window.four
    panes = window.four.panes
    assert {k: p.record.id for k, p in panes.items() if p.record} == {
        "R-CC": ids["P001:R-CC"], "L-CC": ids["P001:L-CC"], "R-MLO": ids["P001:R-MLO"], "L-MLO": ids["P001:L-MLO"]}
    # chest walls meet in the middle: the synthetic right breast is stored chest-wall-right already
    assert not panes["R-CC"].flipped and not panes["L-CC"].flipped
    lcc = panes["L-CC"].view
    lcc.vb.setRange(xRange=(0, 100), yRange=(100, 200), padding=0)
    lcc.vb.sigRangeChangedManually.emit([True, True])
    (rx0, rx1), (ry0, ry1) = panes["R-CC"].view.vb.viewRange()
    w = panes["R-CC"].view.pixels.shape[1]
    # same distance from the chest wall, mirrored: L x in [0, 100] <-> R x in [w - 100, w]
    assert abs(rx1 - w) < 25 and abs(rx0 - (w - 100)) < 25
    assert ry0 < 150 < ry1
    QTest.keyClick(window, Qt.Key_H)
    assert window.center.currentWidget() is window.page.view


def test_four_view_mirrors_images_stored_the_other_way(window, project, qtbot, monkeypatch):
    import mammo_annotator.qt.hanging as hanging

    monkeypatch.setattr(hanging, "chest_wall_on_right", lambda pixels, lat: False)  # all stored facing right
    window.four._orientation.clear()
    QTest.keyClick(window, Qt.Key_H)
    assert window.four.panes["R-CC"].flipped and not window.four.panes["L-CC"].flipped
    assert "mirrored" in window.four.panes["R-CC"].title.text()


def test_worklist_search_and_filters(window, project, qtbot):
    panel = window.worklist
    QTest.keyClicks(panel.search, "p002")
    assert panel.proxy.rowCount() == 1
    panel.search.clear()
    panel.weak.setCurrentIndex(panel.weak.findData("M"))
    assert panel.proxy.rowCount() == 2
    panel.weak.setCurrentIndex(0)
    panel.status.setCurrentIndex(panel.status.findData("contoured"))
    assert panel.proxy.rowCount() == 0
    panel.status.setCurrentIndex(0)
    # sort by p(M), descending: the highest probability first
    panel.table.sortByColumn(COLUMNS.index("p(M)"), Qt.DescendingOrder)
    first = panel.proxy.data(panel.proxy.index(0, COLUMNS.index("p(M)")), Qt.UserRole)
    assert float(first) == max(r.p_m for r in viewing.worklist(project))


def test_status_bar_shows_tool_annotator_database(window, project):
    QTest.keyClick(window, Qt.Key_F)
    assert window.status_tool.text() == "Tool: Freehand"
    assert "tester" in window.status_annotator.text()
    assert project.path.name in window.status_db.text()
    QTest.keyClick(window, Qt.Key_V)
    assert window.status_tool.text() == "Tool: Navigate"
    click(window.page.view, 100, 100)  # a click in navigate mode draws nothing
    assert window.page.contours.records == []


def test_the_style_sheet_and_icons_come_from_the_resources(qapp):
    from mammo_annotator.qt.theme import RESOURCES, icon, style_sheet

    assert RESOURCES.name == "resources" and (RESOURCES / "style.qss").is_file()
    assert "QPushButton" in style_sheet()
    assert not icon("polygon").isNull() and icon("polygon").pixmap(22, 22).width() == 22


def test_a_wheel_installs_the_resources_inside_the_package(tmp_path):
    """resources/ is package data: a wheel holds it as mammo_annotator/resources/."""
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(repo), "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"mammo_annotator/resources/{p.relative_to(repo / 'resources').as_posix()}"
               for p in (repo / "resources").rglob("*") if p.is_file()}
    assert "mammo_annotator/resources/style.qss" in shipped and shipped <= names
