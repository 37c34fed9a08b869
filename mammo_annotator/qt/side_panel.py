"""The right-hand panel: image facts, annotation controls, display and model proposals.

Pure widgets with signals; the image page wires them to the canvas and the editor. In a narrow
dock (an 800-pixel laptop or remote screen) ``fit_width`` swaps in shorter texts and a
two-row legend, so no control is cut at the panel's right edge.
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
    QVBoxLayout,
    QWidget,
)

from ..core.types import LesionClass
from ..core.windowing import READING_PRESETS
from ..services.viewing import ImageBundle, patient_label
from .compact import CompactTexts
from .theme import CONTOUR_COLOURS, REGION_COLOURS

BOX_MARGINS = (6, 4, 6, 4)  # inside each section: the panel fits a 768-pixel-high screen without scrolling
WEAK_TEXT = {"M": "malignant", "B": "benign", "MB": "malignant + benign", "N": "normal", "unknown": "unknown"}
ASSUMPTION = ("One malignant contour makes every window it does not touch \u201cbenign or normal\u201d (BN): "
              "outline all malignant findings of the image.")
ASSUMPTION_TIP = ("How the contours become training targets for the model's windows: M, the window lies mostly "
                  "inside a malignant contour; BN (benign or normal), it touches no malignant contour; ignored, "
                  "partly inside. The method assumes that all malignant findings of an annotated image are outlined.")


def _swatch(colour: str, text: str) -> QLabel:
    label = QLabel(f'<span style="color:{colour}; font-size:13pt;">■</span> {text}')
    label.setTextFormat(Qt.RichText)
    return label


def _narrow_combo() -> QComboBox:
    """A combo box that asks for the width of a few characters, not of its longest item."""
    c = QComboBox()
    c.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
    c.setMinimumContentsLength(8)
    return c


def _slider(lo: int, hi: int, value: int) -> QSlider:
    s = QSlider(Qt.Horizontal)
    s.setRange(lo, hi)
    s.setValue(value)
    return s


class SidePanel(CompactTexts, QWidget):
    classChanged = Signal(object)  # LesionClass
    noMalignantClicked = Signal(bool)
    presetChosen = Signal(str)
    invertToggled = Signal(bool)
    regionsToggled = Signal(bool)
    regionOpacityChanged = Signal(float)
    regionStyleChanged = Signal(str)  # "outline" | "tint"
    autoAdvanceToggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 8)
        lay.setSpacing(4)
        lay.addWidget(self._image_box())
        lay.addWidget(self._annotation_box())
        lay.addWidget(self._regions_box())
        lay.addWidget(self._display_box())
        lay.addStretch(1)

    # sections -------------------------------------------------------------------------------
    def _image_box(self) -> QGroupBox:
        box = QGroupBox("Image")
        form = QFormLayout(box)
        form.setContentsMargins(*BOX_MARGINS)
        form.setLabelAlignment(Qt.AlignRight)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(3)
        self.info = {k: QLabel("—") for k in ("patient", "view", "weak", "status", "size", "spacing")}
        names = {"weak": "Label", "size": "Pixels"}
        for key, label in self.info.items():
            label.setObjectName("value")
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextSelectableByMouse)
            form.addRow(QLabel(names.get(key, key.capitalize())), label)
        self.info["weak"].setToolTip("The image-level label from the report or dataset (what the model learns "
                                     "from every image, with or without a contour)")
        return box

    def _annotation_box(self) -> QGroupBox:
        box = QGroupBox("Annotation")
        v = QVBoxLayout(box)
        v.setContentsMargins(*BOX_MARGINS)
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
        self.cls_label = QLabel("Class")
        for b, key in ((self.cls_m, 1), (self.cls_b, 2)):
            b.setToolTip(f"The class of the next contour ({key}); C switches a selected contour's class")
        row.addWidget(self.cls_label)
        row.addWidget(self.cls_m)
        row.addWidget(self.cls_b)
        row.addStretch(1)
        v.addLayout(row)
        self.no_malignant = QPushButton("Confirm: no malignant finding")
        self.no_malignant.setCheckable(True)
        self.no_malignant.setToolTip("Mark the image as checked with nothing malignant to contour (N)")
        self.no_malignant.clicked.connect(self.noMalignantClicked.emit)
        v.addWidget(self.no_malignant)
        self.auto_advance = QCheckBox("Auto-advance to the next image")
        self.auto_advance.setToolTip("After 'no malignant finding' or a finished malignant contour, open the next "
                                     "image of the 'Annotate next' queue by itself")
        self.auto_advance.toggled.connect(self.autoAdvanceToggled.emit)
        v.addWidget(self.auto_advance)
        self.contour_count = QLabel("No contours")
        self.contour_count.setObjectName("muted")
        v.addWidget(self.contour_count)
        return box

    def _regions_box(self) -> QGroupBox:
        box = QGroupBox("Region labels")
        v = QVBoxLayout(box)
        v.setContentsMargins(*BOX_MARGINS)
        row = QHBoxLayout()
        self.show_regions = QCheckBox("Show")
        self.show_regions.setChecked(True)
        self.show_regions.setToolTip("The training targets the contours give the model's 224-pixel windows (L)")
        self.show_regions.toggled.connect(self.regionsToggled.emit)
        self.region_style = _narrow_combo()
        self.region_style.addItem("Outlines", "outline")
        self.region_style.addItem("Light tint", "tint")
        self.region_style.currentIndexChanged.connect(lambda _i: self.regionStyleChanged.emit(self.region_style.currentData()))
        row.addWidget(self.show_regions)
        row.addWidget(self.region_style, 1)
        v.addLayout(row)
        self.legend = QGridLayout()
        self.legend.setHorizontalSpacing(8)
        self.region_counts = {}
        for name in ("M", "BN", "ignored"):
            self.region_counts[name] = _swatch(REGION_COLOURS[name], name)
        self._place_legend()
        v.addLayout(self.legend)
        self.region_opacity = _slider(5, 90, 40)
        self.region_opacity.valueChanged.connect(lambda x: self.regionOpacityChanged.emit(x / 100))
        row = QHBoxLayout()
        row.addWidget(QLabel("Opacity"))
        row.addWidget(self.region_opacity, 1)
        v.addLayout(row)
        note = QLabel(ASSUMPTION)
        note.setToolTip(ASSUMPTION_TIP)
        note.setObjectName("muted")
        note.setWordWrap(True)
        v.addWidget(note)
        return box

    def _display_box(self) -> QGroupBox:
        box = QGroupBox("Display")
        form = QFormLayout(box)
        form.setContentsMargins(*BOX_MARGINS)
        form.setVerticalSpacing(4)
        self.presets = _narrow_combo()
        self.presets.activated.connect(lambda i: self.presetChosen.emit(str(self.presets.itemData(i))))
        form.addRow("Window", self.presets)
        self.window_value = QLabel("—")
        self.window_value.setObjectName("muted")
        self.window_value.setWordWrap(True)
        form.addRow("W / L", self.window_value)  # width first, as the image's corner and reading rooms say it
        self.invert = QCheckBox("Invert grey scale")
        self.invert.toggled.connect(self.invertToggled.emit)
        form.addRow("", self.invert)
        return box

    # width ------------------------------------------------------------------------------
    def _place_legend(self) -> None:
        """M, BN, ignored in one row; in two when the panel is narrow."""
        for i, name in enumerate(("M", "BN", "ignored")):
            self.legend.addWidget(self.region_counts[name], *((i // 2, i % 2) if self.compact else (0, i)))

    def _set_texts(self, compact: bool) -> None:
        self.compact = compact
        self.cls_label.setVisible(not compact)  # the coloured buttons say it; the tooltip names it
        self.no_malignant.setText("No malignant finding" if compact else "Confirm: no malignant finding")
        self.auto_advance.setText("Auto-advance" if compact else "Auto-advance to the next image")
        self._place_legend()


    # updates ------------------------------------------------------------------------------
    def show_bundle(self, b: ImageBundle | None, region_counts: dict[str, int] | None = None) -> None:
        if b is None:
            for label in self.info.values():
                label.setText("—")
            return
        r = b.record
        self.info["patient"].setText(patient_label(r.patient_key))
        self.info["patient"].setToolTip(f"patient key in the project: {r.patient_key}")
        self.info["view"].setText(f"{r.laterality or '?'}-{r.view or '?'}")
        weak = WEAK_TEXT.get(r.weak.name, r.weak.name) + (f"  (BI-RADS {r.birads})" if r.birads else "") + (f"  {r.pathology}" if r.pathology else "")
        self.info["weak"].setText(weak)
        self.info["status"].setText({"not_annotated": "not annotated", "contoured": "contours drawn",
                                     "no_malignant": "no malignant finding (confirmed)"}[r.status.value])
        self.info["size"].setText(f"{r.width} × {r.height}, {r.bits_stored}-bit")
        self.info["spacing"].setText(f"{r.mean_spacing_mm:.3f} mm" if r.mean_spacing_mm else "unknown (sizes in px)")
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

    def set_presets(self, names: list[str], current: str) -> None:
        """The preset list (the same for every image: only rebuilt when it differs)."""
        self.presets.blockSignals(True)
        if [self.presets.itemData(i) for i in range(self.presets.count())] != list(names):
            self.presets.clear()
            for i, name in enumerate(names):  # the header's further DICOM windows: F2 pressed again
                self.presets.addItem(f"{name}   {f'F{i + 1}' if i < len(READING_PRESETS) else 'F2 again'}", name)
        self._select_preset(current)
        self.presets.blockSignals(False)

    def _select_preset(self, name: str) -> None:
        i = self.presets.findData(name)
        if i >= 0:
            self.presets.setCurrentIndex(i)

    def show_window(self, window) -> None:
        self.window_value.setText(f"{window.width:.0f} / {window.center:.0f}  ({window.name})")
        if window.name != "custom":
            self.presets.blockSignals(True)
            self._select_preset(window.name)
            self.presets.blockSignals(False)
