"""The "Annotate next" dock: the active-learning queue of the chosen strategy, with the reason
for each suggestion. The strategies live in ``services.active_learning`` and see only the
datastore; this panel shows their ranking and asks the window to open an image.

Refreshes are debounced: a burst of edits or a model swap re-ranks once.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

from ..core.errors import MammoError
from ..services import active_learning, viewing
from ..services.active_learning import DEFAULT_STRATEGY, STRATEGIES, Suggestion
from ..services.project import Project
from .tables import list_table

COLUMNS = ("#", "Image", "Score", "Why")
LIMIT = 50


class SuggestionsPanel(QWidget):
    imageRequested = Signal(int)
    nextRequested = Signal()  # the window knows which image is on screen

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.suggestions: list[Suggestion] = []
        self.names: dict[int, str] = {}
        self.strategy = QComboBox()
        for name in STRATEGIES:
            self.strategy.addItem(name, name)
            self.strategy.setItemData(self.strategy.count() - 1, STRATEGIES[name].description, Qt.ToolTipRole)
        self.strategy.setCurrentText(DEFAULT_STRATEGY)
        self.strategy.currentIndexChanged.connect(lambda _i: self.refresh())
        self.next = QPushButton("Next image")
        self.next.setObjectName("primary")
        self.next.setToolTip("Open the top suggestion of this strategy (Shift+N)")
        self.next.clicked.connect(self.nextRequested.emit)
        self.description = QLabel("")
        self.description.setObjectName("muted")
        self.description.setWordWrap(True)
        self.table = list_table(COLUMNS)
        self.table.setWordWrap(False)
        head = self.table.horizontalHeader()
        for col in range(3):
            head.setSectionResizeMode(col, QHeaderView.ResizeToContents)
        head.setSectionResizeMode(3, QHeaderView.Stretch)
        self.table.itemActivated.connect(self._activated)
        self.table.itemDoubleClicked.connect(self._activated)
        top = QHBoxLayout()
        top.addWidget(QLabel("Strategy"))
        top.addWidget(self.strategy, 1)
        top.addWidget(self.next)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 8)
        lay.setSpacing(4)
        lay.addLayout(top)
        lay.addWidget(self.description)
        lay.addWidget(self.table, 1)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.refresh)

    def set_project(self, project: Project) -> None:
        self.project = project
        self.refresh()

    def current_strategy(self) -> str:
        return str(self.strategy.currentData())

    def schedule_refresh(self) -> None:
        self._debounce.start()

    def refresh(self) -> None:
        self._debounce.stop()
        if self.project is None:
            return
        name = self.current_strategy()
        self.description.setText(STRATEGIES[name].description)
        try:
            self.suggestions = active_learning.suggest(self.project, name, limit=LIMIT)
            self.names = viewing.image_names(self.project, [sug.image_id for sug in self.suggestions])
        except MammoError as exc:
            self.description.setText(f"Cannot rank the images: {exc}")
            return
        self.table.setRowCount(len(self.suggestions))
        for r, s in enumerate(self.suggestions):
            cells = (str(r + 1), self.names.get(s.image_id, f"image {s.image_id}"), f"{s.score:.2f}", s.reason)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.UserRole, s.image_id)
                item.setToolTip(s.reason)
                if c in (0, 2):
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(r, c, item)
        if not self.suggestions:
            try:
                why = active_learning.why_empty(self.project, name)
            except MammoError as exc:
                why = f"cannot tell why ({exc})"
            self.description.setText(f"{STRATEGIES[name].description} — nothing to suggest: {why}.")

    def request_next(self, exclude: int | None) -> int | None:
        """Ask for the top suggestion (other than ``exclude``, the image on screen)."""
        if self._debounce.isActive():
            self.refresh()
        pick = next((s.image_id for s in self.suggestions if s.image_id != exclude), None)
        if pick is not None:
            self.imageRequested.emit(pick)
        return pick

    def _activated(self, item: QTableWidgetItem) -> None:
        self.imageRequested.emit(int(item.data(Qt.UserRole)))
