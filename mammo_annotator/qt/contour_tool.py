"""Drawing tools (polygon, freehand) and the contour layer (display, vertex edit, move, select).

Tools only collect points in image pixels and emit them; they never write. The main window
turns a finished outline into an undoable command that calls the services, so the database
is the one source of truth and the layer is redrawn from it after each edit. An outline stays
drawn until the page has saved it (and clears it): a save that fails (database locked,
read-only...) leaves it on the canvas, to close again or discard with Escape.
"""

from __future__ import annotations

import enum

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from ..core.records import AnnotationRecord
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


class _Outline(QGraphicsPathItem):
    """A plain contour outline; in Edit mode a click on it (or inside it) selects it."""

    def __init__(self, path: QPainterPath, on_click=None) -> None:
        super().__init__(path)
        self.on_click = on_click
        self.setAcceptedMouseButtons(Qt.LeftButton if on_click else Qt.NoButton)

    def mouseClickEvent(self, ev) -> None:  # pyqtgraph's scene delivers clicks here
        if self.on_click is not None and ev.button() == Qt.LeftButton:
            ev.accept()
            self.on_click()


def _path(pts: np.ndarray) -> QPainterPath:
    path = QPainterPath(QPointF(*pts[0]))
    for x, y in pts[1:]:
        path.lineTo(x, y)
    path.closeSubpath()
    return path


class ContourLayer(QObject):
    """The image's contours: plain outlines; in Edit mode one selected contour at a time is an
    editable ROI (vertices, move) drawn thick with a dark halo, the others thin and clickable."""

    edited = Signal(int, object)  # annotation id, new (n, 2) points
    selectionChanged = Signal(object)  # annotation id or None

    def __init__(self, view) -> None:
        super().__init__()
        self.view = view
        self.records: list[AnnotationRecord] = []
        self.items: dict[int, object] = {}
        self.halo: QGraphicsPathItem | None = None
        self.editable = False
        self.selected: int | None = None
        self.visible = True
        self.unsaved: dict[int, np.ndarray] = {}  # outlines edited on screen whose save failed

    def set_contours(self, records: list[AnnotationRecord]) -> None:
        self.records = list(records)
        ids = {r.id for r in self.records}
        self.unsaved = {aid: pts for aid, pts in self.unsaved.items() if aid in ids}
        if self.selected not in ids:
            self.selected = None
            if self.editable and self.records:
                self.selected = self.records[-1].id
        self._rebuild()

    def set_editable(self, on: bool) -> None:
        self.editable = bool(on)
        if self.editable and self.selected is None and self.records:
            self.selected = self.records[-1].id  # the latest contour: what one edits most often
            self.selectionChanged.emit(self.selected)
        self._rebuild()

    def set_visible(self, on: bool) -> None:
        self.visible = bool(on)
        for item in self._all_items():
            item.setVisible(self.visible)

    def select(self, annotation_id: int | None) -> None:
        if annotation_id == self.selected:
            return
        self.selected = annotation_id
        self._rebuild()
        self.selectionChanged.emit(annotation_id)

    def keep_unsaved(self, annotation_id: int, points: np.ndarray) -> None:
        """An outline edit the database refused for now stays on screen, through reloads, until
        saved or discarded."""
        self.unsaved[annotation_id] = np.asarray(points, dtype=float)

    def forget_unsaved(self, annotation_id: int) -> None:
        self.unsaved.pop(annotation_id, None)

    def discard_unsaved(self) -> bool:
        """Back to the stored outlines; returns whether there was an unsaved edit."""
        if not self.unsaved:
            return False
        self.unsaved = {}
        self._rebuild()
        return True

    def record(self, annotation_id: int | None) -> AnnotationRecord | None:
        return next((r for r in self.records if r.id == annotation_id), None)

    def _pen(self, rec: AnnotationRecord) -> QPen:
        colour = QColor(CONTOUR_COLOURS.get(rec.cls.value, "#ffffff"))
        chosen = rec.id == self.selected
        if self.editable and not chosen:
            colour.setAlpha(170)
        pen = QPen(colour, 3.5 if chosen else (1.5 if self.editable else 2.0))
        pen.setCosmetic(True)
        return pen

    def _all_items(self) -> list:
        return list(self.items.values()) + ([self.halo] if self.halo is not None else [])

    def _clear(self) -> None:
        for item in self._all_items():
            self.view.vb.removeItem(item)
        self.items = {}
        self.halo = None

    def _rebuild(self) -> None:
        self._clear()
        for rec in self.records:
            pts = self.unsaved.get(rec.id, rec.polygon.as_array())
            if self.editable and rec.id == self.selected:
                item = pg.PolyLineROI(pts.tolist(), closed=True, movable=True, pen=self._pen(rec))
                item.setAcceptedMouseButtons(Qt.LeftButton)
                item.sigRegionChangeFinished.connect(lambda roi, aid=rec.id: self._on_roi_finished(aid, roi))
                item.sigClicked.connect(lambda _roi, _ev, aid=rec.id: self.select(aid))
                self.halo = QGraphicsPathItem(_path(pts))  # a dark rim: the selection reads on bright tissue
                halo_pen = QPen(QColor(0, 0, 0, 200), 7.0)
                halo_pen.setCosmetic(True)
                self.halo.setPen(halo_pen)
                self.halo.setZValue(39)
                self.halo.setVisible(self.visible)
                self.view.vb.addItem(self.halo, ignoreBounds=True)
                halo = self.halo
                item.sigRegionChanged.connect(lambda roi, h=halo: h.setPath(_path(roi_points(roi))))
            else:
                item = _Outline(_path(pts), (lambda aid=rec.id: self.select(aid)) if self.editable else None)
                item.setPen(self._pen(rec))
            item.setZValue(40)
            item.setVisible(self.visible)
            self.view.vb.addItem(item, ignoreBounds=True)
            self.items[rec.id] = item

    def _on_roi_finished(self, annotation_id: int, roi) -> None:
        self.selected = annotation_id
        self.edited.emit(annotation_id, roi_points(roi))


def roi_points(roi) -> np.ndarray:
    """A PolyLineROI's vertices in image pixels (its handle positions are relative to the ROI)."""
    pts = [roi.mapToParent(pos) for _name, pos in roi.getLocalHandlePositions()]
    return np.asarray([(p.x(), p.y()) for p in pts], dtype=float)
