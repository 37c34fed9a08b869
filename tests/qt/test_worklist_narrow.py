"""The worklist in a narrow window: at 800 x 600, 1024 x 768 and 1366 x 768, with a reading
room's texts ("outlined (12) ●", "no finding", long patient ids) and enough rows for a vertical
scroll bar, every shown column lies inside the list, holds its title and its texts (patient and
status may elide, their whole text in the tooltip) and p(M) is whole; nothing scrolls sideways.
The list only hid the thumbnail and label columns: p(M) was cut at the right ("0.7" or nothing)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import QStyle

from mammo_annotator.qt.worklist_model import COLUMNS

from .conftest import shown_window

PATIENT, VIEW, STATUS, P_M = (COLUMNS.index(c) for c in ("Patient", "View", "Status", "p(M)"))
SIZES = [(800, 600), (1024, 768), (1366, 768)]
# status, contours, who else has it open: "to do", "outlined (1)", "outlined (12) ●", "no finding", ...
STATES = [("not_annotated", 0, ""), ("contoured", 1, ""), ("contoured", 12, "dr.b"), ("no_malignant", 0, ""),
          ("no_malignant", 0, "dr.c, dr.d"), ("not_annotated", 0, "dr.b")]


def _window(qtbot, project, size: tuple[int, int]):
    w = shown_window(qtbot, project, size, 'narrow-worklist')
    qtbot.wait(50)
    return w


def _reading_room_rows(demo_rows):
    """40 rows over the demo's images (their thumbnails load), with every status text."""
    rows = []
    for i in range(40):
        status, n, on_it = STATES[i % len(STATES)]
        patient = "Calc-Test_P_00038" if i == 7 else f"P{i:03d}"
        p_m = None if i == 5 else (1.0 if i == 9 else (i * 0.0247) % 1)
        rows.append(replace(demo_rows[i % len(demo_rows)], patient=patient, status=status, n_contours=n,
                            on_it=on_it, p_m=p_m, p_b=None if p_m is None else 1 - p_m))
    return rows


def _assert_columns_fit(table) -> None:
    head, proxy = table.horizontalHeader(), table.model()
    fm, hfm, style = QFontMetricsF(table.font()), head.fontMetrics(), table.style()
    cell_margin = 2 * (style.pixelMetric(QStyle.PM_FocusFrameHMargin, None, table) + 1)  # the delegate's
    arrow = style.pixelMetric(QStyle.PM_HeaderMarkSize, None, head)
    room = table.viewport().width()
    assert table.horizontalScrollBar().maximum() == 0, "the list scrolls sideways"
    shown = [c for c in range(head.count()) if not head.isSectionHidden(c)]
    assert {PATIENT, VIEW, STATUS, P_M} <= set(shown), shown
    for col in shown:
        left, width = head.sectionViewportPosition(col), head.sectionSize(col)
        assert 0 <= left and left + width <= room, f"{COLUMNS[col]!r} cut at {room} px: {left} + {width}"
        title = str(proxy.headerData(col, Qt.Horizontal) or "")
        need = hfm.horizontalAdvance(title) + 8 + (arrow if col == head.sortIndicatorSection() else 0)
        assert width >= need, f"title {title!r} cut: {width} < {need}"
        for row in range(proxy.rowCount()):
            index = proxy.index(row, col)
            text = str(index.data(Qt.DisplayRole) or "")
            if text and math.ceil(fm.horizontalAdvance(text)) + cell_margin > width:  # elided: whole in the tooltip
                assert col != P_M, f"p(M) {text!r} cut: {width} px"
                assert text in str(index.data(Qt.ToolTipRole) or ""), f"{text!r} elided, no tooltip says it"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_worklist_column_fits_a_narrow_window(qtbot, project, size):
    w = _window(qtbot, project, size)
    wl = w.worklist
    wl.set_rows(_reading_room_rows(wl.model.rows))
    qtbot.wait(50)
    assert wl.table.verticalScrollBar().isVisible()  # its width comes off the list's
    _assert_columns_fit(wl.table)
    wl.table.sortByColumn(STATUS, Qt.DescendingOrder)  # the arrow moves to the status title
    qtbot.wait(30)
    _assert_columns_fit(wl.table)
    w.close()


@pytest.mark.parametrize("size", SIZES[:2], ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_longer_status_after_a_save_keeps_pm_in_sight(qtbot, project, size):
    """A row refreshed in place ("to do" becomes "outlined (12) ●") widened its column by as much,
    pushing p(M) out of the list."""
    w = _window(qtbot, project, size)
    wl = w.worklist
    first = wl.model.rows[0]
    assert wl.update_rows([replace(first, status="contoured", n_contours=12, on_it="dr.b")])
    qtbot.wait(30)
    _assert_columns_fit(wl.table)
    w.close()


def test_the_list_gets_its_columns_back_when_wider(qtbot, project):
    """Narrowing is undone: at 1920 x 1080 with wide panels every column is back, texts whole."""
    w = _window(qtbot, project, (800, 600))
    wl = w.worklist
    wl.set_rows(_reading_room_rows(wl.model.rows))
    w.resize(1920, 1080)
    w.resizeDocks([w.docks[0], w.docks[1]], [520, 340], Qt.Horizontal)
    qtbot.wait(50)
    head, fm = wl.table.horizontalHeader(), wl.table.fontMetrics()
    assert not any(head.isSectionHidden(c) for c in range(head.count()))
    assert head.sectionSize(STATUS) >= fm.horizontalAdvance("outlined (12) ●")
    assert head.sectionSize(PATIENT) >= fm.horizontalAdvance("Calc-Test_P_00038")
    _assert_columns_fit(wl.table)
    w.close()


def test_every_role_of_a_row_as_the_view_asks_for_it(qtbot):
    """The cells are built once per row with int roles (a 10,000-image list took 17 s to fill
    when each role was an enum compared per cell): the values must be those the view shows."""
    from PySide6.QtCore import Qt

    from mammo_annotator.qt.worklist_model import LABEL, P_M, PATIENT, STATUS, THUMB, WorklistModel
    from mammo_annotator.services.viewing import WorklistRow

    model = WorklistModel()
    model.set_rows([WorklistRow(image_id=7, patient="P1", laterality="L", view="CC", weak="M", status="contoured",
                                p_m=0.8125, p_b=None, n_contours=2, file_name="a.dcm", accession="AC1", on_it="dr.b")])

    def cell(c, role):
        return model.data(model.index(0, c), role)

    assert [cell(c, Qt.DisplayRole) for c in range(6)] == ["", "P1", "L-CC", "M", "outlined (2) ●", "0.81"]
    assert cell(PATIENT, Qt.ToolTipRole) == cell(THUMB, Qt.ToolTipRole) == "P1 L-CC: a.dcm, accession AC1"
    assert cell(STATUS, Qt.ToolTipRole) == "outlined (2) ●, open now by dr.b"
    assert cell(P_M, Qt.ToolTipRole) == "p(malignant) 0.81, p(benign) — (active model)"
    assert cell(STATUS, Qt.ForegroundRole).name() == "#f0e442" and cell(LABEL, Qt.ForegroundRole).name() == "#e8805a"
    assert cell(PATIENT, Qt.ForegroundRole) is None
    assert cell(P_M, Qt.TextAlignmentRole) == int((Qt.AlignRight | Qt.AlignVCenter).value)
    assert cell(PATIENT, Qt.TextAlignmentRole) is None
    assert cell(P_M, Qt.UserRole) == 0.8125 and cell(STATUS, Qt.UserRole) == "contoured:00002"
    assert all(cell(c, Qt.UserRole + 1) == 7 for c in range(6))
