"""The "Contours" tab: the image's contours with class, annotator, time, area and longest
diameter (mm when the pixel spacing is known, px otherwise), like QuPath's annotation list.

Clicking a row selects the contour on the canvas and centres it; Delete removes the selected
one (through the window's undoable command, never directly). The columns fit the tab's width
without sideways scrolling: a narrower tab gets shorter cells (a short time, "Max Ø" for the
longest diameter, "M" for malignant, area and diameter in one cell); the tooltips have the whole.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor, QKeySequence
from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidgetItem, QVBoxLayout, QWidget

from ..core.measure import Measurement, measure
from ..core.records import AnnotationRecord
from .tables import list_table
from .theme import CONTOUR_COLOURS, local_time

COLUMNS = ("Class", "Area", "Longest", "By, when")
CLASS, AREA, LONGEST, BY = range(len(COLUMNS))
CLASS_NAME = {"M": "Malignant", "B": "Benign"}
HEADER_TIPS = ("Malignant (M) or benign (B)", "The contour's area: mm² from the image's pixel spacing, else px²",
               "The longest diameter: the largest distance between two points of the contour",
               "Who drew the contour (or last edited it), and when")
SIZE_TIP = "Area, and under it the longest diameter"
SHORT_LONGEST = "Max Ø"
# the cells' versions, longest first: (class name, short time, short header, area and diameter in one cell)
LEVELS = ((True, False, False, False), (True, True, True, False), (False, True, True, False),
          (False, True, True, True))


def short_time(when: datetime | None, now: datetime | None = None) -> str:
    """A stored time (UTC) as a reader says it: "today 16:17", "yesterday 09:05", "7 Dec 16:17"
    this year, the date before; ``local_time`` gives the whole."""
    if when is None:
        return "—"
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    when = when.astimezone()
    now = (now or datetime.now(timezone.utc)).astimezone()
    if when.date() == now.date():
        return f"today {when:%H:%M}"
    if when.date() == (now - timedelta(days=1)).date():
        return f"yesterday {when:%H:%M}"
    if when.year == now.year:
        return f"{when.day} {when:%b %H:%M}"
    return f"{when:%Y-%m-%d}"


class AnnotationList(QWidget):
    selected = Signal(object)  # annotation id or None
    deleteRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.records: list[AnnotationRecord] = []
        self.measurements: dict[int, Measurement] = {}
        self.level = 0  # index in LEVELS of the cells shown
        self._needs: list[int] | None = None  # the width each level needs (None: to be measured)
        self.table = list_table(COLUMNS)
        for col, tip in enumerate(HEADER_TIPS):
            self.table.horizontalHeaderItem(col).setToolTip(tip)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(QHeaderView.ResizeToContents)
        head.setSectionResizeMode(BY, QHeaderView.Stretch)  # what is left; elided when even that is short
        head.setMinimumSectionSize(24)
        self.table.setWordWrap(False)  # the lines are the cells' own ("annotator\ntime")
        self.table.setTextElideMode(Qt.ElideRight)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.table.viewport().installEventFilter(self)
        self.hint = QLabel("")
        self.hint.setObjectName("muted")
        self.hint.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(4)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.hint)
        self._quiet = False

    def set_contours(self, records: list[AnnotationRecord], spacing: tuple[float, float] | None,
                     selected: int | None = None) -> None:
        self._quiet = True
        self.records = list(records)
        self.measurements = {r.id: measure(r.polygon, spacing) for r in self.records}
        self.table.setRowCount(len(self.records))
        self._needs = None  # measured when shown: a hidden tab has neither its width nor its style yet
        if self.isVisible():
            self._fit()
        else:
            self._fill(0)
        unit = "mm (from the image's pixel spacing)" if spacing else "pixels: this image has no pixel spacing"
        self.hint.setText(f"{len(self.records)} contour(s); sizes in {unit}. Click a row to select and centre "
                          "it; Delete removes it." if self.records else "No contours on this image.")
        self._quiet = False
        self.select(selected)

    # width ------------------------------------------------------------------------------
    def _fill(self, level: int) -> None:
        """The cells (and headers) of ``level``; the tooltips always have the whole."""
        full_class, short, short_head, one_size = LEVELS[level]
        self.level = level
        for row, rec in enumerate(self.records):
            m = self.measurements[rec.id]
            name = CLASS_NAME.get(rec.cls.value, rec.cls.value)
            when = short_time(rec.modified_at) if short else local_time(rec.modified_at)
            cells = (name if full_class else rec.cls.value,
                     f"{m.area_text}\n{m.diameter_text}" if one_size else m.area_text, m.diameter_text,
                     f"{rec.annotator}\n{when}")
            tip = (f"{name} contour by {rec.annotator}, drawn {local_time(rec.created_at)}"
                   f"{', edited ' + local_time(rec.modified_at) if rec.modified_at != rec.created_at else ''}\n"
                   f"area {m.area_text}, longest diameter {m.diameter_text}")
            for col, text in enumerate(cells):
                item = self.table.item(row, col)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(row, col, item)
                item.setText(text)
                item.setData(Qt.UserRole, rec.id)
                item.setToolTip(tip)
                if col == CLASS:
                    item.setForeground(QColor(CONTOUR_COLOURS.get(rec.cls.value, "#d6d7da")))
                if col in (AREA, LONGEST):
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
        head = self.table.horizontalHeaderItem(AREA)
        head.setText("Size" if one_size else COLUMNS[AREA])
        head.setToolTip(SIZE_TIP if one_size else HEADER_TIPS[AREA])
        self.table.horizontalHeaderItem(LONGEST).setText(SHORT_LONGEST if short_head else COLUMNS[LONGEST])
        self.table.setColumnHidden(LONGEST, one_size)
        self.table.resizeRowsToContents()

    def _need(self) -> int:
        """The width the shown columns need, their headers and their cells whole."""
        head = self.table.horizontalHeader()
        return sum(max(self.table.sizeHintForColumn(c), head.sectionSizeHint(c))
                   for c in range(len(COLUMNS)) if not self.table.isColumnHidden(c))

    def _fit(self) -> None:
        """The longest cells that fit the table's width (the last level, elided, when none does)."""
        if self._needs is None:
            self.table.ensurePolished()
            self._needs = []
            for level in range(len(LEVELS)):
                self._fill(level)
                self._needs.append(self._need())
            self.level = -1
        width = self.table.viewport().width()
        level = next((i for i, need in enumerate(self._needs) if need <= width), len(LEVELS) - 1)
        if level != self.level:
            self._fill(level)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table.viewport() and event.type() == QEvent.Resize and self.isVisible():
            self._fit()
        return super().eventFilter(watched, event)

    # selection --------------------------------------------------------------------------
    def select(self, annotation_id: int | None) -> None:
        self._quiet = True
        self.table.clearSelection()
        for row, rec in enumerate(self.records):
            if rec.id == annotation_id:
                self.table.selectRow(row)
        self._quiet = False

    def selected_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return int(self.table.item(rows[0].row(), 0).data(Qt.UserRole)) if rows else None

    def _on_selection(self) -> None:
        if not self._quiet:
            self.selected.emit(self.selected_id())

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._needs = None  # the style sheet's fonts count once shown
        self._fit()

    def keyPressEvent(self, event) -> None:
        if event.matches(QKeySequence.Delete) or event.key() == Qt.Key_Backspace:
            self.deleteRequested.emit()
            return
        super().keyPressEvent(event)
