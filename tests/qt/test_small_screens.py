"""The window on small screens: at 800 x 600 every control of the reading panel's tabs can be
reached (the panel scrolls both ways, shortens its texts; nothing is cut off out of reach), the
tool bar keeps every button on screen and the worklist its key columns; at 1366 x 768 and
1920 x 1080 the image keeps most of the width."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import (
    QAbstractButton, QAbstractItemView, QAbstractSpinBox, QComboBox, QLineEdit, QSlider, QTabBar, QWidget,
)

from mammo_annotator.qt.worklist_model import COLUMNS

from .conftest import shown_window

THUMB, PATIENT, VIEW, LABEL, STATUS, P_M = (COLUMNS.index(c) for c in ("", "Patient", "View", "Label", "Status", "p(M)"))

CONTROLS = (QAbstractButton, QComboBox, QAbstractSpinBox, QSlider, QLineEdit)


def _window(qtbot, project, size: tuple[int, int]):
    w = shown_window(qtbot, project, size, 'small-screen')
    qtbot.wait(50)
    return w


def _controls(root: QWidget) -> list[QWidget]:
    """The controls a reader clicks, not the parts of a table or a tab bar (those scroll themselves)."""
    def inside(widget, kinds) -> bool:
        p = widget.parentWidget()
        while p is not None and p is not root:
            if isinstance(p, kinds):
                return True
            p = p.parentWidget()
        return False

    return [c for c in root.findChildren(QWidget) if isinstance(c, CONTROLS) and c.isVisibleTo(root)
            and not inside(c, (QAbstractItemView, QTabBar))]


def _name(c: QWidget) -> str:
    return f"{type(c).__name__} {getattr(c, 'text', lambda: '')() or c.toolTip()[:40]!r}"


def test_every_reading_panel_control_can_be_reached_at_800x600(qtbot, project):
    """The tabs' horizontal scroll bar was always off: at 800 px the panel's right part (the
    Confirm button's end, the legend, the Marks tab's thresholds) was cut, out of reach."""
    w = _window(qtbot, project, (800, 600))
    for i in range(w.tabs.count()):
        w.tabs.setCurrentIndex(i)
        qtbot.wait(30)
        scroll, tab = w.tabs.widget(i), w.tabs.tabText(i)
        content, port = scroll.widget(), scroll.viewport()
        hbar, vbar = scroll.horizontalScrollBar(), scroll.verticalScrollBar()
        controls = _controls(content)
        assert controls or tab == "Contours", tab
        for c in controls:
            r = QRect(c.mapTo(content, QPoint(0, 0)), c.size())
            assert content.rect().contains(r), f"{tab}: {_name(c)} cut by its panel"
            over_x, over_y = r.right() + 1 - port.width(), r.bottom() + 1 - port.height()
            if over_x > 0:  # beyond the visible width: a scroll bar must bring it in
                assert hbar.isVisible() and hbar.maximum() >= over_x, f"{tab}: {_name(c)} out of reach at the right"
            if over_y > 0:
                assert vbar.isVisible() and vbar.maximum() >= over_y, f"{tab}: {_name(c)} out of reach below"
            if tab == "Reading":  # the reading panel itself fits the width: shorter texts, no sideways scrolling
                assert over_x <= 0, f"{_name(c)} needs sideways scrolling"
    assert w.side.compact and w.side.no_malignant.text() == "No malignant finding"
    w.close()


def test_the_tool_bar_keeps_every_button_on_screen_at_800x600(qtbot, project):
    """With every text beside its icon the bar needed 1600 px; what did not fit was hidden."""
    w = _window(qtbot, project, (800, 600))
    tb = w.toolbars()[0]
    for action in tb.actions():
        if action.isSeparator():
            continue
        button = tb.widgetForAction(action)
        assert button.isVisible() and button.geometry().right() < tb.width(), action.text()
        assert action.toolTip()  # an icon alone still says what it does
    w.close()


def test_the_worklist_keeps_patient_view_status_and_pm_in_sight_at_800x600(qtbot, project):
    w = _window(qtbot, project, (800, 600))
    table = w.worklist.table
    head = table.horizontalHeader()
    for col in (PATIENT, VIEW, STATUS, P_M):
        assert not head.isSectionHidden(col)
        assert head.sectionViewportPosition(col) + head.sectionSize(col) <= table.viewport().width(), col
    assert head.isSectionHidden(THUMB)  # the narrow list gives up its thumbnails first
    w.resize(1920, 1080)  # wider panels (the reader drags them): every column and the full texts again
    w.resizeDocks([w.docks[0], w.docks[1]], [360, 340], Qt.Horizontal)
    qtbot.wait(50)
    assert not head.isSectionHidden(THUMB) and not head.isSectionHidden(LABEL)
    assert not w.side.compact  # and the panel's full texts
    w.close()


@pytest.mark.parametrize("size, share", [((1366, 768), 0.51), ((1920, 1080), 0.6)])
def test_the_image_keeps_most_of_the_width(qtbot, project, size, share):
    """At 1366 px the panels took over half the window (the image had 49.6 %); the image first."""
    w = _window(qtbot, project, size)
    assert w.page.view.width() >= share * size[0]
    head = w.worklist.table.horizontalHeader()
    assert not any(head.isSectionHidden(c) for c in range(head.count()))  # every worklist column yet
    assert not w.side.compact  # and the reading panel's full texts, without scrolling
    for i in range(2):  # the Reading and Marks tabs fit: no scroll bar either way
        w.tabs.setCurrentIndex(i)
        qtbot.wait(30)
        scroll = w.tabs.widget(i)
        assert not scroll.verticalScrollBar().isVisible() and not scroll.horizontalScrollBar().isVisible(), i
    w.close()
