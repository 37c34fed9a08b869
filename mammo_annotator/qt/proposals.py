"""CAD marks on the canvas, or a probability heat map instead. Colours: Okabe-Ito vermillion
(malignant) and sky blue (benign).

Which regions become marks is decided in ``services.cad`` (the operating threshold on the
image's p(c), then the regions ranked by d_c); this overlay draws them: the best one solid,
the others dashed, each with a short label "M1 0.42" (rank, region score d_c) placed outside
the box and moved when it would cover another label. A plain-language legend sits in the
canvas's lower-left corner, next to the marks; a narrow canvas shows a shorter one, the whole
legend in its tooltip.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPen, QTransform
from PySide6.QtWidgets import QGraphicsRectItem

from ..services import cad
from ..services.viewing import COL_DET_B, COL_DET_M, COL_P_B, COL_P_M, ImageBundle, Proposal, score_map
from .theme import ORANGE, PROPOSAL_COLOURS

MARKS, HEAT = "marks", "heat"
LABEL_PX = (64, 18)  # a label's size on screen, for the overlap test


def _heat_lut() -> np.ndarray:
    """Transparent at 0, rising through orange to yellow-white: readable over grey tissue."""
    cmap = pg.colormap.get("inferno")
    lut = cmap.getLookupTable(0.0, 1.0, 256, alpha=True).astype(np.float32)
    lut[:, 3] = np.clip(np.linspace(0, 1, 256) * 1.6, 0, 1) * 255
    return lut.astype(np.uint8)


def score_text(d: float) -> str:
    """d_c with two significant digits, never "0.00"."""
    return f"{d:.2f}" if d >= 0.095 else f"{d:.2g}"


class ProposalsOverlay:
    """Marks + labels (or the heat map) for the current image; settings are kept across images."""

    def __init__(self, view) -> None:
        self.view = view
        self.k = cad.DEFAULT_K
        self.thresholds = {"M": cad.DEFAULT_THRESHOLD, "B": cad.DEFAULT_THRESHOLD}
        self.show = {"M": True, "B": True}
        self.visible = True
        self.mode = MARKS
        self.heat_opacity = 0.5
        self.since: int | None = None  # images annotated after the active version was trained
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
            if not hasattr(self, key):
                raise AttributeError(f"no proposal setting {key!r}")
            setattr(self, key, dict(value) if isinstance(value, dict) else value)
        self.redraw()

    def _heat_data(self) -> None:
        """p_cls(M | region), the classification branch's probability, on a fixed 0-1 scale so a
        colour means the same on every image."""
        b = self.bundle
        made = score_map(b.prediction, b.prediction_boxes, b.record.height, b.record.width, "M", column=COL_P_M) if b else None
        if made is None:
            self.heat.clear()
            return
        data, scale = made
        self.heat.setImage(data, levels=(0.0, 1.0), autoLevels=False)
        self.heat.setTransform(QTransform.fromScale(scale, scale))

    def _clear(self) -> None:
        for item in self.items:
            self.view.vb.removeItem(item)
        self.items = []
        self.shown = []

    def label(self, prop: Proposal, rank: int) -> tuple[str, str]:
        """(mark label, tooltip)."""
        row = self.bundle.prediction.region_scores[prop.region_index]
        p_cls = float(row[COL_P_M if prop.cls == "M" else COL_P_B])
        share = 100.0 * float(row[COL_DET_M if prop.cls == "M" else COL_DET_B])
        name = "malignant" if prop.cls == "M" else "benign"
        tip = (f"{prop.cls}{rank}: rank {rank} of the regions the model finds {name} "
               f"(model v{self.bundle.prediction.model_version_id})\n"
               f"region score d = {prop.score:.4f} (ranks the marks)\n"
               f"  = p({name} | this region) {p_cls:.2f} × this region's share of the image's {name} evidence {share:.1f}%")
        return f"{prop.cls}{rank} {score_text(prop.score)}", tip

    def legend(self) -> str:
        """The canvas's corner text: what the marks are and which model made them."""
        texts = self.legends()
        return texts[0] if texts else ""

    def legends(self) -> list[str]:
        """The corner text, then shorter versions for a narrower canvas: three lines, two (the
        key to the numbers left to the tooltip), one (per class: p and the number of marks).
        Empty when there is nothing to say."""
        b = self.bundle
        if b is None or not self.visible:
            return []
        if b.prediction is None:
            return ["No model marks: train a model (Model > Retrain now)", "No model marks"] if b.model is None \
                else [f"Model v{b.model.id} has not scored this image", f"v{b.model.id}: image not scored"]
        v = b.prediction.model_version_id
        fresh = "" if self.since is None else (
            f" · {self.since} image(s) annotated since: not in v{v} yet" if self.since else f" · v{v} includes every annotation")
        new = f' <span style="color:{ORANGE}">({self.since} new)</span>' if self.since else ""
        if self.mode == HEAT:
            return [f"Heat map: p(malignant | region) by model v{v}, 0 (clear) to 1 (white){fresh}",
                    f"Heat map: p(malignant | region), v{v}{new}", f"Heat p(M), v{v}{new}"]
        long, short = [], []
        for cls, name in (("M", "malignant"), ("B", "benign")):
            if not self.show[cls]:
                continue
            colour = PROPOSAL_COLOURS[cls]
            p = b.prediction.p_m if cls == "M" else b.prediction.p_b
            n = sum(1 for s in self.shown if s.cls == cls)
            state = f"{n} mark(s)" if n else "no marks"
            long.append(f'<span style="color:{colour}">■ {cls} {name}</span>: p = {p:.2f}, '
                        f"threshold {self.thresholds[cls]:.2f} → {state}")
            short.append(f'<span style="color:{colour}">■ {cls}</span> {p:.2f} '
                         f'{"≥" if p >= self.thresholds[cls] else "&lt;"} {self.thresholds[cls]:.2f}: {n or "no"} '
                         f'mark{"" if n == 1 else "s"}')
        if not long:  # both classes switched off in the Marks tab
            long = short = ["no class shown (Marks tab)"]
        return [f"CAD marks by model v{v}{fresh}<br>" + " · ".join(long) +
                "<br>Number on a mark = region score (higher = more suspicious); hover a mark for details",
                f"CAD marks by model v{v}{fresh}<br>" + " · ".join(short),
                f"CAD v{v}{new}: " + " · ".join(short)]

    def redraw(self) -> None:
        self._clear()
        heat_on = self.visible and self.mode == HEAT and self.heat.image is not None
        self.heat.setVisible(heat_on)
        self.heat.setOpacity(self.heat_opacity)
        if self.bundle is not None and self.visible and self.mode == MARKS:
            placed: list[QRectF] = []
            for cls in ("B", "M"):  # M drawn last: on top
                if not self.show[cls]:
                    continue
                for rank, prop in enumerate(cad.marks(self.bundle, cls, self.thresholds[cls], self.k), start=1):
                    self._add_mark(prop, rank, placed)
                    self.shown.append(prop)
        texts = self.legends()
        self.view.set_corner_text("bottom", texts[0] if texts else "", texts[1:])

    def _label_rect(self, x: float, y: float, anchor: tuple[int, int]) -> QRectF:
        px, py = self.view.vb.viewPixelSize()
        w, h = LABEL_PX[0] * px, LABEL_PX[1] * py
        return QRectF(x - anchor[0] * w, y - anchor[1] * h, w, h)

    def _add_mark(self, prop: Proposal, rank: int, placed: list[QRectF]) -> None:
        colour = QColor(PROPOSAL_COLOURS[prop.cls])
        x0, y0, x1, y1 = prop.box
        rect = QGraphicsRectItem(QRectF(x0, y0, x1 - x0, y1 - y0))
        pen = QPen(colour, 2.5 if rank == 1 else 1.5, Qt.SolidLine if rank == 1 else Qt.DashLine)
        pen.setCosmetic(True)
        rect.setPen(pen)
        rect.setZValue(30)
        rect.setAcceptedMouseButtons(Qt.NoButton)
        text, tip = self.label(prop, rank)
        rect.setToolTip(tip)
        # outside the box: above, below, then right or left of it; the first spot that covers no other label
        h = self.bundle.record.height if self.bundle else 0
        spots = [((x0, y0), (0, 1)), ((x0, y1), (0, 0)), ((x1, y0), (0, 0)), ((x0, y0), (1, 0))]
        if y0 < 0.04 * h:
            spots.append(spots.pop(0))
        chosen = spots[0]
        for pos, anchor in spots:
            r = self._label_rect(pos[0], pos[1], anchor)
            if not any(r.intersects(o) for o in placed):
                chosen = (pos, anchor)
                break
        placed.append(self._label_rect(chosen[0][0], chosen[0][1], chosen[1]))
        label = pg.TextItem(text, color=colour, anchor=chosen[1], fill=pg.mkBrush(0, 0, 0, 190))
        label.setPos(*chosen[0])
        label.setToolTip(tip)
        label.setZValue(31)
        for item in (rect, label):
            self.view.vb.addItem(item, ignoreBounds=True)
            self.items.append(item)
