"""The canvas's ViewBox: zoom and pan kept within bounds, right-drag as window/level, and the
left-button gestures offered to a contour tool (``ToolHandler``) before they navigate.

Apart from ``image_view`` so the canvas widget keeps to showing the image; the bounds keep the
image findable again (unbounded, the wheel zoomed into a billionth of a pixel).
"""

from __future__ import annotations

from typing import Protocol

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal

MAX_ZOOM = 40.0  # screen px per image px at the closest zoom: single pixels, large enough to judge
MIN_ZOOM_OF_FIT = 0.25  # the furthest zoom out: the fitted image at a quarter of its size


def bounded(value: float, current: float, lo: float, hi: float) -> float:
    """``value`` kept within lo..hi; a ``current`` value already outside may move back, never further."""
    return min(max(value, min(lo, current)), max(hi, current))


class ToolHandler(Protocol):
    """What a contour tool implements to receive the canvas's mouse gestures (image coords)."""

    def click(self, pos: QPointF, ev) -> bool: ...
    def double_click(self, pos: QPointF, ev) -> bool: ...
    def drag(self, pos: QPointF, ev) -> bool: ...
    def hover(self, pos: QPointF) -> None: ...


class CanvasViewBox(pg.ViewBox):
    """A ViewBox whose right-drag does window/level and whose left gestures go to the tool first."""

    sigWindowDrag = Signal(float, float, bool)  # dx, dy in screen px, finished

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self.tool: ToolHandler | None = None
        self.image_size: tuple[int, int] | None = None  # (h, w) of the shown image: bounds the wheel zoom

    def scaleBy(self, s=None, center=None, x=None, y=None) -> None:
        """The wheel's zoom, kept between single pixels and a quarter of the fitted image: unbounded,
        a few turns zoomed into a billionth of a pixel (a black canvas the wheel could not leave)."""
        if s is not None and self.image_size is not None and s[0] is not None and s[0] == s[1]:
            f = self._bounded_zoom(float(s[0]))
            s = (f, f)
        before = self.targetRect().center()
        super().scaleBy(s, center, x, y)
        if self.image_size is not None:  # zoomed in beside the image: brought back over it
            after = self.targetRect().center()
            dx, dy = self._bounded_pan(after.x() - before.x(), after.y() - before.y(), before)
            if (dx, dy) != (after.x() - before.x(), after.y() - before.y()):
                super().translateBy(x=before.x() + dx - after.x(), y=before.y() + dy - after.y())

    def translateBy(self, t=None, x=None, y=None) -> None:
        """The pan, kept so the middle of the view stays over the image: unbounded, a drag threw the
        image off the canvas, with nothing left to grab to bring it back."""
        if self.image_size is not None:
            if t is not None:
                x, y, t = float(t[0]), float(t[1]), None
            x, y = self._bounded_pan(x or 0.0, y or 0.0, self.targetRect().center())
        super().translateBy(t, x, y)

    def _bounded_pan(self, dx: float, dy: float, middle) -> tuple[float, float]:
        """The shift (dx, dy) of the view's middle, limited to the image; a middle already off the
        image (a resize) may move back, never further."""
        h, w = self.image_size
        cx, cy = middle.x(), middle.y()
        return bounded(cx + dx, cx, 0.0, float(w)) - cx, bounded(cy + dy, cy, 0.0, float(h)) - cy

    def _bounded_zoom(self, f: float) -> float:
        """The factor ``f`` (> 1 zooms out) limited so the scale stays within bounds; a scale already
        past a bound (after a resize) may move back, never further."""
        h, w = self.image_size
        (x0, x1), _ = self.viewRange()
        bw, bh = self.width(), self.height()
        if bw <= 0 or bh <= 0 or x1 <= x0 or f <= 0:
            return f
        current = bw / (x1 - x0)  # screen px per image px
        fit = min(bw / w, bh / h)
        lo, hi = fit * MIN_ZOOM_OF_FIT, max(MAX_ZOOM, fit)
        new = min(current / f, max(hi, current)) if f < 1 else max(current / f, min(lo, current))
        return current / new

    def mouseDragEvent(self, ev, axis=None):
        if ev.button() == Qt.RightButton:
            ev.accept()
            d = ev.screenPos() - ev.lastScreenPos()
            self.sigWindowDrag.emit(float(d.x()), float(d.y()), bool(ev.isFinish()))
            return
        if ev.button() == Qt.LeftButton and self.tool is not None:
            if self.tool.drag(self.mapSceneToView(ev.scenePos()), ev):
                ev.accept()
                return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev):
        if ev.button() == Qt.LeftButton and self.tool is not None:
            pos = self.mapSceneToView(ev.scenePos())
            handled = self.tool.double_click(pos, ev) if ev.double() else self.tool.click(pos, ev)
            if handled:
                ev.accept()
                return
        super().mouseClickEvent(ev)
