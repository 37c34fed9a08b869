"""Region labels over the image: what the model learns from the contours (M / BN / ignored).

Drawn as one translucent RGBA image at low resolution (each grid window paints its central
cell), not a thousand rectangles, so it costs nothing to pan and zoom. The default style draws
the outlines of the M and ignored areas over a faint BN tint (an outline of BN would trace the
whole breast in steps), so tissue and the lesion margin stay visible; "tint" fills them all.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QTransform

from ..core.records import RegionSet
from ..services.viewing import LABEL_CODES, label_map
from .theme import REGION_COLOURS


OUTLINE, TINT = "outline", "tint"


def _lut(alpha: float, outline: bool = False) -> np.ndarray:
    lut = np.zeros((256, 4), dtype=np.uint8)
    for name, code in LABEL_CODES.items():
        c = QColor(REGION_COLOURS[name])
        if outline:
            a = 0.1 * alpha if name == "BN" else min(1.0, 2 * alpha)
        else:
            a = alpha * (0.35 if name == "BN" else 1.0)  # BN covers the breast: faint
        lut[code] = (c.red(), c.green(), c.blue(), int(round(255 * a)))
    return lut


def edges(codes: np.ndarray) -> np.ndarray:
    """The label map with the M and ignored areas reduced to their boundary cells (their
    outlines); BN cells are kept whole, for the faint tint."""
    out = np.where(codes == LABEL_CODES["BN"], codes, 0).astype(codes.dtype)
    edge = np.zeros(codes.shape, dtype=bool)
    edge[:-1, :] |= codes[:-1, :] != codes[1:, :]
    edge[1:, :] |= codes[1:, :] != codes[:-1, :]
    edge[:, :-1] |= codes[:, :-1] != codes[:, 1:]
    edge[:, 1:] |= codes[:, 1:] != codes[:, :-1]
    keep = edge & (codes != LABEL_CODES["BN"]) & (codes != 0)
    out[keep] = codes[keep]
    return out


class RegionOverlay:
    """Owns an ImageItem in the canvas's ViewBox; ``set_regions`` redraws from a RegionSet."""

    def __init__(self, view) -> None:
        self.view = view
        self.item = pg.ImageItem(axisOrder="row-major")
        self.item.setZValue(10)
        view.vb.addItem(self.item, ignoreBounds=True)
        self.alpha = 0.40
        self.style = OUTLINE
        self.counts: dict[str, int] = {}
        self._codes: np.ndarray | None = None

    def set_regions(self, regions: RegionSet | None, height: int, width: int) -> None:
        self.counts = {k: 0 for k in LABEL_CODES}
        if regions is not None:
            for lab in regions.labels:
                if lab in self.counts:
                    self.counts[lab] += 1
        made = label_map(regions, height, width)
        if made is None:
            self._codes = None
            self.item.clear()
            return
        codes, scale = made
        self._codes = codes
        self.item.setTransform(QTransform.fromScale(scale, scale))
        self._paint()

    def _paint(self) -> None:
        if self._codes is not None:
            outline = self.style == OUTLINE
            rgba = _lut(self.alpha, outline)[edges(self._codes) if outline else self._codes]
            self.item.setImage(rgba, levels=None, autoLevels=False)

    def set_opacity(self, alpha: float) -> None:
        self.alpha = float(alpha)
        self._paint()

    def set_style(self, style: str) -> None:
        if style not in (OUTLINE, TINT):
            raise ValueError(f"region style must be {OUTLINE!r} or {TINT!r}, got {style!r}")
        self.style = style
        self._paint()

    def set_visible(self, on: bool) -> None:
        self.item.setVisible(bool(on))

    @property
    def has_labels(self) -> bool:
        return self._codes is not None
