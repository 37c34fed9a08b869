"""The header half of DICOM's grayscale pipeline (PS3.3 C.11): the Modality LUT (rescale slope
and intercept, or a table), the VOI (window, VOILUTFunction, or a table), and MONOCHROME1's
mirror point. A table that does not match its descriptor is refused with a warning, never
applied: it would map the image's values to nonsense."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from . import dicom_header as hdr
from .errors import ImageReadError
from .types import VoiLut, VoiWindow
from .windowing import LINEAR, VOI_FUNCTIONS


def _values(ds, key: str) -> list:
    """Every value of a possibly multi-valued attribute; [] where absent or empty."""
    raw = getattr(ds, key, None)
    if raw is None or raw == "":
        return []
    return list(raw) if hasattr(raw, "__len__") and not isinstance(raw, (str, bytes)) else [raw]


MAX_DISPLAYS = 16  # windows, and tables, offered per image: a reading list, not whatever a header holds


def windows(ds, warnings: list[str]) -> list[VoiWindow]:
    """Every usable WindowCenter / WindowWidth pair in the header's order, with its explanation.
    The first is the DICOM window; a mammography header often adds HARDER and SOFTER ones. An
    unusable pair is left out with a warning that names it."""
    centers, widths = ([hdr.first_float(v) for v in _values(ds, key)] for key in ("WindowCenter", "WindowWidth"))
    names = [str(v).strip() or None for v in _values(ds, "WindowCenterWidthExplanation")]
    if centers and widths and len(centers) != len(widths):
        warnings.append(f"the header gives {len(centers)} window centres and {len(widths)} widths; "
                        f"the first {min(len(centers), len(widths))} are paired")
    out: list[VoiWindow] = []
    pairs = min(len(centers), len(widths))
    if pairs > MAX_DISPLAYS:  # read no further: a hostile header's every bad pair would be a warning
        warnings.append(f"the header gives {pairs} windows; only the first {MAX_DISPLAYS} are read")
    for k, (center, width) in enumerate(zip(centers[:MAX_DISPLAYS], widths[:MAX_DISPLAYS])):
        which = "the DICOM window" if k == 0 else f"window {k + 1}"
        if center is None or width is None:
            continue
        if not (np.isfinite(center) and np.isfinite(width)):
            # an infinite width shows a flat grey image
            warnings.append(f"{which} is not finite (WindowCenter {center}, WindowWidth {width}); ignored")
            continue
        if width <= 0:
            warnings.append(f"WindowWidth is {width:g}, not positive; {which} is ignored" +
                            (" and the image's range is shown" if k == 0 else ""))
            continue
        name = names[k] if k < len(names) else None
        out.append(VoiWindow(center, width, name[:64] if name else None))
    return out


def rescale(ds, path: Path, warnings: list[str]) -> tuple[float, float]:
    """RescaleSlope / RescaleIntercept, the identity where absent or unusable (with a warning)."""
    slope = hdr.first_float(getattr(ds, "RescaleSlope", None))
    intercept = hdr.first_float(getattr(ds, "RescaleIntercept", None))
    for key, value in (("RescaleSlope", slope), ("RescaleIntercept", intercept)):
        if value is None and str(getattr(ds, key, "") or "").strip():
            warnings.append(f"{key} is '{str(getattr(ds, key))[:40]}', not a number; the identity rescale is used")
    slope = 1.0 if slope is None else slope
    intercept = 0.0 if intercept is None else intercept
    if not (np.isfinite(slope) and np.isfinite(intercept)):
        raise ImageReadError(path, f"the modality rescale is not finite (RescaleSlope {slope}, "
                                   f"RescaleIntercept {intercept}): the pixel values cannot be interpreted")
    if slope == 0.0:  # every pixel would become the intercept: a blank image, imported and annotated
        warnings.append(f"RescaleSlope is 0 (intercept {intercept:g}), which would make every pixel equal; "
                        "the rescale is ignored and the stored values are used")
        return 1.0, 0.0
    return slope, intercept

def stored_range(bits: int, signed: bool) -> tuple[int, int]:
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)

def mirror_point(bits_stored: int, signed: bool, table: bool, slope: float, intercept: float) -> float:
    """M such that MONOCHROME1's inversion maps a modality value v to M - v: the stored range's
    ends summed and rescaled, or the Modality LUT's output range (0 .. 2**bits - 1)."""
    if table:
        return float((1 << bits_stored) - 1)
    lo, hi = stored_range(bits_stored, signed)
    return slope * (lo + hi) + 2 * intercept

def mirrored_center(center: float, mirror: float, function: str) -> float:
    """The window centre on MONOCHROME1's inverted values ``mirror - v``. LINEAR is not symmetric
    about its centre (PS3.3 C.11.2.1.2.1: black up to ``c - 0.5 - (w-1)/2``, white above
    ``c - 0.5 + (w-1)/2``), so its mirror is ``mirror - c + 1``; LINEAR_EXACT and SIGMOID are."""
    return mirror - center + (1.0 if function == LINEAR else 0.0)

_LUT_NAMES = {"ModalityLUTSequence": "Modality LUT Sequence", "VOILUTSequence": "VOI LUT Sequence"}

def lut_table(ds, keyword: str, signed: bool, warnings: list[str],
              index: int = 0) -> tuple[float, int, np.ndarray] | None:
    """(first input mapped, bits per entry, uint16 table) of the sequence's ``index``-th item (PS3.3
    C.11.1.1.1 / C.11.2.1.1), or None with a warning saying what is wrong: a table that does not
    match its descriptor would map the image's values to nonsense."""
    name = _LUT_NAMES[keyword]
    items = list(getattr(ds, keyword, None) or [])
    if not items:
        warnings.append(f"the {name} is empty; not applied")
        return None
    item = items[index]
    if index:
        name = f"{name}'s table {index + 1}"
    little = (getattr(ds, "original_encoding", (None, True))[1] is not False)
    descriptor = getattr(item, "LUTDescriptor", None)
    if isinstance(descriptor, bytes) and len(descriptor) == 6:
        descriptor = struct.unpack("<3H" if little else ">3H", descriptor)
    try:
        count, first, bits = (int(v) for v in descriptor)
    except (TypeError, ValueError):
        warnings.append(f"the {name}'s LUTDescriptor is '{str(descriptor)[:40]}', not three numbers; not applied")
        return None
    count = count or 65536  # PS3.3: 0 means 2**16 entries
    if signed and first >= 32768:  # SS read as US: the first input value is negative
        first -= 65536
    if not (1 <= bits <= 16 and 0 < count <= 65536):
        warnings.append(f"the {name}'s LUTDescriptor ({count}, {first}, {bits}) is not a table of up to 65536 "
                        "entries of 1 to 16 bits; not applied")
        return None
    raw = getattr(item, "LUTData", None)
    if isinstance(raw, bytes):
        if len(raw) == 2 * count:
            values = np.frombuffer(raw, dtype="<u2" if little else ">u2").astype(np.int64)
        elif bits <= 8 and len(raw) in (count, count + 1):  # 8-bit entries packed in bytes
            values = np.frombuffer(raw[:count], dtype=np.uint8).astype(np.int64)
        else:
            values = np.zeros(len(raw) // 2, np.int64)
    elif raw is None or isinstance(raw, str):
        values = np.zeros(0, np.int64)
    else:
        try:
            values = np.asarray(list(raw) if hasattr(raw, "__len__") else [raw], dtype=np.int64).ravel()
        except (TypeError, ValueError, OverflowError):
            values = np.zeros(0, np.int64)
    if values.size == 0:
        warnings.append(f"the {name} has no table data (LUTData); not applied")
        return None
    if values.size != count:
        warnings.append(f"the {name}'s table has {values.size} entries but its LUTDescriptor says {count}; "
                        "not applied")
        return None
    if values.min() < 0 or values.max() > 65535:
        warnings.append(f"the {name}'s table holds values outside 0..65535; not applied")
        return None
    need = int(values.max()).bit_length()
    if need > bits:
        warnings.append(f"the {name}'s entries need {need} bits, not the {bits} its LUTDescriptor says; "
                        f"read as {need} bits")
        bits = need
    return float(first), bits, values.astype(np.uint16)

def apply_table(pixels: np.ndarray, first: float, table: np.ndarray, bits: int) -> np.ndarray:
    """``table[v - first]``, inputs outside the table clipped to its ends (as pydicom's
    ``apply_modality_lut``, which cannot be used: it refuses 12-bit descriptors)."""
    out_dtype = np.uint8 if bits <= 8 else np.uint16
    table = table.astype(out_dtype)
    if pixels.dtype in (np.uint8, np.uint16, np.int8, np.int16):  # one lookup per possible value
        info = np.iinfo(pixels.dtype)
        index = np.clip(np.arange(info.min, info.max + 1, dtype=np.int64) - int(first), 0, len(table) - 1)
        full = table[index]
        return full[pixels.astype(np.int32) - info.min] if info.min < 0 else full[pixels]
    index = np.clip(np.floor(pixels.astype(np.float64) - first), 0, len(table) - 1).astype(np.int64)
    return table[index]

def voi_function(ds, warnings: list[str]) -> str:
    """The VOILUTFunction the windows follow (LINEAR where absent or unknown, with a warning)."""
    function = (hdr.text(ds, "VOILUTFunction") or LINEAR).upper()
    if function not in VOI_FUNCTIONS:
        warnings.append(f"VOILUTFunction is '{function[:40]}', not LINEAR, LINEAR_EXACT or SIGMOID; the window "
                        "is applied as LINEAR")
        function = LINEAR
    return function


def voi_tables(ds, mirror: float | None, signed: bool, warnings: list[str]) -> tuple[VoiLut, ...]:
    """Every usable VOI LUT Sequence table in the header's order; ``mirror``: MONOCHROME1's
    inversion point, about which each table is mirrored and inverted like the pixels."""
    if "VOILUTSequence" not in ds:
        return ()
    out: list[VoiLut] = []
    items = list(ds.VOILUTSequence) or [None]
    if len(items) > MAX_DISPLAYS:  # read no further: each table is decoded, and a bad one warned of
        warnings.append(f"the VOI LUT Sequence holds {len(items)} tables; only the first {MAX_DISPLAYS} are read")
    for k, item in enumerate(items[:MAX_DISPLAYS]):
        table = lut_table(ds, "VOILUTSequence", signed, warnings, k)
        if table is None:
            continue
        first, bits, values = table
        if mirror is not None:  # MONOCHROME1: input M - v, and the table's low values are the bright ones
            first, values = mirror - (first + len(values) - 1), ((1 << bits) - 1 - values[::-1]).astype(np.uint16)
        explanation = hdr.text(item, "LUTExplanation")
        out.append(VoiLut.from_table(first, bits, values, explanation[:64] if explanation else None))
    return tuple(out)


def displays(ds, mirror: float | None, signed: bool,
             warnings: list[str]) -> tuple[str, tuple[VoiLut, ...], tuple[VoiWindow, ...]]:
    """The header's VOI: (VOILUTFunction, every table, every window), both lists in the header's
    order and mirrored for MONOCHROME1 (``mirror`` not None). The first table, else the first
    window, is the DICOM window; the rest are offered beside it."""
    function = voi_function(ds, warnings)
    tables = voi_tables(ds, mirror, signed, warnings)
    wins = tuple(VoiWindow(mirrored_center(w.center, mirror, function), w.width, w.explanation)
                 if mirror is not None else w for w in windows(ds, warnings))
    return function, tables, wins


def other_displays(tables: tuple[VoiLut, ...], wins: tuple[VoiWindow, ...]) -> tuple[VoiLut | VoiWindow, ...]:
    """What ``displays`` offers besides the DICOM window (the first table, else the first window)."""
    return tables[1:] + (wins if tables else wins[1:])
