"""The Model history dock: every stored version with its training set and validation metrics,
"Use this version", and the annotation-cost plot (metric vs locally annotated images).

It reads through ``services.model_history`` and asks the window to activate a version; the
window's ``model_activated`` handling swaps the proposals and the worklist.
"""

from __future__ import annotations

import logging
import math
import threading

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QHBoxLayout, QHeaderView, QLabel, QPushButton, QSplitter, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

from ..core.errors import MammoError
from ..core.records import ModelVersionRecord
from ..services import model_history
from ..services.model_compare import Comparison, compare_versions
from ..services.project import Project
from .cost_plot import CostPlot
from .tables import list_table
from .theme import BLUISH_GREEN, ORANGE, VERMILLION, local_time

COLUMNS = ("v", "Trained", "State", "Images", "Image labels M/B/N", "Outlined", "Windows M/BN",
           "Loss (same val.)", "AUROC M (same val.)", "Loss then", "AUROC M then")
SAME_LOSS, SAME_AUC = 7, 8
TIPS = {
    3: "training images (+ validation images)",
    4: "training images by their image-level label: malignant / benign / normal (an image with both counts in M and B)",
    5: "training images with local annotations (contours, or a confirmed 'no malignant finding')",
    6: "the model's windows labelled from the contours in the training set: M (inside a malignant contour) / "
       "BN (benign or normal: touching none)",
    7: "validation loss of every version re-scored today on the same validation images (lower is better): "
       "the numbers that compare",
    8: "AUROC malignant vs the rest, every version on the same validation images",
    9: "validation loss when the version was trained, on the validation patients of that day",
    10: "AUROC malignant vs rest when the version was trained",
}
log = logging.getLogger(__name__)
STATE_COLOUR = {"worse": ORANGE, "diverged": VERMILLION}


def _num(value, fmt: str = "{:.3f}") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"  # e.g. an AUROC on validation patients without a malignant image
    return fmt.format(value)


def version_cells(v: ModelVersionRecord) -> list[str]:
    s, m = v.summary or {}, v.metrics or {}
    c = s.get("classes", {})
    weak = f"{c.get('M', 0) + c.get('MB', 0)}/{c.get('B', 0) + c.get('MB', 0)}/{c.get('N', 0)}" if c else "—"
    rl = s.get("n_region_labels", {})
    regions = f"{rl.get('M', 0)}/{rl.get('BN', 0)}" if rl else "—"
    n_img = s.get("n_images", s.get("images"))
    n_val = s.get("n_val_images")
    images = "—" if n_img is None else (f"{n_img} + {n_val}" if n_val else str(n_img))
    state = "active" if v.is_active else v.state
    return [f"{'● ' if v.is_active else ''}v{v.id}", local_time(v.created_at), state, images, weak,
            _num(s.get("n_local"), "{}"), regions, "…", "…", _num(m.get("val_loss")), _num(m.get("val_M_vs_BN/auroc"))]


def version_tooltip(v: ModelVersionRecord) -> str:
    s, m = v.summary or {}, v.metrics or {}
    lines = [f"v{v.id}  {v.name}  ({v.state}{', active' if v.is_active else ''})", f"trained {local_time(v.created_at)}"]
    if v.note:
        lines.append(v.note)
    for key in ("method", "backbone", "epochs", "warm_start", "train_seconds"):
        if key in m:
            lines.append(f"{key}: {m[key]}")
    if s.get("n_patients") is not None:
        lines.append(f"patients: {s['n_patients']}")
    lines.append(f"extractor: {v.extractor_key}")
    return "\n".join(lines)


class _Relay(QObject):
    done = Signal(object)  # Comparison, or an error text


class HistoryPanel(QWidget):
    useVersion = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.versions: list[ModelVersionRecord] = []
        self.table = list_table(COLUMNS)
        for col, tip in TIPS.items():
            self.table.horizontalHeaderItem(col).setToolTip(tip)
        self.table.setStyleSheet("QHeaderView::section { padding: 4px 3px; }")
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(QHeaderView.ResizeToContents)
        head.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selection)
        self.table.itemDoubleClicked.connect(lambda *_: self._use())
        self.use = QPushButton("Use this version")
        self.use.setToolTip("Make the selected version the active model: proposals and p(M)/p(B) switch to it")
        self.use.setEnabled(False)
        self.use.clicked.connect(self._use)
        self.info = QLabel("")
        self.info.setObjectName("muted")
        self.same = QLabel("")
        self.same.setObjectName("muted")
        self.same.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.info, 1)
        row.addWidget(self.use)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(6, 6, 6, 6)
        lv.setSpacing(4)
        lv.addWidget(self.table, 1)
        lv.addWidget(self.same)
        lv.addLayout(row)
        self.cost = CostPlot()
        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(self.cost)
        self.split, self._sized = split, False
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        self.project: Project | None = None
        self.comparison: Comparison | None = None
        self._relay = _Relay()
        self._relay.done.connect(self._show_comparison, Qt.QueuedConnection)
        self._compare_thread: threading.Thread | None = None
        self._compare_again = False
        self._stale = False
        self.cost.metricChanged.connect(lambda *_: self.refresh())

    def showEvent(self, event) -> None:
        """Size the splitter once the dock has its width: the table's columns fit, the plot gets the rest."""
        super().showEvent(event)
        if self._stale:
            self.compare()
        if not self._sized and self.split.width() > 300:
            self._sized = True
            total = self.split.width()
            table = min(800, int(total * 0.78))
            self.split.setSizes([table, total - table])

    def set_project(self, project: Project) -> None:
        self.project = project
        self.refresh()

    def refresh(self) -> None:
        if self.project is None:
            return
        try:
            versions = model_history.list_versions(self.project)
            points = model_history.annotation_cost_points(self.project, self.cost.current_metric())
        except Exception as exc:  # a driver error or a damaged row: shown here and in the status bar, not only logged
            log.exception("model history refresh failed")
            self.show_error(f"Cannot read the model history: {exc if isinstance(exc, MammoError) else f'{type(exc).__name__}: {exc}'}")
            return
        self.set_versions(versions)
        active = next((v.id for v in versions if v.is_active), None)
        self.cost.set_points(points, active)
        self.compare()

    # the same validation images for every version (scored in a thread: torch, features) ----
    def compare(self) -> None:
        """Score every version on the same images, in a thread; only while the panel is shown
        (it loads torch and the features: nothing a closed dock should cost at start)."""
        if self.project is None:
            return
        if not self.isVisible():
            self._stale = True
            return
        self._stale = False
        if self._compare_thread is not None and self._compare_thread.is_alive():
            self._compare_again = True
            return
        self.same.setText("Scoring every version on the same validation images…")
        project, relay = self.project, self._relay

        def run() -> None:
            try:
                relay.done.emit(compare_versions(project))
            except Exception as exc:  # shown in the panel; the stored numbers stay usable
                relay.done.emit(f"Cannot compare the versions on the same images: {exc}")

        self._compare_thread = threading.Thread(target=run, name="history-compare", daemon=True)
        self._compare_thread.start()

    def wait_comparison(self, timeout: float = 60.0) -> None:
        if self._compare_thread is not None:
            self._compare_thread.join(timeout)

    def _show_comparison(self, result) -> None:
        if self._compare_again:
            self._compare_again = False
            self.compare()
            return
        if isinstance(result, str):
            self.same.setText(result)
            return
        self.comparison = c = result
        for r, v in enumerate(self.versions):
            why = c.missing.get(v.id, "diverged" if v.state == "diverged" else "")
            for col, values, fmt in ((SAME_LOSS, c.loss, "{:.3f}"), (SAME_AUC, c.auroc, "{:.3f}")):
                item = self.table.item(r, col)
                if item is not None:
                    item.setText(_num(values.get(v.id), fmt))
                    item.setToolTip(f"{c.describe()}" + (f"; not scored: {why}" if why else ""))
        text = f"“same val.”: {c.describe()} ({c.n_malignant} malignant, {c.n_other} other)"
        caveat = c.caveat()
        self.same.setText(text + (f". {caveat[0].upper() + caveat[1:]}." if caveat else "."))
        self.same.setStyleSheet(f"color: {ORANGE};" if caveat else "")

    def show_error(self, text: str) -> None:
        self.info.setText(text)
        window = self.window()
        if hasattr(window, "statusBar"):
            window.statusBar().showMessage(text, 30000)

    def set_versions(self, versions: list[ModelVersionRecord]) -> None:
        selected = self.selected_id()
        self.versions = sorted(versions, key=lambda v: -v.id)  # newest first
        self.table.setRowCount(len(self.versions))
        bold = QFont(self.table.font())
        bold.setBold(True)
        for r, v in enumerate(self.versions):
            tip = version_tooltip(v)
            for c, text in enumerate(version_cells(v)):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                item.setData(Qt.UserRole, v.id)
                if c >= 3:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if v.is_active:
                    item.setFont(bold)
                if c == 2:
                    item.setForeground(QColor(BLUISH_GREEN if v.is_active else STATE_COLOUR.get(v.state, "#d6d7da")))
                self.table.setItem(r, c, item)
        active = next((v for v in self.versions if v.is_active), None)
        self.info.setText(f"{len(self.versions)} version(s); active: v{active.id}" if active else
                          f"{len(self.versions)} version(s); none active")
        if selected is not None:
            self.select(selected)
        self._selection()

    def select(self, version_id: int) -> None:
        for r, v in enumerate(self.versions):
            if v.id == version_id:
                self.table.selectRow(r)
                return

    def selected_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return int(self.table.item(rows[0].row(), 0).data(Qt.UserRole)) if rows else None

    def _selection(self) -> None:
        vid = self.selected_id()
        v = next((x for x in self.versions if x.id == vid), None)
        self.use.setEnabled(v is not None and not v.is_active)
        if v is not None and v.state in ("worse", "diverged") and not v.is_active:
            self.use.setToolTip(f"v{v.id} was not activated automatically ({v.state}); you may still choose it")
        else:
            self.use.setToolTip("Make the selected version the active model: proposals and p(M)/p(B) switch to it")

    def _use(self) -> None:
        vid = self.selected_id()
        if vid is None:  # Model > Use the selected version did nothing visible
            self.show_error("Select a version in the model history first (Model > Show training and model history).")
        elif next((x.is_active for x in self.versions if x.id == vid), True):
            self.show_error(f"v{vid} is already the active model.")
        else:
            self.useVersion.emit(vid)
