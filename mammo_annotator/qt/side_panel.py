"""The right-hand panel: image facts, annotation controls, display and model proposals.

Pure widgets with signals; the image page wires them to the canvas and the editor.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core.types import LesionClass
from ..services.viewing import ImageBundle
from .theme import CONTOUR_COLOURS, PROPOSAL_COLOURS, REGION_COLOURS


def _swatch(colour: str, text: str) -> QLabel:
    label = QLabel(f'<span style="color:{colour}; font-size:13pt;">■</span> {text}')
    label.setTextFormat(Qt.RichText)
    return label


def _slider(lo: int, hi: int, value: int) -> QSlider:
    s = QSlider(Qt.Horizontal)
    s.setRange(lo, hi)
    s.setValue(value)
    return s


class SidePanel(QWidget):
    classChanged = Signal(object)  # LesionClass
    noMalignantClicked = Signal(bool)
    presetChosen = Signal(str)
    invertToggled = Signal(bool)
    regionsToggled = Signal(bool)
    regionOpacityChanged = Signal(float)
    proposalsChanged = Signal(dict)  # settings for ProposalsOverlay.configure

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(270)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 8)
        lay.setSpacing(4)
        lay.addWidget(self._image_box())
        lay.addWidget(self._annotation_box())
        lay.addWidget(self._display_box())
        lay.addWidget(self._model_box())
        lay.addStretch(1)

    # sections -------------------------------------------------------------------------------
    def _image_box(self) -> QGroupBox:
        box = QGroupBox("Image")
        form = QFormLayout(box)
        form.setLabelAlignment(Qt.AlignRight)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(3)
        self.info = {k: QLabel("—") for k in ("patient", "view", "weak", "status", "size")}
        for key, label in self.info.items():
            label.setObjectName("value")
            label.setTextInteractionFlags(Qt.TextSelectableByMouse)
            form.addRow(QLabel(key.capitalize()), label)
        return box

    def _annotation_box(self) -> QGroupBox:
        box = QGroupBox("Annotation")
        v = QVBoxLayout(box)
        row = QHBoxLayout()
        self.cls_m = QRadioButton("Malignant")
        self.cls_b = QRadioButton("Benign")
        self.cls_m.setChecked(True)
        self.cls_m.setStyleSheet(f"color: {CONTOUR_COLOURS['M']};")
        self.cls_b.setStyleSheet(f"color: {CONTOUR_COLOURS['B']};")
        group = QButtonGroup(self)
        group.addButton(self.cls_m)
        group.addButton(self.cls_b)
        self.cls_m.toggled.connect(lambda on: self.classChanged.emit(LesionClass.MALIGNANT if on else LesionClass.BENIGN))
        row.addWidget(QLabel("Class"))
        row.addWidget(self.cls_m)
        row.addWidget(self.cls_b)
        row.addStretch(1)
        v.addLayout(row)
        self.no_malignant = QPushButton("Confirm: no malignant finding")
        self.no_malignant.setCheckable(True)
        self.no_malignant.setToolTip("Mark the image as checked with nothing malignant to contour (N)")
        self.no_malignant.clicked.connect(self.noMalignantClicked.emit)
        v.addWidget(self.no_malignant)
        self.contour_count = QLabel("No contours")
        self.contour_count.setObjectName("muted")
        v.addWidget(self.contour_count)
        self.show_regions = QCheckBox("Region labels (training targets)")
        self.show_regions.setChecked(True)
        self.show_regions.setToolTip("Regions coloured by the IoM rule: M (IoM >= alpha with a malignant contour), "
                                     "BN (no malignant contour touches it), ignored (in between)")
        self.show_regions.toggled.connect(self.regionsToggled.emit)
        v.addWidget(self.show_regions)
        legend = QGridLayout()
        self.region_counts = {}
        for i, (name, text) in enumerate((("M", "M"), ("BN", "BN"), ("ignored", "ignored"))):
            lab = _swatch(REGION_COLOURS[name], text)
            self.region_counts[name] = lab
            legend.addWidget(lab, 0, i)
        v.addLayout(legend)
        self.region_opacity = _slider(5, 90, 40)
        self.region_opacity.valueChanged.connect(lambda x: self.regionOpacityChanged.emit(x / 100))
        row = QHBoxLayout()
        row.addWidget(QLabel("Opacity"))
        row.addWidget(self.region_opacity, 1)
        v.addLayout(row)
        return box

    def _display_box(self) -> QGroupBox:
        box = QGroupBox("Display")
        form = QFormLayout(box)
        form.setVerticalSpacing(4)
        self.presets = QComboBox()
        self.presets.textActivated.connect(self.presetChosen.emit)
        form.addRow("Window", self.presets)
        self.window_value = QLabel("—")
        self.window_value.setObjectName("muted")
        form.addRow("C / W", self.window_value)
        self.invert = QCheckBox("Invert grey scale")
        self.invert.toggled.connect(self.invertToggled.emit)
        form.addRow("", self.invert)
        return box

    def _model_box(self) -> QGroupBox:
        box = QGroupBox("Model proposals")
        v = QVBoxLayout(box)
        self.model_name = QLabel("No active model")
        self.model_name.setObjectName("value")
        self.model_name.setWordWrap(True)
        self.image_probs = QLabel("")
        self.image_probs.setObjectName("muted")
        v.addWidget(self.model_name)
        v.addWidget(self.image_probs)
        row = QHBoxLayout()
        self.show_m = QCheckBox("Malignant")
        self.show_b = QCheckBox("Benign")
        for cb, cls in ((self.show_m, "M"), (self.show_b, "B")):
            cb.setChecked(True)
            cb.setStyleSheet(f"color: {PROPOSAL_COLOURS[cls]};")
            cb.toggled.connect(self._emit_proposals)
            row.addWidget(cb)
        row.addStretch(1)
        v.addLayout(row)
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        self.top_k = QSpinBox()
        self.top_k.setRange(1, 20)
        self.top_k.setValue(3)
        self.top_k.setMaximumWidth(70)
        self.top_k.valueChanged.connect(self._emit_proposals)
        grid.addWidget(QLabel("Top k"), 0, 0)
        grid.addWidget(self.top_k, 0, 1, 1, 2)
        self.threshold = _slider(0, 100, 0)
        self.threshold.setToolTip("Hide boxes whose d_c is below this fraction of the image's highest d_c")
        self.threshold_value = QLabel("0%")
        self.threshold_value.setMinimumWidth(34)
        self.threshold.valueChanged.connect(self._emit_proposals)
        grid.addWidget(QLabel("d_c ≥"), 1, 0)
        grid.addWidget(self.threshold, 1, 1)
        grid.addWidget(self.threshold_value, 1, 2)
        self.heat = QCheckBox("Heat map of d_M")
        self.heat.toggled.connect(self._emit_proposals)
        grid.addWidget(self.heat, 2, 0, 1, 3)
        legend = QLabel("Box label: p_cls(c|r) · detection share p_det(r|c)")
        legend.setObjectName("muted")
        legend.setWordWrap(True)
        legend.setToolTip("Boxes are ranked by d_c = p_cls(c|r) · p_det(r|c). p_det is a softmax over all the image's "
                          "regions, so d_c is small; the label shows the classification probability and the region's "
                          "share of the detection branch. The threshold is relative to the image's highest d_c.")
        self.heat_opacity = _slider(5, 100, 50)
        self.heat_opacity.valueChanged.connect(self._emit_proposals)
        grid.addWidget(QLabel("Opacity"), 3, 0)
        grid.addWidget(self.heat_opacity, 3, 1, 1, 2)
        v.addLayout(grid)
        v.addWidget(legend)
        return box

    def _emit_proposals(self, *_args) -> None:
        t = self.threshold.value() / 100
        self.threshold_value.setText(f"{self.threshold.value()}%")
        self.proposalsChanged.emit({
            "show": {"M": self.show_m.isChecked(), "B": self.show_b.isChecked()},
            "k": self.top_k.value(), "threshold": t,
            "heat_visible": self.heat.isChecked(), "heat_opacity": self.heat_opacity.value() / 100,
        })

    # updates ------------------------------------------------------------------------------
    def show_bundle(self, b: ImageBundle | None, region_counts: dict[str, int] | None = None) -> None:
        if b is None:
            for label in self.info.values():
                label.setText("—")
            return
        r = b.record
        self.info["patient"].setText(r.patient_key)
        self.info["view"].setText(f"{r.laterality or '?'}-{r.view or '?'}")
        weak = r.weak.name + (f"  (BI-RADS {r.birads})" if r.birads else "") + (f"  {r.pathology}" if r.pathology else "")
        self.info["weak"].setText(weak)
        self.info["status"].setText({"not_annotated": "not annotated", "contoured": "contours drawn",
                                     "no_malignant": "no malignant finding (confirmed)"}[r.status.value])
        spacing = f", {r.mean_spacing_mm:.3f} mm" if r.mean_spacing_mm else ""
        self.info["size"].setText(f"{r.width} × {r.height}, {r.bits_stored}-bit{spacing}")
        self.no_malignant.blockSignals(True)
        self.no_malignant.setChecked(r.status.value == "no_malignant")
        self.no_malignant.blockSignals(False)
        n_m = sum(1 for c in b.contours if c.cls.value == "M")
        self.contour_count.setText(f"{len(b.contours)} contour(s): {n_m} malignant, {len(b.contours) - n_m} benign"
                                   if b.contours else "No contours")
        counts = region_counts or {}
        for name, lab in self.region_counts.items():
            colour = REGION_COLOURS[name]
            lab.setText(f'<span style="color:{colour}; font-size:13pt;">■</span> {name} {counts.get(name, 0)}')
        if b.model:
            trained = b.model.created_at.strftime("%Y-%m-%d %H:%M")
            self.model_name.setText(f"Model v{b.model.id} · {b.model.name}")
            self.model_name.setToolTip(f"active model version {b.model.id}, trained {trained} ({b.model.state})")
        else:
            self.model_name.setText("No active model")
            self.model_name.setToolTip("")
        if b.prediction is not None:
            self.image_probs.setText(f"p(M) = {b.prediction.p_m:.2f}    p(B) = {b.prediction.p_b:.2f}    "
                                     f"(by v{b.prediction.model_version_id})")
        else:
            self.image_probs.setText("not scored by this model" if b.model else "train a model to see proposals")

    def set_presets(self, names: list[str], current: str) -> None:
        self.presets.blockSignals(True)
        self.presets.clear()
        self.presets.addItems(names)
        if current in names:
            self.presets.setCurrentText(current)
        self.presets.blockSignals(False)

    def show_window(self, window) -> None:
        self.window_value.setText(f"{window.center:.0f} / {window.width:.0f}  ({window.name})")
        if window.name != "custom" and self.presets.findText(window.name) >= 0:
            self.presets.setCurrentText(window.name)
