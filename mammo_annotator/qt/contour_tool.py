"""Drawing tools (polygon, freehand) and an outline kept after a failed save.

Tools only collect points in image pixels and emit them; they never write. The main window
turns a finished outline into an undoable command that calls the services, so the database
is the one source of truth and the layer (``contour_layer``) is redrawn from it after each
edit. An outline stays drawn until the page has saved it (and clears it): a save that fails
(database locked, read-only...) leaves it on the canvas, to close again or discard with Escape.
"""

from __future__ import annotations

import enum

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, Qt, Signal

from .theme import CONTOUR_COLOURS

CLOSE_RADIUS_PX = 10  # a click this close (screen px) to the first vertex closes the polygon


class Tool(str, enum.Enum):
    NAVIGATE = "Navigate"
    POLYGON = "Polygon"
    FREEHAND = "Freehand"
    ELLIPSE = "Ellipse"
    RULER = "Ruler"
    EDIT = "Edit"


class Markers(pg.ScatterPlotItem):
    """Vertex markers that never take a click (pyqtgraph's scatter would swallow the click on the
    first vertex that closes a polygon)."""

    def mouseClickEvent(self, ev) -> None:
        ev.ignore()


class _DrawingTool(QObject):
    """Base of the tools that collect an outline; shows a dashed preview while drawing."""

    completed = Signal(object)  # (n, 2) float array, image pixels
    tooFew = Signal()  # asked to close an outline of 1 or 2 points: nothing closed, the reader is told

    def __init__(self, view) -> None:
        super().__init__()
        self.view = view
        self.points: list[tuple[float, float]] = []
        self.colour = CONTOUR_COLOURS["M"]
        self.preview = pg.PlotCurveItem()
        self.closing = pg.PlotCurveItem()  # the segment that will close the outline, back to the first vertex
        self.markers = Markers(size=7, pxMode=True)
        for z, item in enumerate((self.closing, self.preview, self.markers)):
            item.setZValue(50 + z)
            view.vb.addItem(item, ignoreBounds=True)
        self.set_colour(self.colour)

    def set_colour(self, colour: str) -> None:
        self.colour = colour
        self.preview.setPen(pg.mkPen(colour, width=1.5))
        self.closing.setPen(pg.mkPen(colour, width=1, style=Qt.DotLine))
        self.markers.setPen(pg.mkPen("#000000", width=1))
        self.markers.setBrush(pg.mkBrush(colour))

    show_markers = True

    def _redraw(self, cursor: QPointF | None = None) -> None:
        pts = list(self.points)
        if cursor is not None and pts:
            pts.append((cursor.x(), cursor.y()))
        if not pts:
            for item in (self.preview, self.closing):
                item.setData([], [])
            self.markers.setData([], [])
            return
        a = np.asarray(pts, dtype=float)
        self.preview.setData(a[:, 0], a[:, 1])
        if len(a) >= 3:
            self.closing.setData([a[-1, 0], a[0, 0]], [a[-1, 1], a[0, 1]])
        else:
            self.closing.setData([], [])
        v = np.asarray(self.points, dtype=float) if self.show_markers and self.points else np.zeros((0, 2))
        self.markers.setData(v[:, 0], v[:, 1])

    def cancel(self) -> None:
        self.points = []
        self._redraw()

    def finish(self) -> bool:
        """Close the outline and emit it (3 points at least); returns whether it did.
        The points stay: the page clears them (``cancel``) once the outline is saved, so a
        failed save loses nothing."""
        if len(self.points) < 3:
            if self.points:
                self.tooFew.emit()
            return False
        self._redraw()  # the outline as it is saved, without the cursor's rubber band
        self.completed.emit(np.asarray(self.points, dtype=float))
        return True

    @property
    def drawing(self) -> bool:
        return bool(self.points)

    def detach(self) -> None:
        self.cancel()
        for item in (self.preview, self.closing, self.markers):
            self.view.vb.removeItem(item)

    # ToolHandler defaults
    def click(self, pos, ev) -> bool:
        return False

    def double_click(self, pos, ev) -> bool:
        return False

    def drag(self, pos, ev) -> bool:
        return False

    def hover(self, pos) -> None:
        pass


class PolygonTool(_DrawingTool):
    """Click vertices; close by clicking the first vertex, double-click, or Enter."""

    def _screen_distance(self, a: QPointF, b: tuple[float, float]) -> float:
        pa = self.view.vb.mapViewToScene(a)
        pb = self.view.vb.mapViewToScene(QPointF(*b))
        return float(np.hypot(pa.x() - pb.x(), pa.y() - pb.y()))

    def click(self, pos, ev) -> bool:
        if len(self.points) >= 3 and self._screen_distance(pos, self.points[0]) <= CLOSE_RADIUS_PX:
            self.finish()
            return True
        self.points.append((pos.x(), pos.y()))
        self._redraw()
        return True

    def double_click(self, pos, ev) -> bool:
        # the first click of the double-click already added this vertex
        self.finish()
        return True

    def hover(self, pos) -> None:
        if self.points:
            self._redraw(pos)

    def undo_point(self) -> None:
        if self.points:
            self.points.pop()
            self._redraw()


class FreehandTool(_DrawingTool):
    """Press, drag along the lesion border, release: the outline closes itself."""

    show_markers = False  # hundreds of points: the stroke and its closing segment say enough

    def drag(self, pos, ev) -> bool:
        if ev.isStart():
            self.points = []
            start = self.view.vb.mapSceneToView(ev.buttonDownScenePos(Qt.LeftButton))
            self.points.append((start.x(), start.y()))
        elif not self.points:
            return True  # the stroke was cancelled (Escape, another image) while the button was down: the rest is ignored
        self.points.append((pos.x(), pos.y()))
        if ev.isFinish():
            pts = [p for i, p in enumerate(self.points) if i == 0 or p != self.points[i - 1]]  # the release repeats the last move
            self.points = simplify(pts, self._tolerance())
            if not self.finish():
                self.cancel()  # too short to be an outline
        else:
            self._redraw()
        return True

    def _tolerance(self) -> float:
        """About one screen pixel, in image pixels: keeps the outline, drops the jitter."""
        px = self.view.vb.viewPixelSize()
        return max(0.5, float(px[0]))


class KeptOutline:
    """An outline whose save failed, from a tool that lets go of it on completion (the ellipse):
    shown dashed until it is saved again (Enter) or discarded (Escape)."""

    def __init__(self, view) -> None:
        self.points: np.ndarray | None = None
        self.item = pg.PlotCurveItem()
        self.item.setZValue(50)
        view.vb.addItem(self.item, ignoreBounds=True)

    def keep(self, points: np.ndarray, colour: str) -> None:
        self.points = np.asarray(points, dtype=float)
        closed = np.vstack([self.points, self.points[:1]])
        self.item.setPen(pg.mkPen(colour, width=1.5, style=Qt.DashLine))
        self.item.setData(closed[:, 0], closed[:, 1])

    def take(self) -> np.ndarray | None:
        """The kept outline (None if none), no longer kept."""
        points, self.points = self.points, None
        self.item.setData([], [])
        return points


def simplify(points: list[tuple[float, float]], tolerance: float, max_points: int = 120) -> list[tuple[float, float]]:
    """Douglas-Peucker via shapely, loosened until the outline is light enough to edit."""
    from shapely.geometry import LineString

    if len(points) < 4:
        return points
    line = LineString(points + [points[0]])
    tol = tolerance
    out = list(line.coords)
    for _ in range(12):
        out = list(line.simplify(tol, preserve_topology=False).coords)
        if len(out) - 1 <= max_points:
            break
        tol *= 1.6
    return [(float(x), float(y)) for x, y in out[:-1]]
