"""Small dialogs: the annotator's name, error messages, import progress and its report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:  # the importer (breast mask, scipy) loads at the first import, not at start-up
    from ..services.importing import ImportReport


ANNOTATOR_MAX = 128  # the database's annotator columns; PostgreSQL refuses a longer name on every save


def ask_annotator(parent: QWidget | None, current: str = "") -> str | None:
    """The name stored with every contour; asked once and remembered in QSettings. Runs of
    whitespace become one space; a name too long for the database is refused with a message
    (accepted, it made every later contour save fail on a server project)."""
    name, ok = QInputDialog.getText(
        parent, "Annotator", "Your name or initials (stored with every contour you draw):", text=current
    )
    name = " ".join(name.split())
    if ok and len(name) > ANNOTATOR_MAX:
        show_error(parent, "Annotator", f"The name is {len(name)} characters long; use at most {ANNOTATOR_MAX} "
                                        "(initials are enough). The annotator was not changed.")
        return None
    return name if ok and name else None


def show_error(parent: QWidget | None, title: str, message: str, detail: str | None = None) -> QMessageBox:
    """A non-blocking warning (open(), not exec()), so tests and workers never hang on it.

    A warning whose title is already on screen is updated rather than stacked: a damaged or
    vanished project fails every action and every poll, and a pile of boxes hid the image."""
    box = _open_warning(parent, title)
    if box is not None:
        repeats = int(box.property("repeats") or 1) + 1
        box.setProperty("repeats", repeats)
        box.setText(message)
        box.setInformativeText(f"This has happened {repeats} times; the latest is shown.")
        box.setDetailedText(detail or "")
        box.raise_()
        return box
    box = QMessageBox(QMessageBox.Warning, title, message, QMessageBox.Ok, parent)
    box.setObjectName(_WARNING)
    box.setProperty("repeats", 1)
    if detail:
        box.setDetailedText(detail)
    box.setAttribute(Qt.WA_DeleteOnClose)
    box.open()
    return box


_WARNING = "mammo-warning"


def _open_warning(parent: QWidget | None, title: str) -> QMessageBox | None:
    if parent is None:
        return None
    for box in parent.findChildren(QMessageBox, _WARNING):
        if box.isVisible() and box.windowTitle() == title:
            return box
    return None


class ProgressDialog(QDialog):
    """Progress of a worker with a Stop button; closes itself when the worker finishes."""

    stopRequested = Signal()

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(True)
        self.setMinimumWidth(460)
        self.message = QLabel("starting…")
        self.message.setObjectName("muted")
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.stop = QPushButton("Stop")
        self.stop.clicked.connect(self._on_stop)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.stop)
        lay = QVBoxLayout(self)
        lay.addWidget(self.message)
        lay.addWidget(self.bar)
        lay.addLayout(row)

    def update_progress(self, done: int, total: int, message: str) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(done)
        self.message.setText(f"{done} / {total}   {message}" if total > 0 else message)  # not "0 / 0" while counting

    def _on_stop(self) -> None:
        self.stop.setEnabled(False)
        self.stop.setText("Stopping…")
        self.stopRequested.emit()

    def reject(self) -> None:  # Esc / close = Stop; the worker closes us when it has stopped
        self._on_stop()


class ImportReportDialog(QDialog):
    """What an import did: counts, and every failure or warning with its reason."""

    def __init__(self, report: ImportReport, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import report")
        self.resize(760, 420)
        head = QLabel(report.summary().capitalize() + ".")
        head.setObjectName("value")
        rows = [("failed", p, r) for p, r in report.failed] + [("warning", p, r) for p, r in report.warnings]
        rows += [("duplicate", p, f"already in the project as image {i}") for p, i in report.duplicates]
        table = QTableWidget(len(rows), 3)
        table.setHorizontalHeaderLabels(["", "File", "Reason"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.NoEditTriggers)
        for r, (kind, path, reason) in enumerate(rows):
            for c, text in enumerate((kind, path, reason)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                table.setItem(r, c, item)
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeToContents)
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.Interactive)
        table.horizontalHeader().setSectionResizeMode(2, QHeaderView.Stretch)
        table.setColumnWidth(1, 300)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(head)
        if rows:
            lay.addWidget(table, 1)
        else:
            lay.addWidget(QLabel("Nothing failed."))
        lay.addWidget(buttons)
        self.table = table
