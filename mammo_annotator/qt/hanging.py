"""Four-view hanging: R-CC, L-CC / R-MLO, L-MLO, hung back to back (chest walls meet in the
middle, so the right breast appears mirrored against the left; a fitted image touches the centre
line, its spare width on the outer side), with synchronised zoom/pan.

Synchronisation runs in anatomical coordinates (distance from the chest wall, height), so
zooming on the left breast's upper outer quadrant shows the same quadrant of the right one.

A view with several images (a repeated exposure, a spot view coded as MLO, a prior study)
says so in its tile, "1 of 2", with arrows to step through them: one image per tile hid the rest.
"""

from __future__ import annotations

from html import escape

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from ..core.errors import ImageReadError
from ..core.records import ImageRecord
from ..services.pixels import load_pixels, needs_pacs_fetch
from ..services.viewing import STANDARD_VIEWS, chest_wall_on_right, patient_label
from .display_presets import display_presets, preset_for
from .image_view import MammoView
from .pacs_retrieval import PacsRetrieval, Retrieved
from .side_panel import WEAK_TEXT


class _Pane(QFrame):
    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.setObjectName("pane")
        self.record: ImageRecord | None = None
        self.stack: list[ImageRecord] = []  # every image of this view, the hung one first
        self.flipped = False
        self.chest_right = key.startswith("R")  # where the chest wall is shown
        self.title = QLabel(key)
        self.title.setObjectName("muted")
        self.title.setMinimumWidth(1)  # a long title is cut, the tile keeps its share of the grid
        self.prev = self._arrow("\u25C0", "Previous")
        self.count = QLabel("")
        self.count.setObjectName("paneCount")
        self.next = self._arrow("\u25B6", "Next")
        self.view = MammoView()
        self.view.setMinimumSize(120, 120)
        self.view.anchor = "right" if self.chest_right else "left"  # the chest walls meet at the centre line
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.setSpacing(4)
        head.addWidget(self.title, 1)
        for w in (self.prev, self.count, self.next):
            head.addWidget(w)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        lay.addLayout(head)
        lay.addWidget(self.view, 1)
        self.set_current(False)
        self.set_stack([])

    def _arrow(self, glyph: str, text: str) -> QToolButton:
        b = QToolButton()
        b.setText(glyph)
        b.setAutoRaise(True)
        b.setToolTip(f"{text} {self.key} image")
        b.setFixedSize(24, 18)
        b.setCursor(Qt.PointingHandCursor)
        return b

    @property
    def index(self) -> int:
        """The shown image's place in ``stack`` (0 when none)."""
        ids = [r.id for r in self.stack]
        return ids.index(self.record.id) if self.record is not None and self.record.id in ids else 0

    def set_stack(self, stack: list[ImageRecord]) -> None:
        """The view's images; the counter and arrows show only when there are several."""
        self.stack = list(stack)
        several = len(self.stack) > 1
        for w in (self.prev, self.count, self.next):
            w.setVisible(several)
        self._update_count()

    def _update_count(self) -> None:
        n = len(self.stack)
        self.count.setText(f"{self.index + 1} of {n}" if n > 1 else "")
        self.count.setToolTip(f"This patient has {n} {self.key} images (a repeat, a spot view or another study): "
                              "the arrows step through them, a double-click opens the one shown" if n > 1 else "")

    def set_current(self, on: bool) -> None:
        self.setStyleSheet("QFrame#pane { border: 1px solid %s; }" % ("#56b4e9" if on else "#2a2c30")
                           + " QLabel#paneCount { border: none; color: #F0E442; font-weight: bold; }"
                           + " QToolButton { border: none; color: #F0E442; padding: 0; }"
                           + " QToolButton:hover { background: #2f3237; }")
        self.title.setStyleSheet("border: none; color: %s; font-weight: %s;" % (("#8fc9ef", "bold") if on else ("#8b8f96", "normal")))


class FourViewWidget(QWidget):
    """The patient's standard views; double-click a pane to open it in the single view."""

    imageRequested = Signal(int)
    problem = Signal(str)  # a view that could not be shown once its retrieval ended

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panes = {key: _Pane(key) for key in STANDARD_VIEWS}
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        for i, key in enumerate(STANDARD_VIEWS):
            grid.addWidget(self.panes[key], i // 2, i % 2)
            pane = self.panes[key]
            pane.view.vb.sigRangeChangedManually.connect(lambda *_a, k=key: self._sync_from(k))
            pane.view.mouseDoubleClickEvent = lambda ev, k=key: self._open(k)
            pane.prev.clicked.connect(lambda _c=False, k=key: self.step(k, -1))
            pane.next.clicked.connect(lambda _c=False, k=key: self.step(k, 1))
        self._orientation: dict[int, bool] = {}  # image id -> stored chest wall on the right
        self._syncing = False
        self.retrieval = PacsRetrieval()
        self.retrieval.finished.connect(self._on_retrieved)
        self._waiting: dict[int, str] = {}  # retrieval request -> the pane still waiting for it
        self._current_id: int | None = None  # the image open in the single view
        self._current_study: str | None = None  # its study: an image of another one says so

    def set_images(self, hanging: dict[str, ImageRecord], current_id: int | None = None,
                   views: dict[str, list[ImageRecord]] | None = None) -> list[str]:
        """Show the hanging; returns the problems (missing files) to report, if any. A view that
        must first come from its PACS says so in its pane and is filled when retrieved; a failure
        then comes as ``problem``. ``views`` holds every image of each view (the hung one first):
        a tile with several counts them and steps through them."""
        problems = []
        self._waiting = {}  # outcomes of an earlier hanging's retrievals are no longer wanted
        self._current_id = current_id
        everything = [r for recs in (views or {}).values() for r in recs] + list(hanging.values())
        self._current_study = next((r.study_key for r in everything if r.id == current_id), None)
        for key, pane in self.panes.items():
            rec = hanging.get(key)
            stack = list((views or {}).get(key) or ([rec] if rec is not None else []))
            if rec is not None and rec.id not in {r.id for r in stack}:
                stack.insert(0, rec)
            pane.record = rec
            pane.set_stack(stack)
            problems += self._load(pane, rec)
        return problems

    def step(self, key: str, delta: int) -> list[str]:
        """Show the next (``delta`` 1) or previous (-1) image of a view with several."""
        pane = self.panes[key]
        if len(pane.stack) < 2:
            return []
        rec = pane.stack[(pane.index + delta) % len(pane.stack)]
        pane.record = rec
        pane._update_count()
        for request, waiting_key in list(self._waiting.items()):
            if waiting_key == key:  # the image it waited for is no longer the one to show
                del self._waiting[request]
        problems = self._load(pane, rec)
        for text in problems:
            self.problem.emit(text)
        return problems

    def _load(self, pane: _Pane, rec: ImageRecord | None) -> list[str]:
        key = pane.key
        pane.set_current(rec is not None and rec.id == self._current_id)
        pane.view.set_notice("")
        if rec is None:
            pane.view.clear()
            pane.title.setText(f"{key}  —  not in this study")
            return []
        if needs_pacs_fetch(rec):  # never the network in the GUI thread
            pane.view.clear()
            pane.title.setText(f"{key}   {patient_label(rec.patient_key)}  —  retrieving from the PACS…")
            pane.view.set_notice(f"<b>Retrieving {key} from the PACS…</b><br><small>{escape(rec.pacs.url)}</small>")
            self._waiting[self.retrieval.start(rec)] = key
            return []
        return self._show(pane, rec)

    def _show(self, pane: _Pane, rec: ImageRecord) -> list[str]:
        try:
            pixels = load_pixels(rec)
        except ImageReadError as exc:
            pane.view.clear()
            pane.title.setText(f"{pane.key}  —  image unavailable")
            return [str(exc)]
        stored_right = self._orientation.get(rec.id)
        if stored_right is None:
            stored_right = self._orientation[rec.id] = chest_wall_on_right(pixels, rec.laterality)
        pane.flipped = stored_right != pane.chest_right
        shown = np.fliplr(pixels) if pane.flipped else pixels
        pane.view.set_image(shown, display_presets(pixels, rec), default=preset_for(rec))
        pm = WEAK_TEXT.get(rec.weak.name, rec.weak.name) if rec.weak.is_known else "label ?"  # words, not "N"
        other = "   another study" if self._current_study is not None and rec.study_key != self._current_study else ""
        pane.title.setText(f"{pane.key}   {patient_label(rec.patient_key)}   {pm}{other}   {'(mirrored)' if pane.flipped else ''}")
        return []

    def _on_retrieved(self, outcome: Retrieved) -> None:
        key = self._waiting.pop(outcome.request, None)
        pane = self.panes.get(key)  # None: a request of a replaced hanging
        if pane is None or pane.record is None or pane.record.id != outcome.image_id:
            return  # the reader moved on; the copy stays cached for when they come back
        pane.view.set_notice("")
        if outcome.error is not None:
            pane.view.clear()
            pane.title.setText(f"{key}  —  image unavailable")
            problems = [str(outcome.error) if isinstance(outcome.error, ImageReadError)
                        else f"{key}: {type(outcome.error).__name__}: {outcome.error}"]
        else:
            problems = self._show(pane, pane.record)
        for text in problems:
            self.problem.emit(text)

    @property
    def retrieving(self) -> bool:
        """A pane is waiting for its image from the PACS."""
        return bool(self._waiting)

    def _open(self, key: str) -> None:
        rec = self.panes[key].record
        if rec is not None:
            self.imageRequested.emit(rec.id)

    # synchronised zoom / pan ---------------------------------------------------------------
    def _anatomical(self, pane: _Pane) -> tuple[float, float, float, float] | None:
        if pane.record is None or pane.view.pixels is None:
            return None
        h, w = pane.view.pixels.shape[:2]
        (x0, x1), (y0, y1) = pane.view.vb.viewRange()
        u0, u1 = x0 / w, x1 / w
        if pane.chest_right:  # u measured from the chest wall
            u0, u1 = 1 - u1, 1 - u0
        return u0, u1, y0 / h, y1 / h

    def _sync_from(self, key: str) -> None:
        if self._syncing:
            return
        rng = self._anatomical(self.panes[key])
        if rng is None:
            return
        u0, u1, v0, v1 = rng
        self._syncing = True
        try:
            for other_key, pane in self.panes.items():
                if other_key == key or pane.view.pixels is None:
                    continue
                h, w = pane.view.pixels.shape[:2]
                a, b = (1 - u1, 1 - u0) if pane.chest_right else (u0, u1)
                pane.view.unfit()  # follows the reader's zoom now, not the fit
                pane.view.vb.setRange(xRange=(a * w, b * w), yRange=(v0 * h, v1 * h), padding=0)
        finally:
            self._syncing = False

    def fit_all(self) -> None:
        for pane in self.panes.values():
            pane.view.fit()
