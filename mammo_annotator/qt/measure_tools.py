"""The ellipse tool (drag a box: an ellipse contour like any other) and the ruler (drag: a line
with its length in mm, or px without pixel spacing). A ruler is a measurement on screen, not an
annotation: it stays until the next one, Escape, or another image.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal

from ..core.measure import length
from .contour_tool import Markers
from .theme import CONTOUR_COLOURS, SKY_BLUE

ELLIPSE_POINTS = 48


def ellipse_points(x0: float, y0: float, x1: float, y1: float, n: int = ELLIPSE_POINTS) -> np.ndarray:
    """The ellipse inscribed in the box, as an n-gon (counter-clockwise in image coordinates)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, abs(x1 - x0) / 2, abs(y1 - y0) / 2
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


class EllipseTool(QObject):
    """Press at one corner of the lesion's box, drag to the other, release."""

    completed = Signal(object)  # (n, 2) points

    def __init__(self, view) -> None:
        super().__init__()
        self.view = view
        self.start: tuple[float, float] | None = None
        self.preview = pg.PlotCurveItem()
        self.preview.setZValue(50)
        view.vb.addItem(self.preview, ignoreBounds=True)
        self.set_colour(CONTOUR_COLOURS["M"])

    def set_colour(self, colour: str) -> None:
        self.preview.setPen(pg.mkPen(colour, width=1.5))

    @property
    def drawing(self) -> bool:
        return self.start is not None

    def drag(self, pos, ev) -> bool:
        if ev.isStart():
            p = self.view.vb.mapSceneToView(ev.buttonDownScenePos(Qt.LeftButton))
            self.start = (p.x(), p.y())
        if self.start is None:
            return True
        pts = ellipse_points(*self.start, pos.x(), pos.y())
        if ev.isFinish():
            self.cancel()
            if len(pts) and np.ptp(pts[:, 0]) > 2 and np.ptp(pts[:, 1]) > 2:
                self.completed.emit(pts)
        else:
            closed = np.vstack([pts, pts[:1]])
            self.preview.setData(closed[:, 0], closed[:, 1])
        return True

    def cancel(self) -> None:
        self.start = None
        self.preview.setData([], [])

    def finish(self) -> bool:
        return False

    def detach(self) -> None:
        self.cancel()
        self.view.vb.removeItem(self.preview)

    def click(self, pos, ev) -> bool:
        return False

    def double_click(self, pos, ev) -> bool:
        return False

    def hover(self, pos) -> None:
        pass


class RulerTool(QObject):
    """Drag from one point to another; the length is written beside the line."""

    measured = Signal(float, str)  # length, unit

    def __init__(self, view, spacing: tuple[float, float] | None) -> None:
        super().__init__()
        self.view = view
        self.spacing = spacing
        self.start: tuple[float, float] | None = None
        self.end: tuple[float, float] | None = None
        self.line = pg.PlotCurveItem(pen=pg.mkPen(SKY_BLUE, width=2))
        self.ends = Markers(size=7, pen=pg.mkPen("#000000"), brush=pg.mkBrush(SKY_BLUE))
        self.text = pg.TextItem("", color=SKY_BLUE, anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 190))
        for z, item in enumerate((self.line, self.ends, self.text)):
            item.setAcceptedMouseButtons(Qt.NoButton)
            item.setZValue(60 + z)
            view.vb.addItem(item, ignoreBounds=True)
        self.text.hide()

    drawing = False  # a finished ruler stays; nothing to cancel mid-way for the outline shortcuts

    def set_colour(self, colour: str) -> None:
        pass

    def drag(self, pos, ev) -> bool:
        if ev.isStart():
            p = self.view.vb.mapSceneToView(ev.buttonDownScenePos(Qt.LeftButton))
            self.start = (p.x(), p.y())
        if self.start is None:
            return True
        self.end = (pos.x(), pos.y())
        value, unit = self.show_line(self.start, self.end)
        if ev.isFinish():
            self.measured.emit(value, unit)
        return True

    def show_line(self, a: tuple[float, float], b: tuple[float, float]) -> tuple[float, str]:
        self.start, self.end = a, b
        value, unit = length(a, b, self.spacing)
        self.line.setData([a[0], b[0]], [a[1], b[1]])
        self.ends.setData([a[0], b[0]], [a[1], b[1]])
        self.text.setText(f"{value:.1f} mm" if unit == "mm" else f"{value:.0f} px")
        self.text.setPos(b[0], b[1])
        self.text.show()
        return value, unit

    @property
    def text_value(self) -> str:
        return self.text.toPlainText() if self.text.isVisible() else ""

    def cancel(self) -> None:
        self.start = self.end = None
        self.line.setData([], [])
        self.ends.setData([], [])
        self.text.hide()

    def finish(self) -> bool:
        return False

    def detach(self) -> None:
        self.cancel()
        for item in (self.line, self.ends, self.text):
            self.view.vb.removeItem(item)

    def click(self, pos, ev) -> bool:
        return True  # a click with the ruler does not pan or select

    def double_click(self, pos, ev) -> bool:
        return True

    def hover(self, pos) -> None:
        pass
