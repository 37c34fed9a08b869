"""The mammogram canvas: pyqtgraph ImageItem with zoom, pan, fit, window/level and cursor readout.

Window/level is applied by pyqtgraph to the auto-downsampled screen copy (levels and a lookup
table, not a new full-resolution array), so a right-drag stays fluid on a 4096 x 3328 16-bit
image; a SIGMOID window or a VOI LUT table is the lookup table (``core.windowing.screen_mapping``).
Mouse gestures a contour tool wants are offered to it first (``set_tool``); the rest navigate.
Zoom, pan and the right-drag window are bounded so the image can always be found again (the
ViewBox: ``canvas_viewbox``; the presets an image opens with: ``display_presets``).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, Qt, Signal
from PySide6.QtGui import QTransform
from PySide6.QtWidgets import QLabel, QToolTip, QWidget

from ..core.windowing import Window, screen_mapping
from .canvas_viewbox import CanvasViewBox, ToolHandler, bounded
from .display_presets import display_presets
from .image_pyramid import half_resolution
from .theme import VIEW_BACKGROUND

MAX_WIDTH_OF_RANGE = 2.0  # the widest right-drag window: twice the image's range of values


class MammoView(pg.GraphicsView):
    """One image on a black canvas. Emits the cursor position/value and window changes."""

    cursorMoved = Signal(float, float, object)  # x, y (image px), value or None outside
    windowChanged = Signal(object)  # Window

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background=VIEW_BACKGROUND)
        self.vb = CanvasViewBox()
        self.setCentralItem(self.vb)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setAutoDownsample(True)
        self.vb.addItem(self.image_item)
        self.pixels: np.ndarray | None = None
        self.presets: dict[str, Window] = {}
        self.window: Window | None = None
        # "left" / "right": a fitted image's spare width goes to the other side (the four-view
        # hangs the breasts back to back, chest walls at the centre line); kept while fitted
        self.anchor: str | None = None
        self._fitted = False
        self.vb.sigRangeChangedManually.connect(self.unfit)
        self.vb.sigResized.connect(self._refit)
        self.inverted = False
        self._pyramid: dict[int, np.ndarray] = {}
        self._lod: int | None = None
        self._value_range: tuple[float, float] | None = None  # min, max of the pixels: bounds the W/L drag
        self.vb.sigWindowDrag.connect(self._on_window_drag)
        self.vb.sigRangeChanged.connect(lambda *_: self._update_lod())
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.StrongFocus)  # shortcuts and keys work on the image without a click
        self.corners: dict[str, QLabel] = {}
        self._corner_texts: dict[str, list[str]] = {}  # corner -> its text, then shorter versions
        for corner in ("top", "bottom"):
            label = QLabel(self)
            label.setObjectName("canvasText")
            label.setTextFormat(Qt.RichText)
            label.setAttribute(Qt.WA_TransparentForMouseEvents)
            label.hide()
            self.corners[corner] = label
        self.notice = QLabel(self)  # the canvas's state while it has no image: "Retrieving image 12 from the PACS…"
        self.notice.setObjectName("canvasNotice")
        self.notice.setTextFormat(Qt.RichText)
        self.notice.setAlignment(Qt.AlignCenter)
        self.notice.setWordWrap(True)
        self.notice.setAttribute(Qt.WA_TransparentForMouseEvents)
        self.notice.hide()

    # corner text (essential overlays: image, window, marks legend) -----------------------
    def set_corner_text(self, corner: str, html: str, shorter: tuple[str, ...] | list[str] = ()) -> None:
        """``html`` in a corner; on a canvas too narrow for it unwrapped, the first of ``shorter``
        that fits (else the last, wrapped), with ``html`` as the tooltip: the CAD legend wrapped to
        six lines over the breast at 800 px."""
        label = self.corners[corner]
        self._corner_texts[corner] = [html, *shorter] if html else []
        label.setVisible(bool(html))
        self._place_corners()

    def corner_full_text(self, corner: str) -> str:
        """The corner's whole text, whichever version the canvas's width shows."""
        texts = self._corner_texts.get(corner)
        return texts[0] if texts else ""

    def _place_corners(self) -> None:
        for corner, label in getattr(self, "corners", {}).items():  # pyqtgraph resizes during __init__
            if label.isHidden():  # isVisible() is False for every child until the window is shown
                continue
            room = max(120, self.width() - 16)
            texts = self._corner_texts.get(corner) or [label.text()]
            label.setWordWrap(False)
            label.setMinimumSize(0, 0)
            label.setMaximumSize(16777215, 16777215)
            for text in texts:  # the longest version that fits the canvas without wrapping
                label.setText(text)
                label.adjustSize()
                if label.width() <= room:
                    break
            label.setToolTip(texts[0] if label.text() != texts[0] else "")
            if label.width() > room:  # a narrow canvas: wrap the lines instead of cutting them
                label.setWordWrap(True)
                label.setFixedWidth(room)
                label.setFixedHeight(label.heightForWidth(room))
            y = 8 if corner == "top" else self.height() - label.height() - 8
            label.move(8, max(0, y))

    def viewportEvent(self, event) -> bool:
        """A shortened corner's tooltip: the corners let the mouse through (a drag or the cursor
        readout over them still reaches the image), so their tooltips are shown from here."""
        if event.type() == QEvent.ToolTip:
            pos = self.viewport().mapTo(self, event.pos())  # the corners are the view's children
            for label in getattr(self, "corners", {}).values():
                if label.isVisible() and label.toolTip() and label.geometry().contains(pos):
                    QToolTip.showText(event.globalPos(), label.toolTip(), label)
                    return True
        return super().viewportEvent(event)

    def set_notice(self, html: str) -> None:
        """A message in the middle of the canvas (``""`` hides it): what the empty canvas is waiting for."""
        self.notice.setText(html)
        self.notice.setVisible(bool(html))
        self._place_notice()

    def notice_text(self) -> str:
        return "" if self.notice.isHidden() else self.notice.text()

    def _place_notice(self) -> None:
        notice = getattr(self, "notice", None)  # pyqtgraph resizes during __init__
        if notice is None or notice.isHidden():
            return
        width = max(120, min(560, self.width() - 32))
        notice.setFixedWidth(width)
        notice.setFixedHeight(notice.heightForWidth(width))
        notice.move((self.width() - width) // 2, max(0, (self.height() - notice.height()) // 2))

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        self._place_corners()
        self._place_notice()

    # image ---------------------------------------------------------------------------
    def set_image(self, pixels: np.ndarray, presets: dict[str, Window] | None = None, fit: bool = True,
                  default: str | None = None) -> None:
        """Show ``pixels`` (stored values, any dtype) with the ``default`` preset (else the first) as the window."""
        self.pixels = pixels
        self.vb.image_size = pixels.shape[:2]
        self.presets = presets if presets is not None else display_presets(pixels)
        self.window = self.presets.get(default) if default else None
        self.window = self.window or next(iter(self.presets.values()))
        self._pyramid = {1: pixels}
        self._lod = None
        self._value_range = None
        self._show_window()
        if fit:
            self.fit()
        self._update_lod()
        self.windowChanged.emit(self.window)

    def clear(self) -> None:
        self.pixels = None
        self.vb.image_size = None
        self._pyramid = {}
        self._lod = None
        self._value_range = None
        self.image_item.clear()

    # level of detail ------------------------------------------------------------------
    def _update_lod(self) -> None:
        """Show the pyramid level that matches the zoom (pyqtgraph's own auto-downsampling
        averages the full 13-Mpixel image in float on every first paint: ~100 ms)."""
        if self.pixels is None:
            return
        (x0, x1), _ = self.vb.viewRange()
        width = max(1.0, self.vb.width())
        per_screen_px = (x1 - x0) / width
        f = 1
        while f * 2 <= per_screen_px and f < 16 and min(self.pixels.shape[:2]) // (f * 2) >= 64:
            f *= 2
        if f == self._lod:
            return
        self._lod = f
        self.image_item.setImage(self._level(f), levels=self._levels(), autoDownsample=True)
        self.image_item.setTransform(QTransform.fromScale(f, f))

    def _level(self, f: int) -> np.ndarray:
        if f not in self._pyramid:
            self._pyramid[f] = half_resolution(self._level(f // 2))
        return self._pyramid[f]

    def fit(self) -> None:
        if self.pixels is not None:
            h, w = self.pixels.shape[:2]
            self.vb.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)
            self._fitted = True
            if self.anchor is not None:
                self._to_anchor(w)

    def _to_anchor(self, w: int) -> None:
        """Shift a fitted range so the image touches its ``anchor`` side (with the fit's margin)."""
        (x0, x1), _ = self.vb.viewRange()
        span, margin = x1 - x0, 0.02 * w
        if span <= w + 2 * margin + 1e-6:
            return  # the image fills the width: nothing spare to move
        x = (w + margin - span) if self.anchor == "right" else -margin
        self.vb.setXRange(x, x + span, padding=0)

    def unfit(self, *_args) -> None:
        self._fitted = False  # the reader zoomed or panned: a resize keeps their view

    def _refit(self, *_args) -> None:
        if self._fitted and self.anchor is not None:
            self.fit()

    # window / level ---------------------------------------------------------------
    def _levels(self) -> tuple[float, float]:
        return screen_mapping(self.window)[0] if self.window is not None else (0.0, 1.0)

    def _show_window(self) -> None:
        """The window (and the inversion) as the image item's levels and lookup table."""
        levels, lut = screen_mapping(self.window) if self.window is not None else ((0.0, 1.0), None)
        if self.inverted:
            lut = 255 - (lut if lut is not None else np.arange(256, dtype=np.uint8))
        self.image_item.setLookupTable(lut, update=False)
        self.image_item.setLevels(levels)

    def set_window(self, window: Window) -> None:
        self.window = window
        self._show_window()
        self.windowChanged.emit(window)

    def apply_preset(self, name: str) -> None:
        if name in self.presets:
            self.set_window(self.presets[name])

    def set_inverted(self, on: bool) -> None:
        """Invert the grey scale (dense tissue dark), as some readers prefer."""
        self.inverted = bool(on)
        self._show_window()

    def _on_window_drag(self, dx: float, dy: float, _finished: bool) -> None:
        """Right-drag: horizontal changes the width, vertical the centre (workstation convention).
        The centre stays within the image's values and the width below twice their range: unbounded,
        a long drag left a flat grey or black image and as long a drag back."""
        if self.window is None or self.pixels is None:
            return
        w = self.window
        lo, hi = self.value_range()
        step = max(w.width, 16.0) / 250.0
        width = bounded(w.width + dx * step * 2, w.width, 1.0, MAX_WIDTH_OF_RANGE * max(hi - lo, 1.0))
        center = bounded(w.center + dy * step, w.center, lo, hi)
        self.set_window(w.moved(center, width))

    def value_range(self) -> tuple[float, float]:
        """The smallest and largest pixel value (computed once per image, at the first W/L drag)."""
        if self._value_range is None:
            self._value_range = (float(np.min(self.pixels)), float(np.max(self.pixels)))
        return self._value_range

    # cursor -----------------------------------------------------------------------
    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self.pixels is None:
            return
        p = self.vb.mapSceneToView(scene_pos)
        x, y = p.x(), p.y()
        h, w = self.pixels.shape[:2]
        col, row = int(np.floor(x)), int(np.floor(y))
        value = self.pixels[row, col].item() if 0 <= row < h and 0 <= col < w else None
        if self.vb.tool is not None:
            self.vb.tool.hover(p)
        self.cursorMoved.emit(x, y, value)

    def set_tool(self, tool: ToolHandler | None) -> None:
        self.vb.tool = tool
        self.setCursor(Qt.ArrowCursor if tool is None else Qt.CrossCursor)

    def view_rect(self):
        return self.vb.viewRect()
