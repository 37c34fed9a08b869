"""The worklist's data: a table model over ``services.viewing.worklist`` rows, with each row's
cells computed once, and the filter proxy (search by patient, file, accession, study or date;
status; image label). Sorting uses raw values, display uses short readable text.

Apart from the panel (``worklist``), which only lays the columns out to the list's width.
"""

from __future__ import annotations

from dataclasses import fields

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from ..services.viewing import WorklistRow
from .thumbnails import Thumbnails

COLUMNS = ("", "Patient", "View", "Label", "Status", "p(M)")  # p(B) in the tooltip: the list fits 1366 px
THUMB, PATIENT, LABEL, STATUS, P_M = 0, 1, 3, 4, 5
STATUS_TEXT = {"not_annotated": "to do", "contoured": "outlined", "no_malignant": "no finding"}
WEAK_TEXT = {"unknown": "?"}
STATUS_COLOUR = {"not_annotated": "#8b8f96", "contoured": "#F0E442", "no_malignant": "#009E73"}
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
    texts = row_texts(r)
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


def row_texts(r: WorklistRow) -> tuple[str, ...]:
    """The row's text in each column."""
    status = STATUS_TEXT.get(r.status, r.status) + (f" ({r.n_contours})" if r.n_contours else "")
    status += " ●" if getattr(r, "on_it", "") else ""  # someone has it open now (team use): names in the tooltip
    return ("", r.patient_label, r.side, WEAK_TEXT.get(r.weak, r.weak), status, _prob(r.p_m))


def _prob(p: float | None) -> str:
    return "—" if p is None else f"{p:.2f}"


class WorklistFilter(QSortFilterProxyModel):
    """The rows the search and the status and label filters let through, sorted by raw values."""

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
