"""Four-view hanging: R-CC, L-CC / R-MLO, L-MLO, hung back to back (chest walls meet in the
middle, so the right breast appears mirrored against the left), with synchronised zoom/pan.

Synchronisation runs in anatomical coordinates (distance from the chest wall, height), so
zooming on the left breast's upper outer quadrant shows the same quadrant of the right one.
"""

from __future__ import annotations

from html import escape

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from ..core.errors import ImageReadError
from ..core.records import ImageRecord
from ..services.pixels import load_pixels, needs_pacs_fetch
from ..services.viewing import STANDARD_VIEWS, chest_wall_on_right, patient_label
from .image_view import MammoView, display_presets, preset_for
from .pacs_retrieval import PacsRetrieval, Retrieved


class _Pane(QFrame):
    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.setObjectName("pane")
        self.record: ImageRecord | None = None
        self.flipped = False
        self.chest_right = key.startswith("R")  # where the chest wall is shown
        self.title = QLabel(key)
        self.title.setObjectName("muted")
        self.view = MammoView()
        self.view.setMinimumSize(120, 120)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        lay.addWidget(self.title)
        lay.addWidget(self.view, 1)
        self.set_current(False)

    def set_current(self, on: bool) -> None:
        self.setStyleSheet("QFrame#pane { border: 1px solid %s; }" % ("#56b4e9" if on else "#2a2c30"))
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
        self._orientation: dict[int, bool] = {}  # image id -> stored chest wall on the right
        self._syncing = False
        self.retrieval = PacsRetrieval()
        self.retrieval.finished.connect(self._on_retrieved)
        self._waiting: dict[int, str] = {}  # retrieval request -> the pane still waiting for it

    def set_images(self, hanging: dict[str, ImageRecord], current_id: int | None = None) -> list[str]:
        """Show the hanging; returns the problems (missing files) to report, if any. A view that
        must first come from its PACS says so in its pane and is filled when retrieved; a failure
        then comes as ``problem``."""
        problems = []
        self._waiting = {}  # outcomes of an earlier hanging's retrievals are no longer wanted
        for key, pane in self.panes.items():
            rec = hanging.get(key)
            pane.record = rec
            pane.set_current(rec is not None and rec.id == current_id)
            pane.view.set_notice("")
            if rec is None:
                pane.view.clear()
                pane.title.setText(f"{key}  —  not in this study")
            elif needs_pacs_fetch(rec):  # never the network in the GUI thread
                pane.view.clear()
                pane.title.setText(f"{key}   {patient_label(rec.patient_key)}  —  retrieving from the PACS…")
                pane.view.set_notice(f"<b>Retrieving {key} from the PACS…</b><br><small>{escape(rec.pacs.url)}</small>")
                self._waiting[self.retrieval.start(rec)] = key
            else:
                problems += self._show(pane, rec)
        return problems

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
        pm = f"{rec.weak.name}" if rec.weak.is_known else "weak ?"
        pane.title.setText(f"{pane.key}   {patient_label(rec.patient_key)}   {pm}   {'(mirrored)' if pane.flipped else ''}")
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
                pane.view.vb.setRange(xRange=(a * w, b * w), yRange=(v0 * h, v1 * h), padding=0)
        finally:
            self._syncing = False

    def fit_all(self) -> None:
        for pane in self.panes.values():
            pane.view.fit()
