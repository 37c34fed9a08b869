"""Display windowing: map stored values to 8-bit grey for the screen, never for analysis.

Integer images go through a lookup table (one entry per possible value), which is several times
faster than arithmetic on a 4096 x 3328 16-bit mammogram. The windows follow the DICOM VOI LUT
definitions (PS3.3 C.11.2.1.2 LINEAR, C.11.2.1.3 LINEAR_EXACT and SIGMOID, C.11.2.1.1 a VOI LUT
table) so a DICOM window looks as it does on a workstation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .types import ImageMeta, VoiLut, VoiWindow

LINEAR, LINEAR_EXACT, SIGMOID = "LINEAR", "LINEAR_EXACT", "SIGMOID"
VOI_FUNCTIONS = (LINEAR, LINEAR_EXACT, SIGMOID)
# the sigmoid rounds to 0 (255) beyond this many widths below (above) the centre: 255 / (1 + 509) < 0.5
_SIGMOID_REACH = math.log(509.0) / 4.0


@dataclass(frozen=True)
class Window:
    """A display window (DICOM centre / width convention) with a name for the UI.

    ``function`` is the DICOM VOILUTFunction it follows; ``lut``, when set, is a VOI LUT table
    that maps the values instead, and centre / width then only describe the range it spans.
    """

    center: float
    width: float
    name: str = "custom"
    function: str = LINEAR
    lut: VoiLut | None = None

    @property
    def low(self) -> float:
        """The highest value shown black (lowest shown above black, for LINEAR_EXACT)."""
        if self.lut is not None:
            return self.lut.first
        if self.function == LINEAR_EXACT:
            return self.center - self.width / 2
        if self.function == SIGMOID:
            return self.center - _SIGMOID_REACH * self.width
        return self.center - 0.5 - (max(self.width, 1.0) - 1) / 2  # LINEAR: a width under 1 is read as 1

    @property
    def high(self) -> float:
        if self.lut is not None:
            return self.lut.first + len(self.lut.table) - 1
        if self.function == LINEAR_EXACT:
            return self.center + self.width / 2
        if self.function == SIGMOID:
            return self.center + _SIGMOID_REACH * self.width
        return self.center - 0.5 + (max(self.width, 1.0) - 1) / 2

    def moved(self, center: float, width: float) -> "Window":
        """The reader's own window from this one: a sigmoid stays a sigmoid; a table, which cannot
        be moved, becomes the linear window its centre and width describe."""
        return replace(self, center=float(center), width=float(width), name="custom",
                       function=LINEAR if self.lut is not None else self.function, lut=None)


def _linear(values: np.ndarray, center: float, width: float) -> np.ndarray:
    width = max(float(width), 1.0)
    if width <= 1.0:
        return np.where(values > center - 0.5, 255.0, 0.0)  # x <= c - 0.5 is black (C.11.2.1.2.1)
    y = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255.0
    return np.clip(y, 0.0, 255.0)


def _table(values: np.ndarray, lut: VoiLut) -> np.ndarray:
    table = lut.table.astype(np.float64) * (255.0 / ((1 << lut.bits) - 1))
    index = np.clip(np.floor(values - lut.first), 0, len(table) - 1).astype(np.int64)
    return table[index]


def voi(values: np.ndarray, window: Window) -> np.ndarray:
    """Grey levels 0..255 (float) of ``values`` under ``window``, by the standard's formulas."""
    if window.lut is not None:
        return _table(values, window.lut)
    c, w = float(window.center), float(window.width)
    if window.function == SIGMOID:
        with np.errstate(over="ignore"):  # far below the centre: exp overflows to inf, and 255 / inf is 0
            return 255.0 / (1.0 + np.exp(-4.0 * (values - c) / max(w, 1e-12)))
    if window.function == LINEAR_EXACT:
        w = max(w, 1e-12)
        return np.clip(((values - c) / w + 0.5) * 255.0, 0.0, 255.0)
    return _linear(values, c, w)


def render(pixels: np.ndarray, window: Window, invert: bool = False) -> np.ndarray:
    """uint8 image for display under ``window``, optionally inverted (white background look)."""
    if pixels.dtype in (np.uint8, np.uint16, np.int8, np.int16):
        info = np.iinfo(pixels.dtype)
        lut = np.rint(voi(np.arange(info.min, info.max + 1, dtype=np.float64), window)).astype(np.uint8)
        if invert:
            lut = 255 - lut
        if info.min < 0:
            return lut[(pixels.astype(np.int32) - info.min)]
        return lut[pixels]
    out = np.rint(voi(pixels.astype(np.float32), window)).astype(np.uint8)
    return 255 - out if invert else out


def to_display(pixels: np.ndarray, center: float, width: float, invert: bool = False,
               function: str = LINEAR) -> np.ndarray:
    """uint8 image for display: a DICOM centre / width window (LINEAR unless ``function`` says)."""
    return render(pixels, Window(center, width, function=function), invert)


MAX_SCREEN_TABLE = 65536  # the longest lookup table handed to the screen (pyqtgraph builds one per uint16 value)


def screen_mapping(window: Window) -> tuple[tuple[float, float], np.ndarray | None]:
    """Levels and uint8 lookup table that make a pyqtgraph ImageItem show ``window`` as ``voi`` does.

    The ImageItem maps levels (lo, hi) linearly onto the table's N entries, entry
    ``int((v - lo) * N / (hi - lo))`` clipped to the table: with one entry per integer input the
    mapping is exact for integer pixels. A linear window needs no table (the levels are it).
    """
    if window.lut is None and window.function in (LINEAR, LINEAR_EXACT):
        return (window.low, window.high), None
    if window.lut is not None:
        n = len(window.lut.table)
        lo, hi = window.lut.first, window.lut.first + n
    else:
        lo, hi = math.floor(window.low), math.ceil(window.high) + 1
        n = int(min(hi - lo, MAX_SCREEN_TABLE))
    inputs = lo + np.arange(n, dtype=np.float64) * ((hi - lo) / n)
    return (float(lo), float(hi)), np.rint(voi(inputs, window)).astype(np.uint8)


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


def lut_window(lut: VoiLut, name: str) -> Window:
    """A VOI LUT table as a window; its centre and width span the inputs over which it rises."""
    table = lut.table
    left, right = np.flatnonzero(table != table[0]), np.flatnonzero(table != table[-1])
    a = int(left[0]) - 1 if left.size else 0  # the last input still at the table's first value
    b = int(right[-1]) + 1 if right.size else len(table) - 1  # the first input at its last value
    lo, hi = lut.first + a, lut.first + b
    base = _from_range(lo, hi, name)
    return Window(base.center, base.width, name, lut=lut)


def dicom_window(meta) -> Window | None:
    """The display the DICOM header gives, if any: its VOI LUT table (the first of the sequence)
    when it has one, else WindowCenter / WindowWidth with their VOILUTFunction."""
    lut = getattr(meta, "voi_lut", None)
    if lut is not None:
        return lut_window(lut, "DICOM")
    if meta.window_center is None or not meta.window_width:
        return None
    function = getattr(meta, "voi_function", LINEAR)
    return Window(float(meta.window_center), float(meta.window_width), "DICOM",
                  function if function in VOI_FUNCTIONS else LINEAR)


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
    """``READING_PRESETS`` in that order for any image, then the header's other DICOM windows
    (``other_dicom_windows``). Without a DICOM window in the header the "DICOM window" entry is
    the automatic one and says so in its name."""
    auto = breast_window(pixels, mask)
    stored = dicom_window(meta) if meta is not None else None
    dicom = replace(stored, name=DICOM) if stored is not None else \
        Window(auto.center, auto.width, "no DICOM window: breast (auto)")
    dense = percentile_window(pixels, mask, 40.0, 99.9, name=DENSE)
    full = full_range_window(pixels)
    out = {AUTO: auto, DICOM: dicom, DENSE: dense, FULL: Window(full.center, full.width, FULL)}
    if stored is not None:
        out.update((w.name, w) for w in other_dicom_windows(meta))
    return out


def other_dicom_windows(meta) -> list[Window]:
    """The header's displays besides the DICOM window, in its order, named "DICOM window 2: HARDER"
    and so on (the number keeps names unique when explanations repeat or are missing)."""
    out = []
    function = getattr(meta, "voi_function", LINEAR)
    for k, other in enumerate(getattr(meta, "voi_others", ()) or (), start=2):
        name = f"{DICOM} {k}" + (f": {other.explanation}" if other.explanation else "")
        if isinstance(other, VoiLut):
            out.append(lut_window(other, name))
        elif isinstance(other, VoiWindow):
            out.append(Window(float(other.center), float(other.width), name,
                              function if function in VOI_FUNCTIONS else LINEAR))
    return out


def dicom_family(names: list[str]) -> list[str]:
    """The DICOM window and the header's others among preset ``names``, in order."""
    return [n for n in names if n == DICOM or n.startswith(f"{DICOM} ")]


def next_preset(names: list[str], i: int, current: str | None) -> str | None:
    """The preset the i-th reading key (F1...) shows. Pressed again while a DICOM window is shown,
    the DICOM key steps to the header's next one and back to the first, as on a workstation."""
    if not 0 <= i < min(len(names), len(READING_PRESETS)):
        return None
    family = dicom_family(names)
    if names[i] == DICOM and current in family:
        return family[(family.index(current) + 1) % len(family)]
    return names[i]


def default_preset(meta: ImageMeta | None, bits_stored: int | None = None) -> str:
    """The DICOM window when the header has a real one, else the automatic breast window. A
    stored window that merely spans the whole bit depth (e.g. 2047/4095 for 12 bits) is the
    modality's default, not a reading window: it opens washed out, so the automatic one wins."""
    stored = dicom_window(meta) if meta is not None else None
    if stored is None:
        return AUTO
    if stored.lut is not None:  # a table is the modality's chosen display, never a mere full range
        return DICOM
    if bits_stored and stored.width >= 0.9 * (2 ** int(bits_stored)):
        return AUTO
    return DICOM
