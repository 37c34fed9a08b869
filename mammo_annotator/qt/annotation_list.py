"""The "Contours" tab: the image's contours with class, annotator, time, area and longest
diameter (mm when the pixel spacing is known, px otherwise), like QuPath's annotation list.

Clicking a row selects the contour on the canvas and centres it; Delete removes the selected
one (through the window's undoable command, never directly).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QKeySequence
from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidgetItem, QVBoxLayout, QWidget

from ..core.measure import Measurement, measure
from ..core.records import AnnotationRecord
from .tables import list_table
from .theme import CONTOUR_COLOURS, local_time

COLUMNS = ("Class", "Area", "Longest", "By, when")
CLASS_NAME = {"M": "Malignant", "B": "Benign"}


class AnnotationList(QWidget):
    selected = Signal(object)  # annotation id or None
    deleteRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.records: list[AnnotationRecord] = []
        self.measurements: dict[int, Measurement] = {}
        self.table = list_table(COLUMNS)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(QHeaderView.ResizeToContents)
        head.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.Stretch)  # "By, when" wraps in a narrow dock
        head.sectionResized.connect(lambda *_: self.table.resizeRowsToContents())
        self.table.setWordWrap(True)
        self.table.setTextElideMode(Qt.ElideNone)  # wrap "By, when" rather than cut the time
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.table.itemSelectionChanged.connect(self._on_selection)
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
        for row, rec in enumerate(self.records):
            m = self.measurements[rec.id]
            cells = (CLASS_NAME.get(rec.cls.value, rec.cls.value), m.area_text, m.diameter_text,
                     f"{rec.annotator}\n{local_time(rec.modified_at)}")
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.UserRole, rec.id)
                if col == 0:
                    item.setForeground(QColor(CONTOUR_COLOURS.get(rec.cls.value, "#d6d7da")))
                if col in (1, 2):
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                item.setToolTip(f"{cells[0]} contour by {rec.annotator}, drawn {local_time(rec.created_at)}"
                                f"{', edited ' + local_time(rec.modified_at) if rec.modified_at != rec.created_at else ''}")
                self.table.setItem(row, col, item)
        self.table.resizeRowsToContents()
        QTimer.singleShot(0, self.table.resizeRowsToContents)  # again once the columns have their widths
        unit = "mm (from the image's pixel spacing)" if spacing else "pixels: this image has no pixel spacing"
        self.hint.setText(f"{len(self.records)} contour(s); sizes in {unit}. Click a row to select and centre "
                          "it; Delete removes it." if self.records else "No contours on this image.")
        self._quiet = False
        self.select(selected)

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
        QTimer.singleShot(0, self.table.resizeRowsToContents)

    def keyPressEvent(self, event) -> None:
        if event.matches(QKeySequence.Delete) or event.key() == Qt.Key_Backspace:
            self.deleteRequested.emit()
            return
        super().keyPressEvent(event)
