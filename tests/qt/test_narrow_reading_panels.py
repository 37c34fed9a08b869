"""The Marks tab, the Contours tab and the CAD legend at the window sizes readers use: at 800
and 1024 px the Marks tab needed 302 px (it scrolled sideways in a 250-pixel panel), the
contour list cut its "By, when" column at 1366 x 768, and the legend wrapped to six lines over
the breast at 800 x 600. Each now fits, shorter where narrow, its whole text in a tooltip."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QPoint
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip

from mammo_annotator.core.types import LesionClass, Polygon
from mammo_annotator.services import annotations as ann_service
from mammo_annotator.services import viewing

from .conftest import shown_window


def _window(qtbot, project, size: tuple[int, int]):
    w = shown_window(qtbot, project, size, 'screenshot')
    qtbot.wait(50)
    return w


def _open_lcc(w, qtbot, project) -> int:
    image_id = next(r.image_id for r in viewing.worklist(project) if r.patient == "P001" and r.side == "L-CC")
    w.worklist.select_image(image_id)
    qtbot.waitUntil(lambda: w.page.image_id == image_id and w.page.bundle is not None)
    w.page.view.fit()
    QApplication.processEvents()
    return image_id


@pytest.mark.parametrize("size", [(800, 600), (1024, 768)])
def test_the_marks_tab_fits_a_narrow_panel_without_sideways_scrolling(qtbot, project, size):
    w = _window(qtbot, project, size)
    _open_lcc(w, qtbot, project)
    w.tabs.setCurrentIndex(1)  # Marks
    qtbot.wait(30)
    scroll = w.tabs.widget(1)
    assert scroll.widget() is w.cad
    assert w.cad.minimumSizeHint().width() <= scroll.viewport().width()
    assert not scroll.horizontalScrollBar().isVisible() and scroll.horizontalScrollBar().maximum() == 0
    assert w.cad.compact and w.cad.reset.text() == "Reset thresholds"
    for short in (w.cad.reset, w.cad.top_k_label, w.cad.thr["M"], w.cad.mode):
        assert short.toolTip(), short  # what the shorter label leaves out
    w.close()


def test_the_marks_tab_keeps_its_full_texts_at_1366(qtbot, project):
    w = _window(qtbot, project, (1366, 768))
    w.tabs.setCurrentIndex(1)
    qtbot.wait(30)
    assert not w.cad.compact and w.cad.reset.text() == "Validation thresholds"
    assert w.cad.thr["M"].prefix() == "p ≥ " and w.cad.per_class.isVisible()
    assert not w.tabs.widget(1).horizontalScrollBar().isVisible()
    w.close()


@pytest.mark.parametrize("size", [(800, 600), (1366, 768), (1920, 1080)])
def test_every_contour_column_is_whole_and_in_sight(qtbot, project, size):
    """Millimetre sizes and a ten-letter name, as in the README's pictures."""
    from mammo_annotator.store.schema import ImageRow

    w = _window(qtbot, project, size)
    image_id = _open_lcc(w, qtbot, project)
    with project.session() as s:
        im = s.get(ImageRow, image_id)
        im.spacing_row_mm = im.spacing_col_mm = 0.1
    w.page.reload()
    ann_service.save_contour(project, image_id, Polygon.from_array([(100, 100), (260, 100), (260, 230), (100, 230)]),
                             "screenshot")
    ann_service.save_contour(project, image_id, Polygon.from_array([(300, 300), (330, 300), (330, 340)]),
                             "screenshot", cls=LesionClass.BENIGN)
    lst = w.contour_list
    qtbot.waitUntil(lambda: lst.table.rowCount() == 2)
    w.tabs.setCurrentIndex(2)
    qtbot.wait(50)
    table, head = lst.table, lst.table.horizontalHeader()
    shown = [c for c in range(head.count()) if not table.isColumnHidden(c)]
    assert len(shown) >= 3
    for c in shown:
        need = max(table.sizeHintForColumn(c), head.sectionSizeHint(c))
        assert head.sectionSize(c) >= need, f"column {c} cut at {size}: {head.sectionSize(c)} < {need}"
        assert 0 <= head.sectionViewportPosition(c)
        assert head.sectionViewportPosition(c) + head.sectionSize(c) <= table.viewport().width(), c
    assert table.horizontalScrollBar().maximum() == 0  # nothing hidden to the right
    assert all(table.horizontalHeaderItem(c).toolTip() for c in shown)  # a short header explained
    for r in range(2):
        tip = table.item(r, 0).toolTip()
        assert "screenshot" in tip and "mm" in tip  # the whole: who, when, class, sizes
    if size[0] >= 1366:
        assert not table.isColumnHidden(2)  # area and longest diameter each in its own column
        assert table.item(0, 1).text().endswith("mm²") and table.item(0, 2).text().endswith(" mm")
    w.close()


def test_a_short_time_says_today_yesterday_or_the_date():
    from datetime import datetime, timezone

    from mammo_annotator.qt.annotation_list import short_time

    now = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
    local = now.astimezone()
    assert short_time(now, now) == f"today {local:%H:%M}"
    assert short_time(datetime(2026, 3, 9, 12, 0, tzinfo=timezone.utc), now).startswith("yesterday ")
    assert short_time(datetime(2026, 1, 5, 12, 0), now).startswith("5 ")  # naive: stored UTC
    assert short_time(datetime(2024, 1, 5, 12, 0, tzinfo=timezone.utc), now) == "2024-01-05"
    assert short_time(None) == "—"


def _legend_label(w):
    return w.page.view.corners["bottom"]


def test_the_cad_legend_covers_at_most_two_lines_at_800x600(qtbot, project):
    w = _window(qtbot, project, (800, 600))
    _open_lcc(w, qtbot, project)
    label = _legend_label(w)
    qtbot.waitUntil(label.isVisible)
    full = w.page.proposals.legend()
    assert "threshold 0.50" in full and "region score" in full
    lines = label.fontMetrics().lineSpacing()
    assert label.height() <= 2 * lines + 10, f"the legend covers {label.height()} px of the image"
    assert label.geometry().right() < w.page.view.width()
    text = label.text()
    assert "v1" in text and "0.50" in text and "mark" in text  # model, threshold, what it found
    assert label.toolTip() == full  # the rest on hover
    # the hover: the label lets the mouse through to the image, the canvas shows its tooltip
    vp = w.page.view.viewport()
    at = vp.mapFrom(w.page.view, label.geometry().center())
    QApplication.sendEvent(vp, QHelpEvent(QEvent.ToolTip, at, vp.mapToGlobal(at)))
    assert QToolTip.isVisible() and "region score" in QToolTip.text()
    QToolTip.hideText()
    w.cad.show_m.setChecked(False)
    w.cad.show_b.setChecked(False)
    assert label.text().endswith("no class shown (Marks tab)")
    w.close()


def test_the_cad_legend_is_whole_at_1366(qtbot, project):
    w = _window(qtbot, project, (1366, 768))
    _open_lcc(w, qtbot, project)
    label = _legend_label(w)
    qtbot.waitUntil(label.isVisible)
    assert label.text() == w.page.proposals.legend() and not label.toolTip()
    assert label.height() <= 3 * label.fontMetrics().lineSpacing() + 10  # three lines, none wrapped
    w.page.view.set_corner_text("bottom", "")  # nothing to say: hidden
    assert label.isHidden() and w.page.view.corner_full_text("bottom") == ""
    w.close()


def test_a_narrow_canvas_shows_the_heat_map_legend_short(qtbot, project):
    w = _window(qtbot, project, (800, 600))
    _open_lcc(w, qtbot, project)
    w.cad.set_mode("heat")
    label = _legend_label(w)
    assert label.text().startswith("Heat") and label.height() <= 2 * label.fontMetrics().lineSpacing() + 10
    assert "0 (clear) to 1 (white)" in label.toolTip()
    w.close()


def test_a_tooltip_over_the_image_away_from_the_legend_is_not_the_legends(qtbot, project):
    w = _window(qtbot, project, (800, 600))
    _open_lcc(w, qtbot, project)
    vp = w.page.view.viewport()
    at = QPoint(vp.width() // 2, 40)
    QToolTip.hideText()
    QApplication.sendEvent(vp, QHelpEvent(QEvent.ToolTip, at, vp.mapToGlobal(at)))
    assert "region score" not in QToolTip.text()
    w.close()
