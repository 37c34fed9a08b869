"""Annotation-cost view: a validation metric against the number of locally annotated images,
one point per model version, so a researcher sees when more contouring stops paying off."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .theme import SKY_BLUE, YELLOW

METRICS = {
    "val_M_vs_BN/auroc": "AUROC malignant vs rest (validation)",
    "val_MB_vs_N/auroc": "AUROC any finding vs normal (validation)",
    "val_loss": "validation loss",
}


class CostPlot(QWidget):
    metricChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        for key, text in METRICS.items():
            self.combo.addItem(text, key)
        self.combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(14)  # a long metric name must not widen the dock
        self.combo.setToolTip("Metric of each model version on the project's fixed validation patients")
        self.combo.currentIndexChanged.connect(lambda _i: self.metricChanged.emit(self.current_metric()))
        self.plot = pg.PlotWidget(background="#1a1b1e")
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "locally annotated training images")
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setTextPen("#aeb1b6")
            self.plot.getAxis(axis).setPen("#3a3d42")
            self.plot.getAxis(axis).enableAutoSIPrefix(False)
        self.line = self.plot.plot([], [], pen=pg.mkPen("#4a6f8a", width=1, style=pg.QtCore.Qt.DashLine))
        self.scatter = pg.ScatterPlotItem(size=9, pen=pg.mkPen("#0b0c0d"), brush=pg.mkBrush(SKY_BLUE))
        self.active = pg.ScatterPlotItem(size=14, pen=pg.mkPen(YELLOW, width=2), brush=pg.mkBrush(0, 0, 0, 0))
        self.plot.addItem(self.scatter)
        self.plot.addItem(self.active)
        self.labels: list[pg.TextItem] = []
        self.empty = QLabel("")
        self.empty.setObjectName("muted")
        self.empty.setWordWrap(True)
        self.points: list[tuple[int, int, float]] = []
        top = QHBoxLayout()
        top.addWidget(QLabel("Cost curve"))
        top.addWidget(self.combo, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(4)
        lay.addLayout(top)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.empty)

    def current_metric(self) -> str:
        return str(self.combo.currentData())

    def set_points(self, points: list[tuple[int, int, float]], active_id: int | None = None) -> None:
        """``points``: (version id, locally annotated images, metric value) per version."""
        self.points = [p for p in points if math.isfinite(p[2])]  # an AUROC is NaN on a one-class split
        for label in self.labels:
            self.plot.removeItem(label)
        self.labels = []
        self.plot.getPlotItem().setLabel("left", METRICS.get(self.current_metric(), self.current_metric()).split(" (")[0])
        xs = [float(p[1]) for p in self.points]
        ys = [float(p[2]) for p in self.points]
        self.scatter.setData(xs, ys, data=[p[0] for p in self.points])
        self.line.setData(xs, ys)  # version order: how the curve moved as annotation went on
        act = [(x, y) for (vid, _n, _v), x, y in zip(self.points, xs, ys) if vid == active_id]
        self.active.setData([a[0] for a in act], [a[1] for a in act])
        for (vid, _n, _v), x, y in zip(self.points, xs, ys):
            label = pg.TextItem(f"v{vid}", color="#aeb1b6", anchor=(0.5, 1.3))
            label.setPos(x, y)
            self.plot.addItem(label)
            self.labels.append(label)
        self.empty.setText("" if self.points else "No version has this metric yet (it is undefined when the validation "
                                              "patients lack a class: try another metric).")
        if self.points:
            lo, hi = min(xs), max(xs)
            pad = max(1.0, (hi - lo) * 0.1)
            self.plot.setXRange(lo - pad, hi + pad, padding=0)
            ylo, yhi = min(ys), max(ys)
            ypad = max(0.02, (yhi - ylo) * 0.25)
            self.plot.setYRange(ylo - ypad, yhi + ypad, padding=0)
