"""Model proposals on the canvas: top-k M and B regions by d_c as boxes with labels, and an
optional d_M heat map. Colours: Okabe-Ito vermillion (M) and sky blue (B).

d_c = p_cls(c|r) * p_det(r|c) ranks the regions, but p_det is a softmax over the image's
~100+ regions, so d_c itself is tiny and reads "0.00". A box is therefore labelled with what a
reader can interpret: the classification branch's p_cls(c|r) and the region's share of the
detection branch, p_det(r|c) in %. The threshold is relative: d_c / (the image's highest d_c).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPen, QTransform
from PySide6.QtWidgets import QGraphicsRectItem

from ..services.viewing import COL_D_B, COL_D_M, COL_DET_B, COL_DET_M, COL_P_B, COL_P_M, ImageBundle, Proposal, score_map
from .theme import PROPOSAL_COLOURS


def _heat_lut() -> np.ndarray:
    """Transparent at 0, rising through orange to vermillion/white: readable over grey tissue."""
    cmap = pg.colormap.get("inferno")
    lut = cmap.getLookupTable(0.0, 1.0, 256, alpha=True).astype(np.float32)
    lut[:, 3] = np.clip(np.linspace(0, 1, 256) * 1.6, 0, 1) * 255
    return lut.astype(np.uint8)


class ProposalsOverlay:
    """Boxes + labels for the current image; settings are kept across images."""

    def __init__(self, view) -> None:
        self.view = view
        self.k = 3
        self.threshold = 0.0
        self.show = {"M": True, "B": True}
        self.visible = True
        self.heat_visible = False
        self.heat_opacity = 0.5
        self.bundle: ImageBundle | None = None
        self.items: list = []
        self.shown: list[Proposal] = []
        self.heat = pg.ImageItem(axisOrder="row-major")
        self.heat.setZValue(20)
        self.heat.setVisible(False)
        self.heat.setLookupTable(_heat_lut())
        view.vb.addItem(self.heat, ignoreBounds=True)

    def set_bundle(self, bundle: ImageBundle | None) -> None:
        self.bundle = bundle
        self._heat_data()
        self.redraw()

    def configure(self, **settings) -> None:
        for key, value in settings.items():
            setattr(self, key, value)
        self.heat.setVisible(self.visible and self.heat_visible and self.heat.image is not None)
        self.heat.setOpacity(self.heat_opacity)
        self.redraw()

    def _heat_data(self) -> None:
        b = self.bundle
        made = score_map(b.prediction, b.prediction_boxes, b.record.height, b.record.width, "M") if b else None
        if made is None:
            self.heat.clear()
            self.heat.setVisible(False)
            return
        data, scale = made
        top = float(data.max()) or 1.0
        self.heat.setImage(data, levels=(0.0, top), autoLevels=False)
        self.heat.setTransform(QTransform.fromScale(scale, scale))
        self.heat.setOpacity(self.heat_opacity)
        self.heat.setVisible(self.visible and self.heat_visible)

    def _clear(self) -> None:
        for item in self.items:
            self.view.vb.removeItem(item)
        self.items = []
        self.shown = []

    def top_score(self, cls: str) -> float:
        """The image's highest d_c: the reference of the relative threshold."""
        pred = self.bundle.prediction if self.bundle else None
        if pred is None or not len(pred.region_scores):
            return 0.0
        return float(np.max(pred.region_scores[:, COL_D_M if cls == "M" else COL_D_B]))

    def label(self, prop: Proposal, rank: int) -> tuple[str, str]:
        """(box label, tooltip): p_cls(c|r) and the detection share p_det(r|c)."""
        row = self.bundle.prediction.region_scores[prop.region_index]
        p_cls = float(row[COL_P_M if prop.cls == "M" else COL_P_B])
        share = 100.0 * float(row[COL_DET_M if prop.cls == "M" else COL_DET_B])
        top = self.top_score(prop.cls)
        rel = prop.score / top if top > 0 else 0.0
        pct = f"{share:.1f}%" if share < 10 else f"{share:.0f}%"
        tip = (f"{prop.cls}{rank} (model v{self.bundle.prediction.model_version_id})\n"
               f"p_cls({prop.cls}|region) = {p_cls:.3f}  classification branch\n"
               f"p_det(region|{prop.cls}) = {share:.2f}%  this region's share of the detection branch\n"
               f"d_{prop.cls} = p_cls * p_det = {prop.score:.4f}  ({rel:.0%} of the image's highest)")
        return f"{prop.cls}{rank}  {p_cls:.2f} · {pct}", tip

    def redraw(self) -> None:
        self._clear()
        if self.bundle is None or not self.visible:
            return
        for cls in ("B", "M"):  # M on top
            if not self.show[cls]:
                continue
            cut = self.threshold * self.top_score(cls)
            for rank, prop in enumerate(self.bundle.proposals(cls, self.k, cut), start=1):
                self._add_box(prop, rank)
                self.shown.append(prop)

    def _add_box(self, prop: Proposal, rank: int) -> None:
        colour = QColor(PROPOSAL_COLOURS[prop.cls])
        x0, y0, x1, y1 = prop.box
        rect = QGraphicsRectItem(QRectF(x0, y0, x1 - x0, y1 - y0))
        pen = QPen(colour, 2.0 if rank == 1 else 1.5, Qt.SolidLine if rank == 1 else Qt.DashLine)
        pen.setCosmetic(True)
        rect.setPen(pen)
        rect.setZValue(30)
        rect.setAcceptedMouseButtons(Qt.NoButton)
        text, tip = self.label(prop, rank)
        rect.setToolTip(tip)
        label = pg.TextItem(text, color=colour, anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 170))
        label.setToolTip(tip)
        h = self.bundle.record.height
        if prop.cls == "M":  # above the box; inside it when the box touches the image's top
            label.setPos(x0, y0)
            label.setAnchor((0, 0) if y0 < 0.05 * h else (0, 1))
        else:  # below the box; inside it when the box touches the image's bottom
            label.setPos(x0, y1)
            label.setAnchor((0, 1) if y1 > 0.95 * h else (0, 0))
        label.setZValue(31)
        for item in (rect, label):
            self.view.vb.addItem(item, ignoreBounds=True)
            self.items.append(item)
