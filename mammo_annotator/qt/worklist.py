"""The worklist: every image with patient, side, weak label, status and the model's p(M), p(B).

A table model over ``services.viewing.worklist`` rows behind a filter proxy (search by patient,
file, accession, study or date; status; image label), with a thumbnail column; sorting uses raw values, display uses short readable text.
Every shown column fits the list's width: a narrow list drops the thumbnail, then the label column,
then shortens the patient and status texts (full texts in the tooltips); p(M) stays whole.
"""

from __future__ import annotations

import math
from dataclasses import fields

from PySide6.QtCore import QAbstractTableModel, QEvent, QModelIndex, QObject, QSize, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QFontMetricsF
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QStyle, QTableView, QVBoxLayout,
    QWidget,
)

from ..services.viewing import WorklistRow
from .thumbnails import SIZE, Thumbnails

COLUMNS = ("", "Patient", "View", "Label", "Status", "p(M)")  # p(B) in the tooltip: the list fits 1366 px
THUMB, PATIENT, LABEL, STATUS, P_M = 0, 1, 3, 4, 5
OPTIONAL = (THUMB, LABEL)  # hidden, in this order, when the list is narrower than its columns
ELASTIC = (PATIENT, STATUS)  # then narrowed, down to their titles' width: texts elided, whole in the tooltip
HEADER_PAD = 8  # a title's padding (the style sheet's 4 px each side)
SORT_ARROW = 16  # the sorted column's title also shows an arrow
STATUS_TEXT = {"not_annotated": "to do", "contoured": "outlined", "no_malignant": "no finding"}
WEAK_TEXT = {"unknown": "?"}
STATUS_COLOUR = {"not_annotated": "#8b8f96", "contoured": "#F0E442", "no_malignant": "#009E73"}
SEARCH_ECHO_CHARS = 24  # the most of the search text the "no matches" line repeats
WEAK_COLOUR = {"M": "#E8805A", "MB": "#E8805A", "B": "#7fc4ec"}


class WorklistModel(QAbstractTableModel):
    """The rows, with each row's cells computed once: a repaint asks ``data`` for every role of
    every visible cell, and computing them each time took 25-50 ms of the GUI thread per repaint."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[WorklistRow] = []
        self._cells: dict[int, list[dict[int, object]]] = {}  # row -> per column {role: value}
        self.thumbnails = Thumbnails(self)
        self.thumbnails.ready.connect(self._thumbnail_ready)

    def _thumbnail_ready(self, image_id: int) -> None:
        for i, r in enumerate(self.rows):
            if r.image_id == image_id:
                self.dataChanged.emit(self.index(i, THUMB), self.index(i, THUMB), [Qt.DecorationRole])

    def set_rows(self, rows: list[WorklistRow]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self._cells.clear()
        self.endResetModel()

    def update_rows(self, rows: list[WorklistRow]) -> list[int] | None:
        """Replace the rows of the same images in place; their positions, or None (nothing
        changed) when one of the images is not in the list. Unchanged rows are not redrawn."""
        where = {r.image_id: i for i, r in enumerate(self.rows)}
        if any(r.image_id not in where for r in rows):
            return None
        for row in rows:
            i = where[row.image_id]
            if self.rows[i] == row:
                continue
            changed = sorted({c for f in fields(row) if getattr(row, f.name) != getattr(self.rows[i], f.name)
                              for c in _COLUMNS_OF.get(f.name, range(len(COLUMNS)))})
            self.rows[i] = row
            self._cells.pop(i, None)
            # only those cells are repainted (a new model changes p(M) alone, of every row)
            self.dataChanged.emit(self.index(i, changed[0]), self.index(i, changed[-1]))
        return [where[r.image_id] for r in rows]

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return COLUMNS[section]
        if role == Qt.ToolTipRole and orientation == Qt.Horizontal:
            return {3: "image-level label: M malignant, B benign, N normal, ? unknown",
                    4: "to do / outlined (number of contours) / no malignant finding confirmed",
                    5: "active model's probability that the image shows a malignant finding"}.get(section)
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        i, c, key = index.row(), index.column(), int(role)  # an enum compared costs 45x an int
        if key == DECORATION and c == THUMB:
            return self.thumbnails.get(self.rows[i].image_id)
        cells = self._cells.get(i)
        if cells is None:
            cells = self._cells[i] = _cells(self.rows[i])
        return cells[c].get(key)


# the columns that show a row field (a field not named here may change any column)
_COLUMNS_OF = {"p_m": (P_M,), "p_b": (P_M,), "status": (STATUS,), "n_contours": (STATUS,), "on_it": (STATUS,)}
# roles as plain ints: comparing PySide's enum members costs microseconds, and a 10,000-image
# project asks for about 35 values per row when the list is filled (16.7 s before they were
# ints, 1.9 s after, 1.x s with ``data`` comparing ints too: benchmarks/bench_worklist.py)
DISPLAY, TOOLTIP, SORT, FOREGROUND, ALIGN = (role.value for role in (
    Qt.DisplayRole, Qt.ToolTipRole, Qt.UserRole, Qt.ForegroundRole, Qt.TextAlignmentRole))
IMAGE_ID = SORT + 1
DECORATION = Qt.DecorationRole.value
RIGHT = (Qt.AlignRight | Qt.AlignVCenter).value
_STATUS_QCOLOUR: dict[str, QColor] = {}
_WEAK_QCOLOUR: dict[str, QColor] = {}


def _colour(cache: dict[str, QColor], key: str, name: str) -> QColor:
    if key not in cache:
        cache[key] = QColor(name)
    return cache[key]


def _cells(r: WorklistRow) -> list[dict[int, object]]:
    """Every role's value of every cell of a row (the thumbnail is asked for separately), built
    at once: the texts are computed once per row, not once per role and column."""
    texts = _texts(r)
    sort_keys = (r.image_id, r.patient, r.side, r.weak, f"{r.status}:{r.n_contours:05d}", -1.0 if r.p_m is None else r.p_m)
    out: list[dict[int, object]] = [{DISPLAY: texts[c], SORT: sort_keys[c], IMAGE_ID: r.image_id}
                                    for c in range(len(COLUMNS))]
    date = f", study date {r.study_date}" if r.study_date else ""
    accession = f", accession {r.accession}" if r.accession else ""
    out[THUMB][TOOLTIP] = out[PATIENT][TOOLTIP] = f"{r.patient} {r.side}: {r.file_name}{accession}{date}"
    # the whole text: a narrow list elides it ("out…(3) ●")
    on_it = getattr(r, "on_it", "")
    out[STATUS][TOOLTIP] = f"{texts[STATUS]}, open now by {on_it}" if on_it else texts[STATUS]
    out[P_M][TOOLTIP] = f"p(malignant) {_prob(r.p_m)}, p(benign) {_prob(r.p_b)} (active model)"
    out[STATUS][FOREGROUND] = _colour(_STATUS_QCOLOUR, r.status, STATUS_COLOUR.get(r.status, "#d6d7da"))
    if r.weak in WEAK_COLOUR:
        out[LABEL][FOREGROUND] = _colour(_WEAK_QCOLOUR, r.weak, WEAK_COLOUR[r.weak])
    out[P_M][ALIGN] = RIGHT
    return out


def _texts(r: WorklistRow) -> tuple[str, ...]:
    """The row's text in each column."""
    status = STATUS_TEXT.get(r.status, r.status) + (f" ({r.n_contours})" if r.n_contours else "")
    status += " ●" if getattr(r, "on_it", "") else ""  # someone has it open now (team use): names in the tooltip
    return ("", r.patient_label, r.side, WEAK_TEXT.get(r.weak, r.weak), status, _prob(r.p_m))


def _prob(p: float | None) -> str:
    return "—" if p is None else f"{p:.2f}"


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


class WorklistFilter(QSortFilterProxyModel):
    def __init__(self) -> None:
        super().__init__()
        self.setSortRole(Qt.UserRole)
        self.text = ""
        self.status = ""
        self.weak = ""

    def set_filter(self, text: str | None = None, status: str | None = None, weak: str | None = None) -> None:
        modern = hasattr(self, "beginFilterChange")  # Qt >= 6.9
        if modern:
            self.beginFilterChange()
        if text is not None:
            self.text = text.strip().lower()
        if status is not None:
            self.status = status
        if weak is not None:
            self.weak = weak
        if modern:
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, parent) -> bool:
        r = self.sourceModel().rows[source_row]
        if self.text and not r.matches(self.text):
            return False
        if self.status and r.status != self.status:
            return False
        if self.weak and not (r.weak == self.weak or (self.weak == "M" and r.weak == "MB")):
            return False
        return True


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
        for col, texts in enumerate(zip(*(_texts(self.model.rows[i]) for i in at))):
            if col != THUMB:
                self._natural[col] = max(self._natural.get(col, 0), self._text_width(set(texts)))
        self._show_columns()
        self._show_no_matches()
        return True

    def _fit_columns(self) -> None:
        """Measure each column: its title (the sorted one's with its arrow; Qt's ResizeToContents
        reserves an arrow in every title) and its widest text, each distinct text once."""
        columns = zip(*(_texts(r) for r in self.model.rows)) if self.model.rows else ((),) * len(COLUMNS)
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
