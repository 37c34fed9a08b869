"""Frozen value types shared by every layer.

Coordinates follow image convention everywhere: ``x`` is the column, ``y`` the row, origin at
the top-left pixel corner, in full-resolution pixels of the stored image.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np


class LesionClass(str, enum.Enum):
    """Class of an annotated finding (the method annotates malignant ones; benign is allowed)."""

    MALIGNANT = "M"
    BENIGN = "B"


class RegionLabel(str, enum.Enum):
    """Region label from IoM with malignant lesions (method section 4)."""

    M = "M"
    BN = "BN"
    IGNORED = "ignored"


class AnnotationStatus(str, enum.Enum):
    """Where an image stands in the annotation work."""

    NOT_ANNOTATED = "not_annotated"
    CONTOURED = "contoured"
    NO_MALIGNANT = "no_malignant"  # explicitly confirmed: nothing malignant to contour


@dataclass(frozen=True)
class WeakLabel:
    """Image-level label (y_M, y_B); ``None`` means unknown (excluded from that term).

    The rule for malignant images: y_B is 1 when a benign finding is stated, and unknown
    (``None``) where nothing says otherwise. A malignant image can hold benign findings that
    nobody reported (the paper notes it), so "no benign finding listed" is not y_B = 0. Only a
    source that states y_B explicitly (the CSV's y_m,y_b columns, synthetic data) gives (1, 0).
    """

    y_m: int | None
    y_b: int | None

    @property
    def is_known(self) -> bool:
        return self.y_m is not None and self.y_b is not None

    @property
    def name(self) -> str:
        if self.y_m == 1 and self.y_b is None:
            return "M"  # malignant; benign findings unknown
        if not self.is_known:
            return "unknown"
        return {(0, 0): "N", (0, 1): "B", (1, 0): "M", (1, 1): "MB"}[(self.y_m, self.y_b)]


@dataclass(frozen=True)
class Box:
    """Axis-aligned pixel box, half-open: columns x0..x1-1, rows y0..y1-1."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def area(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class Polygon:
    """A closed contour in image pixels; the closing edge is implicit."""

    points: tuple[tuple[float, float], ...]

    @classmethod
    def from_array(cls, xy: np.ndarray | list) -> "Polygon":
        arr = np.asarray(xy, dtype=float).reshape(-1, 2)
        return cls(tuple((float(x), float(y)) for x, y in arr))

    def as_array(self) -> np.ndarray:
        return np.asarray(self.points, dtype=float).reshape(-1, 2)

    @property
    def area(self) -> float:
        """Shoelace area (absolute)."""
        a = self.as_array()
        if len(a) < 3:
            return 0.0
        x, y = a[:, 0], a[:, 1]
        return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        a = self.as_array()
        return float(a[:, 0].min()), float(a[:, 1].min()), float(a[:, 0].max()), float(a[:, 1].max())


def _size_problem(size: float | None, stride: float | None, low: float, high: float, unit: str) -> str | None:
    if size is None or stride is None:
        return f"a window and a stride are both needed in {unit}"
    if not (math.isfinite(size) and low <= size <= high):
        return f"window {size:g} {unit} is outside {low:g}-{high:g} {unit}"
    if not (math.isfinite(stride) and size / 16 <= stride <= size):
        return f"stride {stride:g} {unit} is outside {size / 16:g}-{size:g} {unit} (a sixteenth of the window to the window)"
    return None


@dataclass(frozen=True)
class GridSpec:
    """Sliding-window settings; millimetre sizes win over pixels when the spacing is known."""

    size_px: int = 224
    stride_px: int = 112
    min_inside: float = 0.5
    size_mm: float | None = None
    stride_mm: float | None = None

    def problem(self) -> str | None:
        """Why these settings cannot make a usable region grid, or None.

        A window must hold a lesion-sized patch (8 px to 4096 px, or 1 mm to 200 mm), and the
        stride must neither leave gaps (above the window) nor lay more than 16 x 16 windows over
        each pixel (below a sixteenth of the window), which only multiplies the regions.
        """
        if not 0.0 <= self.min_inside <= 1.0:
            return f"the inside fraction {self.min_inside} is not between 0 and 1"
        if self.size_mm is not None or self.stride_mm is not None:
            return _size_problem(self.size_mm, self.stride_mm, 1.0, 200.0, "mm")
        return _size_problem(self.size_px, self.stride_px, 8, 4096, "px")

    def resolve(self, pixel_spacing_mm: float | None) -> tuple[int, int]:
        """Window size and stride in pixels for an image of the given (square) spacing."""
        if self.size_mm is not None and pixel_spacing_mm:
            size = max(8, int(round(self.size_mm / pixel_spacing_mm)))
            stride_mm = self.stride_mm if self.stride_mm is not None else self.size_mm / 2
            stride = max(1, int(round(stride_mm / pixel_spacing_mm)))
            return size, stride
        return self.size_px, self.stride_px

    def key(self, pixel_spacing_mm: float | None = None) -> str:
        """A stable identifier of the resolved grid, stored with regions and features."""
        size, stride = self.resolve(pixel_spacing_mm)
        return f"w{size}s{stride}i{self.min_inside:g}"


@dataclass(frozen=True)
class Region:
    """One window of the grid, with the fraction of its area inside the breast."""

    index: int
    box: Box
    inside_fraction: float


@dataclass(frozen=True)
class Lesion:
    """An annotated finding as the labelling rule sees it."""

    cls: LesionClass
    polygon: Polygon
    annotation_id: int | None = None


@dataclass(frozen=True)
class RegionLabelling:
    """The label a region receives from the current contours, with its provenance."""

    region_index: int
    label: RegionLabel
    iom: float  # max IoM over malignant lesions (0 when none intersects)
    annotation_id: int | None  # the malignant annotation with that max IoM, if any


@dataclass(frozen=True)
class VoiLut:
    """The table of a DICOM VOI LUT Sequence item (PS3.3 C.11.2.1.1): entry ``k`` is the display
    value of input ``first + k``; inputs below or above the table take its first or last entry,
    and outputs range over 0 .. 2**bits - 1. The entries are kept as bytes (native uint16) so the
    meta holding them stays hashable and comparable."""

    first: float
    bits: int
    data: bytes
    explanation: str | None = None

    @classmethod
    def from_table(cls, first: float, bits: int, table: np.ndarray, explanation: str | None = None) -> "VoiLut":
        return cls(float(first), int(bits), np.ascontiguousarray(table, dtype=np.uint16).tobytes(), explanation)

    @property
    def table(self) -> np.ndarray:
        return np.frombuffer(self.data, dtype=np.uint16)


@dataclass(frozen=True)
class VoiWindow:
    """One WindowCenter / WindowWidth pair of a header that gives several (PS3.3 C.11.2.1.2), with
    its WindowCenterWidthExplanation (e.g. NORMAL, HARDER, SOFTER)."""

    center: float
    width: float
    explanation: str | None = None


@dataclass(frozen=True)
class ImageMeta:
    """What the importer learns about an image besides its pixels."""

    source_path: str
    width: int
    height: int
    bits_stored: int = 8
    pixel_spacing_mm: tuple[float, float] | None = None  # (row, column)
    laterality: str | None = None  # "L" / "R"
    view: str | None = None  # "CC", "MLO", ...
    photometric: str = "MONOCHROME2"
    modality: str | None = None
    window_center: float | None = None
    window_width: float | None = None
    patient_id: str | None = None
    study_uid: str | None = None
    series_uid: str | None = None
    sop_instance_uid: str | None = None
    study_date: str | None = None  # DICOM StudyDate as written (YYYYMMDD)
    accession_number: str | None = None  # the RIS order number a reader searches by (an identifier)
    warnings: tuple[str, ...] = field(default_factory=tuple)
    # the DICOM display (VOI) besides the window: VOILUTFunction of WindowCenter / WindowWidth, and the
    # first VOI LUT Sequence table (both mirrored like the window for MONOCHROME1). Not in the project
    # database: an image opened from a project has them re-read from its header (core.imageio.header_voi).
    voi_function: str = "LINEAR"
    voi_lut: VoiLut | None = None
    # the header's other displays, in its order: the further VOI LUT tables, then the windows that
    # are not the DICOM window (mammography headers often give NORMAL, HARDER and SOFTER)
    voi_others: tuple["VoiLut | VoiWindow", ...] = field(default_factory=tuple)

    @property
    def mean_spacing_mm(self) -> float | None:
        if not self.pixel_spacing_mm:
            return None
        return float(sum(self.pixel_spacing_mm) / 2.0)


@dataclass(frozen=True)
class LoadedImage:
    """Pixels for analysis (stored values, MONOCHROME1 already inverted so dense is bright)."""

    pixels: np.ndarray
    meta: ImageMeta
