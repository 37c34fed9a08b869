"""Display windowing: map stored values to 8-bit grey for the screen, never for analysis.

Integer images go through a lookup table (one entry per possible value), which is several times
faster than arithmetic on a 4096 x 3328 16-bit mammogram. The linear window follows the DICOM
VOI LUT definition (PS3.3 C.11.2.1.2) so a DICOM window looks as it does on a workstation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .types import ImageMeta


@dataclass(frozen=True)
class Window:
    """A linear display window (DICOM centre / width convention) with a name for the UI."""

    center: float
    width: float
    name: str = "custom"

    @property
    def low(self) -> float:
        return self.center - 0.5 - (self.width - 1) / 2

    @property
    def high(self) -> float:
        return self.center - 0.5 + (self.width - 1) / 2


def _linear(values: np.ndarray, center: float, width: float) -> np.ndarray:
    width = max(float(width), 1.0)
    if width <= 1.0:
        return np.where(values >= center - 0.5, 255.0, 0.0)
    y = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255.0
    return np.clip(y, 0.0, 255.0)


def to_display(pixels: np.ndarray, center: float, width: float, invert: bool = False) -> np.ndarray:
    """uint8 image for display: DICOM linear window, optionally inverted (white background look)."""
    if pixels.dtype in (np.uint8, np.uint16, np.int8, np.int16):
        info = np.iinfo(pixels.dtype)
        lut = np.rint(_linear(np.arange(info.min, info.max + 1, dtype=np.float64), center, width)).astype(np.uint8)
        if invert:
            lut = 255 - lut
        if info.min < 0:
            return lut[(pixels.astype(np.int32) - info.min)]
        return lut[pixels]
    out = np.rint(_linear(pixels.astype(np.float32), center, width)).astype(np.uint8)
    return 255 - out if invert else out


def _sample(pixels: np.ndarray, mask: np.ndarray | None, max_samples: int = 1_000_000) -> np.ndarray:
    """A strided subsample of the (masked) pixels; percentiles need no more than ~1e6 values."""
    step = max(1, int(np.sqrt(pixels.size / max_samples)))
    sub = pixels[::step, ::step]
    if mask is not None:
        m = mask[::step, ::step]
        if m.any():
            return sub[m]
    return sub.ravel()


def _from_range(lo: float, hi: float, name: str) -> Window:
    hi = max(hi, lo + 1.0)
    return Window(center=(lo + hi) / 2 + 0.5, width=hi - lo + 1, name=name)


def full_range_window(pixels: np.ndarray) -> Window:
    """Min to max of the image: nothing clipped, usually flat-looking."""
    return _from_range(float(pixels.min()), float(pixels.max()), "full range")


def percentile_window(pixels: np.ndarray, mask: np.ndarray | None = None, lo: float = 0.5, hi: float = 99.5,
                      name: str = "breast") -> Window:
    """Window spanning the lo..hi percentiles of the breast pixels (whole image without a mask)."""
    vals = _sample(pixels, mask)
    a, b = np.percentile(vals, [lo, hi])
    return _from_range(float(a), float(b), name)


def dense_window(pixels: np.ndarray, mask: np.ndarray | None = None) -> Window:
    """A narrow window over the bright half of the breast: contrast inside dense tissue."""
    return percentile_window(pixels, mask, 40.0, 99.8, name="dense")


def dicom_window(meta: ImageMeta) -> Window | None:
    """The window stored in the DICOM header, if any."""
    if meta.window_center is None or not meta.window_width:
        return None
    return Window(float(meta.window_center), float(meta.window_width), "DICOM")


def window_presets(pixels: np.ndarray, meta: ImageMeta | None = None, mask: np.ndarray | None = None) -> dict[str, Window]:
    """Named presets for the UI, in menu order; the first is the default."""
    out: dict[str, Window] = {}
    w = dicom_window(meta) if meta is not None else None
    if w is not None:
        out[w.name] = w
    for win in (percentile_window(pixels, mask), dense_window(pixels, mask), full_range_window(pixels)):
        out[win.name] = win
    return out


# the reading presets: one stable list for every image, so F1..F4 always mean the same ----------
AUTO, DICOM, DENSE, FULL = "breast (auto)", "DICOM window", "dense tissue", "full range"
READING_PRESETS = (AUTO, DICOM, DENSE, FULL)


def breast_window(pixels: np.ndarray, mask: np.ndarray | None = None) -> Window:
    """The automatic window: 1st to 99.9th percentile of the breast's histogram, so fat is not
    black and the brightest glandular tissue is not saturated (film and digital alike)."""
    return percentile_window(pixels, mask, 1.0, 99.9, name=AUTO)


def reading_presets(pixels: np.ndarray, meta: ImageMeta | None = None, mask: np.ndarray | None = None) -> dict[str, Window]:
    """``READING_PRESETS`` in that order for any image. Without a DICOM window in the header the
    "DICOM window" entry is the automatic one and says so in its name."""
    auto = breast_window(pixels, mask)
    stored = dicom_window(meta) if meta is not None else None
    dicom = Window(stored.center, stored.width, DICOM) if stored is not None else \
        Window(auto.center, auto.width, "no DICOM window: breast (auto)")
    dense = percentile_window(pixels, mask, 40.0, 99.9, name=DENSE)
    full = full_range_window(pixels)
    return {AUTO: auto, DICOM: dicom, DENSE: dense, FULL: Window(full.center, full.width, FULL)}


def default_preset(meta: ImageMeta | None, bits_stored: int | None = None) -> str:
    """The DICOM window when the header has a real one, else the automatic breast window. A
    stored window that merely spans the whole bit depth (e.g. 2047/4095 for 12 bits) is the
    modality's default, not a reading window: it opens washed out, so the automatic one wins."""
    stored = dicom_window(meta) if meta is not None else None
    if stored is None:
        return AUTO
    if bits_stored and stored.width >= 0.9 * (2 ** int(bits_stored)):
        return AUTO
    return DICOM
