"""The "Marks" tab: which model made the CAD marks, how current it is, and the reader's settings
(operating threshold per class, how many marks, marks or heat map).

Pure widgets with signals; the window computes the validation thresholds (``services.cad``)
and the canvas draws. In a narrow dock (800 or 1024 pixels wide) ``fit_width`` swaps in shorter
labels, their full wording in tooltips, and stacks the reset button, so the tab needs no sideways
scrolling. The thresholds go back to the model's validation values whenever the
active model changes: a threshold only means something for the model it was chosen for.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QGridLayout, QGroupBox, QLabel, QPushButton, QSlider, QSpinBox,
    QVBoxLayout, QWidget,
)

from ..services import cad
from ..services.viewing import ImageBundle
from .proposals import HEAT, MARKS
from .compact import CompactTexts
from .theme import ORANGE, PROPOSAL_COLOURS, local_time

EXPLAIN = ("A mark is a region the model finds suspicious. Marks of a class appear only when the whole "
           "image's probability p reaches the threshold; by default the threshold at which the model finds "
           "85% of the validation images with that finding. Inside the image, marks are ranked by the region "
           "score (M1 = most suspicious).")


class CadPanel(CompactTexts, QWidget):
    proposalsChanged = Signal(dict)  # settings for ProposalsOverlay.configure
    resetRequested = Signal()  # back to the validation thresholds

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: dict[str, cad.OperatingPoint] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 8)
        lay.setSpacing(4)
        lay.addWidget(self._model_box())
        lay.addWidget(self._settings_box())
        explain = QLabel(EXPLAIN)
        explain.setObjectName("muted")
        explain.setWordWrap(True)
        lay.addWidget(explain)
        lay.addStretch(1)

    def _model_box(self) -> QGroupBox:
        box = QGroupBox("Model")
        v = QVBoxLayout(box)
        self.model_name = QLabel("No active model")
        self.model_name.setObjectName("value")
        self.model_name.setWordWrap(True)
        self.freshness = QLabel("")
        self.freshness.setWordWrap(True)
        self.image_probs = QLabel("")
        self.image_probs.setObjectName("muted")
        self.image_probs.setWordWrap(True)
        for w in (self.model_name, self.freshness, self.image_probs):
            v.addWidget(w)
        return box

    def _settings_box(self) -> QGroupBox:
        box = QGroupBox("Marks")
        self.grid = grid = QGridLayout(box)
        grid.setVerticalSpacing(4)
        self.mode = QComboBox()
        self.mode.addItem("Marks (boxes)", MARKS)
        self.mode.addItem("Heat map: p(malignant)", HEAT)
        self.mode.setToolTip("Boxes on the most suspicious regions, or a colour map of the probability of malignancy (M)")
        self.mode.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.mode.setMinimumContentsLength(8)  # the panel fits a 1366-pixel screen's dock
        self.mode.currentIndexChanged.connect(self._emit)
        self.show_label = QLabel("Show")
        self.show_m, self.show_b = QCheckBox("Malignant"), QCheckBox("Benign")
        self.thr: dict[str, QDoubleSpinBox] = {}
        for cb, cls in ((self.show_m, "M"), (self.show_b, "B")):
            cb.setChecked(True)
            cb.setStyleSheet(f"color: {PROPOSAL_COLOURS[cls]};")
            cb.setToolTip(f"Show the {'malignant' if cls == 'M' else 'benign'} marks ({cls}); the threshold beside "
                          "it is the image probability from which they appear")
            cb.toggled.connect(self._emit)
            spin = QDoubleSpinBox()
            spin.setRange(0.0, 1.0)
            spin.setSingleStep(0.01)
            spin.setDecimals(2)
            spin.setValue(cad.DEFAULT_THRESHOLD)
            spin.setPrefix("p ≥ ")
            spin.setMinimumWidth(70)
            spin.setToolTip(f"Threshold: marks of this class appear when the image's p({cls}) reaches it")
            spin.valueChanged.connect(self._emit)
            self.thr[cls] = spin
        self.reset = QPushButton("Validation thresholds")
        self.reset.setToolTip("Back to the thresholds at sensitivity 0.85 on the validation images")
        self.reset.clicked.connect(self.resetRequested.emit)
        self.source = QLabel("")
        self.source.setObjectName("muted")
        self.source.setWordWrap(True)
        self.top_k = QSpinBox()
        self.top_k.setRange(1, 10)
        self.top_k.setValue(cad.DEFAULT_K)
        self.top_k.setToolTip("At most this many marks of each class on the image, the most suspicious first")
        self.top_k.valueChanged.connect(self._emit)
        self.top_k_label, self.per_class = QLabel("At most"), QLabel("per class")
        self.top_k_label.setToolTip(self.top_k.toolTip())
        self.heat_opacity = QSlider(Qt.Horizontal)
        self.heat_opacity.setRange(5, 100)
        self.heat_opacity.setValue(50)
        self.heat_opacity.setToolTip("How opaque the heat map is over the image")
        self.heat_opacity.valueChanged.connect(self._emit)
        self.heat_label = QLabel("Heat opacity")
        self.heat_label.setToolTip(self.heat_opacity.toolTip())
        self._place_settings()
        return box

    # width ------------------------------------------------------------------------------
    def _place_settings(self) -> None:
        """The settings grid: label | control | unit. Compact: the display mode and the reset button
        each on a row of its own, the thresholds without "p ≥ " (the line under them says it), "per
        class" folded into its label; the labels' column then sets the width."""
        grid = self.grid
        for i in reversed(range(grid.count())):
            grid.takeAt(i)
        c = self.compact
        self.show_label.setVisible(not c)  # the box's items say it: "Marks (boxes)", "Heat map"
        if not c:
            grid.addWidget(self.show_label, 0, 0)
        grid.addWidget(self.mode, 0, 0 if c else 1, 1, 3 if c else 2)
        for row, (cb, cls) in enumerate(((self.show_m, "M"), (self.show_b, "B")), start=1):
            grid.addWidget(cb, row, 0)
            grid.addWidget(self.thr[cls], row, 1, 1, 2)
        grid.addWidget(self.reset, 3, 0, 1, 3, Qt.Alignment() if c else Qt.AlignRight)  # under the thresholds
        grid.addWidget(self.source, 4, 0, 1, 3)
        grid.addWidget(self.top_k_label, 5, 0)
        grid.addWidget(self.top_k, 5, 1, 1, 2 if c else 1)
        self.per_class.setVisible(not c)
        if not c:
            grid.addWidget(self.per_class, 5, 2)
        grid.addWidget(self.heat_label, 6, 0)
        grid.addWidget(self.heat_opacity, 6, 1, 1, 2)
        grid.setColumnStretch(1, 1)

    def _set_texts(self, compact: bool) -> None:
        self.compact = compact
        self.reset.setText("Reset thresholds" if compact else "Validation thresholds")
        self.top_k_label.setText("Marks/class" if compact else "At most")
        for spin in self.thr.values():
            spin.setPrefix("" if compact else "p ≥ ")
        self._place_settings()
        if self.layout() is not None:
            self.layout().invalidate()  # the panel's size hint is cached until its layout is told


    def settings(self) -> dict:
        return {"show": {"M": self.show_m.isChecked(), "B": self.show_b.isChecked()}, "k": self.top_k.value(),
                "thresholds": {c: s.value() for c, s in self.thr.items()}, "mode": self.mode.currentData(),
                "heat_opacity": self.heat_opacity.value() / 100}

    def _emit(self, *_args) -> None:
        self.proposalsChanged.emit(self.settings())

    def set_mode(self, mode: str) -> None:
        self.mode.setCurrentIndex(self.mode.findData(mode))

    def set_operating_points(self, points: dict[str, cad.OperatingPoint]) -> None:
        """The model's validation thresholds, applied (the signal fires once)."""
        self.points = dict(points)
        for cls, spin in self.thr.items():
            spin.blockSignals(True)
            spin.setValue(points[cls].threshold if cls in points else cad.DEFAULT_THRESHOLD)
            spin.blockSignals(False)
        self.source.setText("\n".join(p.describe() for p in points.values()))
        self._emit()

    def show_bundle(self, b: ImageBundle | None, since: int | None) -> None:
        if b is None or b.model is None:
            self.model_name.setText("No active model")
            self.freshness.setText("Train a model (Model > Retrain now) to see marks.")
            self.image_probs.setText("")
            return
        self.model_name.setText(f"v{b.model.id} · {b.model.name}")
        self.model_name.setToolTip(f"active model version {b.model.id}, trained "
                                   f"{local_time(b.model.created_at)} ({b.model.state})")
        if since:
            self.freshness.setText(f"{since} image(s) annotated since v{b.model.id} was trained: not in it yet "
                                   "(retrain to include them).")
            self.freshness.setStyleSheet(f"color: {ORANGE};")
        else:
            self.freshness.setText(f"Trained {local_time(b.model.created_at)}; includes every annotation.")
            self.freshness.setStyleSheet("color: #8b8f96;")
        if b.prediction is not None:
            self.image_probs.setText(f"This image: p(M) = {b.prediction.p_m:.2f}   p(B) = {b.prediction.p_b:.2f}"
                                     f"   (by v{b.prediction.model_version_id})")
        else:
            self.image_probs.setText("This image is not scored by this model.")
