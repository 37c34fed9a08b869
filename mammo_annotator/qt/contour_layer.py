"""The contour layer: the image's saved contours drawn as outlines; in Edit mode one selected
contour at a time is an editable ROI (vertices, move), the others thin and clickable.

The layer only shows and emits (``edited``); the page saves, and the layer is redrawn from the
database after each edit. Apart from the drawing tools (``contour_tool``), which make new outlines.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from ..core.records import AnnotationRecord
from .theme import CONTOUR_COLOURS


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
