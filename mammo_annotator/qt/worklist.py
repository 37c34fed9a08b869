"""The worklist panel: search and filters above a sortable table of every image with patient,
side, weak label, status and the model's p(M), p(B) (the rows and filter: ``worklist_model``).

Every shown column fits the list's width: a narrow list drops the thumbnail, then the label column,
then shortens the patient and status texts (full texts in the tooltips); p(M) stays whole.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QStyle, QTableView, QVBoxLayout,
    QWidget,
)

from ..services.viewing import WorklistRow
from .thumbnails import SIZE
from .worklist_model import COLUMNS, LABEL, PATIENT, STATUS, THUMB, WorklistFilter, WorklistModel, row_texts

OPTIONAL = (THUMB, LABEL)  # hidden, in this order, when the list is narrower than its columns
ELASTIC = (PATIENT, STATUS)  # then narrowed, down to their titles' width: texts elided, whole in the tooltip
HEADER_PAD = 8  # a title's padding (the style sheet's 4 px each side)
SORT_ARROW = 16  # the sorted column's title also shows an arrow
SEARCH_ECHO_CHARS = 24  # the most of the search text the "no matches" line repeats


def _column_widths(natural: dict[int, int], floors: dict[int, int], room: int) -> dict[int, int | None]:
    """Each column's width in ``room`` pixels (None: hidden): the optional columns go in order
    while the rest do not fit, then the widest elastic column gives a pixel at a time, none
    below its floor; the other columns keep their natural width."""
    widths: dict[int, int | None] = dict(natural)
    for col in OPTIONAL:
        if sum(w for w in widths.values() if w) <= room:
            break
        widths[col] = None
    excess = sum(w for w in widths.values() if w) - room
    while excess > 0:
        wide = [c for c in ELASTIC if widths.get(c) and widths[c] > floors[c]]
        if not wide:
            break  # narrower than every title: the list scrolls sideways
        col = max(wide, key=lambda c: widths[c])
        widths[col] -= 1
        excess -= 1
    return widths


class WorklistPanel(QWidget):
    """Search + filters above a sortable table; emits ``imageActivated`` on selection."""

    imageActivated = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = WorklistModel()
        self.proxy = WorklistFilter()
        self.proxy.setSourceModel(self.model)
        self.search = QLineEdit(placeholderText="Search patient, file, accession or date…")
        self.search.setToolTip("Patient id, file name, accession number, study UID or study date (2024-01-05 or 20240105)")
        self.no_matches = QLabel("")
        self.no_matches.setObjectName("muted")
        self.no_matches.setWordWrap(True)
        self.no_matches.setTextFormat(Qt.PlainText)  # it repeats what was typed: "<b>" is text, not markup
        self.no_matches.setMinimumWidth(1)  # never wider than the list: a long word is cut, the panel stays
        self.no_matches.hide()
        self.search.setClearButtonEnabled(True)
        self.status = QComboBox()
        for text, value in (("All statuses", ""), ("To do", "not_annotated"), ("Contoured", "contoured"), ("No malignant", "no_malignant")):
            self.status.addItem(text, value)
        self.weak = QComboBox()
        for text, value in (("All labels", ""), ("Weak M", "M"), ("Weak B", "B"), ("Weak N", "N"), ("Unknown", "unknown")):
            self.weak.addItem(text, value)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(PATIENT, Qt.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(SIZE + 4)
        self.table.setIconSize(QSize(SIZE, SIZE))
        self.table.setTextElideMode(Qt.ElideMiddle)  # a shortened status keeps its count and dot, an id its end
        self.table.setWordWrap(False)  # one line: wrapped and elided both, "no finding" read "no fin…g …"
        head = self.table.horizontalHeader()
        head.setStretchLastSection(False)
        head.setMinimumSectionSize(30)
        head.setSectionResizeMode(QHeaderView.Interactive)  # sized by _fit_columns and _show_columns
        head.setHighlightSections(False)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        self.table.setStyleSheet("QHeaderView::section { padding: 4px 4px; }")
        filters = QHBoxLayout()
        filters.setSpacing(4)
        filters.addWidget(self.status)
        filters.addWidget(self.weak)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 6, 4, 6)
        layout.setSpacing(6)
        layout.addWidget(self.search)
        layout.addLayout(filters)
        layout.addWidget(self.no_matches)
        layout.addWidget(self.table)
        self.search.textChanged.connect(lambda t: self._filter(text=t))
        self.status.currentIndexChanged.connect(lambda _i: self._filter(status=self.status.currentData()))
        self.weak.currentIndexChanged.connect(lambda _i: self._filter(weak=self.weak.currentData()))
        self.table.selectionModel().currentRowChanged.connect(self._on_current)
        head.sortIndicatorChanged.connect(lambda *_: self._fit_columns())
        self._natural: dict[int, int] = {}  # column -> the width of its title and widest text
        self._laying_out = False
        self.table.viewport().installEventFilter(self)  # a vertical scroll bar coming narrows the viewport

    def _filter(self, **kw) -> None:
        self.proxy.set_filter(**kw)
        self._show_no_matches()

    def _show_no_matches(self) -> None:
        empty = self.proxy.rowCount() == 0 and self.model.rowCount() > 0
        text = self.search.text().strip()
        shown = text if len(text) <= SEARCH_ECHO_CHARS else text[:SEARCH_ECHO_CHARS - 1] + "…"  # a pasted UID or
        # list has no space to wrap at: echoed whole, it widened the worklist (and the window) to its length
        self.no_matches.setText(f"No matches for “{shown}”" + (" with these filters" if self.proxy.status or self.proxy.weak else "")
                                if text else "No image matches these filters")
        self.no_matches.setVisible(empty)

    def set_rows(self, rows: list[WorklistRow]) -> None:
        current = self.current_image_id()
        self.model.set_rows(rows)
        if current is not None:
            self.select_image(current, emit=False)
        self._show_no_matches()
        self._fit_columns()

    def update_rows(self, rows: list[WorklistRow]) -> bool:
        """Refresh the rows of some images in place: no reset, the selection and scroll stay, and
        a column only widens when a new text needs it (measuring every cell, as ``_fit_columns``
        does, took most of a save's time). False when an image is not in the list (the caller
        then reloads it whole)."""
        at = self.model.update_rows(rows)
        if at is None:
            return False
        for col, texts in enumerate(zip(*(row_texts(self.model.rows[i]) for i in at))):
            if col != THUMB:
                self._natural[col] = max(self._natural.get(col, 0), self._text_width(set(texts)))
        self._show_columns()
        self._show_no_matches()
        return True

    def _fit_columns(self) -> None:
        """Measure each column: its title (the sorted one's with its arrow; Qt's ResizeToContents
        reserves an arrow in every title) and its widest text, each distinct text once."""
        columns = zip(*(row_texts(r) for r in self.model.rows)) if self.model.rows else ((),) * len(COLUMNS)
        self._natural = {c: max(self._title_width(c), self._text_width(set(t))) for c, t in enumerate(columns)}
        self._natural[THUMB] = SIZE + 6
        self._show_columns()

    def _title_width(self, col: int) -> int:
        head = self.table.horizontalHeader()
        arrow = SORT_ARROW if col == head.sortIndicatorSection() else 0
        return head.fontMetrics().horizontalAdvance(str(self.model.headerData(col, Qt.Horizontal) or "")) + HEADER_PAD + arrow

    def _text_width(self, texts) -> int:
        """The widest of ``texts`` with a cell's margins (the delegate's each side, and a pixel)."""
        fm = QFontMetricsF(self.table.font())  # the fraction counts: "no finding" is 65.08 px, 65 elides it
        margin = 2 * (self.table.style().pixelMetric(QStyle.PM_FocusFrameHMargin, None, self.table) + 1) + 1
        return math.ceil(max((fm.horizontalAdvance(t) for t in texts if t), default=0)) + margin

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table.viewport() and event.type() == QEvent.Resize:
            self._show_columns()
        return super().eventFilter(watched, event)

    def _show_columns(self) -> None:
        """Fit the shown columns to the list's width, so patient, view, status and p(M) stay in
        sight without scrolling sideways: in a narrow list the thumbnail, then the label column go
        (the patient's tooltip and the reading panel still show them), then the widest of patient
        and status narrows, not below its title (ElideMiddle, the whole text in the tooltip);
        view and p(M) keep their width. Laid out again when the viewport's width changes."""
        if self._laying_out or not self._natural:
            return
        self._laying_out = True
        try:
            for _ in range(3):  # a scroll bar the new widths bring or take away changes the room
                room = self.table.viewport().width()
                self._apply(_column_widths(self._natural, self._floors(), room))
                if self.table.viewport().width() == room:
                    break
        finally:
            self._laying_out = False

    def _floors(self) -> dict[int, int]:
        return {c: self._title_width(c) if c in ELASTIC else w for c, w in self._natural.items()}

    def _apply(self, widths: dict[int, int | None]) -> None:
        head = self.table.horizontalHeader()
        for col, width in widths.items():
            head.setSectionHidden(col, width is None)
            if width is not None and head.sectionSize(col) != width:
                head.resizeSection(col, width)

    def _on_current(self, current, _previous) -> None:
        if current.isValid():
            self.imageActivated.emit(int(self.proxy.data(current, Qt.UserRole + 1)))

    def current_image_id(self) -> int | None:
        idx = self.table.currentIndex()
        return int(self.proxy.data(idx, Qt.UserRole + 1)) if idx.isValid() else None

    def select_image(self, image_id: int, emit: bool = True) -> None:
        for row in range(self.proxy.rowCount()):
            idx = self.proxy.index(row, 0)
            if self.proxy.data(idx, Qt.UserRole + 1) == image_id:
                blocked = self.table.selectionModel().blockSignals(not emit)
                self.table.setCurrentIndex(idx)
                self.table.selectionModel().blockSignals(blocked)
                self.table.scrollTo(idx)
                return

    def step(self, delta: int) -> None:
        """Next/previous image in the visible (filtered, sorted) order."""
        n = self.proxy.rowCount()
        if n == 0:
            return
        row = self.table.currentIndex().row()
        row = 0 if row < 0 else max(0, min(n - 1, row + delta))
        self.table.setCurrentIndex(self.proxy.index(row, 0))
