"""Read a DICOM mammogram: the header checked before any pixel is decoded, the pixels decoded
with the plugin the transfer syntax needs (named when missing), and the grayscale pipeline's
Modality LUT applied (``dicom_lut``). MONOCHROME1 is inverted so that dense tissue is bright
everywhere in the project; every change is recorded in ``meta.warnings``."""

from __future__ import annotations

import functools
import logging
import os
import warnings as _pywarnings
from pathlib import Path

import numpy as np

from . import dicom_header as hdr
from .dicom_lut import apply_table, displays, lut_table, mirror_point, other_displays, rescale, stored_range
from .errors import ImageReadError
from .file_checks import check_pixel_count, missing_reason, require_finite, sniff_preamble
from .types import ImageMeta, LoadedImage, VoiLut, VoiWindow
from .windowing import LINEAR

log = logging.getLogger(__name__)

# transfer syntax UID prefix -> the packages that decode it (for the error message)
_PLUGIN_HINTS = {
    "1.2.840.10008.1.2.4.9": "pylibjpeg + pylibjpeg-openjpeg (JPEG 2000)",
    "1.2.840.10008.1.2.4.20": "pylibjpeg + pylibjpeg-openjpeg (HTJ2K)",
    "1.2.840.10008.1.2.4.8": "pylibjpeg + pylibjpeg-libjpeg, or pyjpegls (JPEG-LS)",
    "1.2.840.10008.1.2.4.5": "pylibjpeg + pylibjpeg-libjpeg, or pillow (JPEG)",
    "1.2.840.10008.1.2.4.7": "pylibjpeg + pylibjpeg-libjpeg (JPEG lossless)",
    "1.2.840.10008.1.2.5": "pydicom's own RLE decoder, or pylibjpeg-rle",
}

def read_dicom_header(path: str | Path):
    """The DICOM dataset without its pixel data (tags for display, de-identification, export)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    if not Path(path).is_file():
        raise ImageReadError(path, missing_reason(path))
    try:
        return pydicom.dcmread(str(path), stop_before_pixels=True)
    except InvalidDicomError:
        raise ImageReadError(path, "not a DICOM file (no DICM preamble and no readable dataset)") from None
    except Exception as exc:  # pydicom raises many kinds on broken headers
        raise ImageReadError(path, f"unreadable DICOM header: {exc}") from None

def _ensure_transfer_syntax(ds) -> None:
    """A raw dataset without file meta information (old ACR-NEMA style files, some PACS dumps)
    has no Transfer Syntax UID, and pydicom then refuses to decode its pixels; the encoding it
    read the dataset with is the transfer syntax (such files are never compressed)."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None or little is None:
        return
    if meta is None:
        meta = ds.file_meta = FileMetaDataset()
    meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else (
        ExplicitVRLittleEndian if little else ExplicitVRBigEndian)

def _decode_pixels(ds, path: Path) -> np.ndarray:
    from pydicom.pixels import get_decoder

    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if ts is not None and ts.is_compressed:
        hint = next((v for k, v in _PLUGIN_HINTS.items() if str(ts).startswith(k)), None)
        try:
            decoder = get_decoder(ts)
            available = decoder.is_available
        except NotImplementedError:
            raise ImageReadError(
                path,
                f"pixel data compressed with '{ts.name}' ({ts}), which no pydicom decoder supports; "
                "convert the file to an uncompressed or JPEG 2000 transfer syntax (e.g. gdcmconv --raw)",
            ) from None
        if not available:
            raise ImageReadError(
                path,
                f"pixel data compressed with '{ts.name}' ({ts}) and no decoder plugin is installed; "
                f"install {hint or 'gdcm or pylibjpeg'}",
            )
    try:
        return ds.pixel_array
    except Exception as exc:
        name = f"'{ts.name}' ({ts})" if ts is not None else "unknown transfer syntax"
        msg = " ".join(str(exc).split())[:300] if str(exc) else type(exc).__name__  # the plugins' reasons, on one line
        if "expected" in msg.lower() and "length" in msg.lower() or "truncat" in msg.lower():
            raise ImageReadError(path, f"the pixel data is truncated ({msg})") from None
        if "could not broadcast" in msg.lower() or "cannot reshape" in msg.lower():
            raise ImageReadError(path, f"the compressed image does not have the size the header gives "
                                       f"({ds.Columns} x {ds.Rows} pixels, BitsAllocated {ds.BitsAllocated}): {msg}") from None
        raise ImageReadError(path, f"could not decode the pixel data, transfer syntax {name}: {msg}") from None

def read_dicom(path: Path, limit: int) -> LoadedImage:
    import pydicom
    from pydicom.errors import InvalidDicomError

    has_preamble = sniff_preamble(path)
    try:
        with _pywarnings.catch_warnings(record=True) as caught:
            _pywarnings.simplefilter("always")
            ds = pydicom.dcmread(str(path), force=True)
    except InvalidDicomError:
        raise ImageReadError(path, "not a DICOM file (no DICM preamble and no readable dataset)") from None
    except (EOFError, ValueError, OSError) as exc:
        raise ImageReadError(path, f"truncated or corrupt DICOM file ({exc})") from None
    except Exception as exc:
        raise ImageReadError(path, f"unreadable DICOM file ({type(exc).__name__}: {exc})") from None
    eof = [str(w.message) for w in caught if "end of file" in str(w.message).lower() or "eof" in str(w.message).lower()]
    if eof:
        raise ImageReadError(path, f"the DICOM file is truncated ({eof[0].split(' in file')[0]})")
    if not has_preamble and not any(k in ds for k in ("SOPClassUID", "Rows", "PixelData", "StudyInstanceUID")):
        raise ImageReadError(path, "not a DICOM file (no DICM preamble and no recognisable DICOM elements)")
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        if len(ds) == 0:
            raise ImageReadError(path, "not a DICOM file (no readable elements)")
        sop = getattr(ds, "SOPClassUID", None)
        if sop is not None and "Image Storage" in getattr(sop, "name", "") and "Rows" not in ds:
            last = list(ds.keys())[-1]
            if last < 0x00280010:  # the elements stop before Rows: the rest of the file is missing
                raise ImageReadError(path, f"the DICOM file is truncated: the header stops at tag {last}, "
                                           "before the image attributes and pixel data")
            raise ImageReadError(path, f"the DICOM file is an image ({sop.name}) without its image: it has no "
                                       "Rows and no Pixel Data (header only, e.g. an anonymiser or query dump)")
        raise ImageReadError(path, "the DICOM file has no pixel data (e.g. a structured report or presentation state)")
    for key in ("Rows", "Columns", "BitsAllocated"):
        if key not in ds:
            raise ImageReadError(path, f"the DICOM header lacks {key}; cannot interpret the pixel data")
    rows, columns = header_int(ds, "Rows", path), header_int(ds, "Columns", path)
    bits_allocated = header_int(ds, "BitsAllocated", path)
    frames = header_int(ds, "NumberOfFrames", path, 1) or 1
    if frames > 1:
        raise ImageReadError(path, f"multi-frame DICOM ({frames} frames, e.g. tomosynthesis) is not supported; "
                                   "import a single-frame 2-D mammogram")
    spp = header_int(ds, "SamplesPerPixel", path, 1) or 1
    signed = header_int(ds, "PixelRepresentation", path, 0) == 1
    header_bits = header_int(ds, "BitsStored", path, bits_allocated)
    warnings: list[str] = []
    stated = str(getattr(ds, "PhotometricInterpretation", "") or "")
    photometric = stated.strip().upper() or "MONOCHROME2"
    if spp != 1 or not photometric.startswith("MONOCHROME"):
        raise ImageReadError(path, f"colour DICOM ({photometric}, {spp} samples per pixel) is not supported; "
                                   "mammograms must be grayscale")
    if stated != photometric:  # pydicom's decoders refuse "monochrome2" or a missing value
        if not stated.strip():
            warnings.append("PhotometricInterpretation is missing; read as MONOCHROME2")
        ds.PhotometricInterpretation = photometric
    check_pixel_count(path, columns, rows, limit)
    # a short Pixel Data element: pydicom reads what is there, the decoder then finds it short
    expected = rows * columns * bits_allocated // 8
    _ensure_transfer_syntax(ds)
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    raw = ds["PixelData"] if "PixelData" in ds else None
    if raw is not None and (ts is None or not ts.is_compressed) and raw.value is not None and len(raw.value) < expected:
        raise ImageReadError(path, f"the pixel data is truncated: {len(raw.value)} of {expected} bytes")
    pixels = _decode_pixels(ds, path)
    if pixels.ndim != 2:
        raise ImageReadError(path, f"unexpected pixel array shape {pixels.shape}; expected a 2-D grayscale image")
    if not pixels.dtype.isnative:  # big-endian files: the display's lookup tables and torch need native order
        pixels = pixels.astype(pixels.dtype.newbyteorder("="))
    require_finite(pixels, path, "pixel data")

    modality = hdr.bounded_text(ds, "Modality", hdr.MODALITY_MAX, warnings)
    modality = modality.upper() if modality else None
    if modality != "MG":
        warnings.append(f"modality is {modality or 'missing'}, not MG; imported as a mammogram anyway")
    bits_stored = _bits_holding(pixels, header_bits, signed, warnings)
    slope, intercept = rescale(ds, path, warnings)
    table = lut_table(ds, "ModalityLUTSequence", signed, warnings) if "ModalityLUTSequence" in ds else None
    mono1 = photometric == "MONOCHROME1"
    if table is not None:
        if "RescaleSlope" in ds or "RescaleIntercept" in ds:
            warnings.append("RescaleSlope / RescaleIntercept are ignored: the Modality LUT Sequence replaces them")
        first, bits_stored, values = table
        pixels = apply_table(pixels, first, values, bits_stored)
        warnings.append(f"Modality LUT Sequence applied ({len(values)} entries from {first:g}, {bits_stored} bits)")
        if mono1:
            pixels = ((1 << bits_stored) - 1 - pixels.astype(np.int64)).astype(pixels.dtype)
    elif mono1:
        lo, hi = stored_range(bits_stored, signed)
        pixels = (lo + hi - pixels.astype(np.int64)).astype(pixels.dtype)
    mirror = mirror_point(bits_stored, signed, table is not None, slope, intercept) if mono1 else None
    voi_function, tables, wins = displays(ds, mirror, signed, warnings)  # mirrored with the pixels
    center, width = (wins[0].center, wins[0].width) if wins else (None, None)
    voi_lut = tables[0] if tables else None
    voi_others = other_displays(tables, wins)
    if mono1:
        warnings.append("MONOCHROME1 inverted so that dense tissue is bright")
        photometric = "MONOCHROME2"

    if table is None and (slope != 1.0 or intercept != 0.0):
        scaled = pixels.astype(np.float64) * slope + intercept
        lo_v, hi_v = scaled.min(), scaled.max()
        if float(slope).is_integer() and float(intercept).is_integer() and -2 ** 31 <= lo_v and hi_v < 2 ** 31:
            pixels = scaled.astype(np.uint16 if lo_v >= 0 and hi_v <= 65535 else np.int32)
        else:
            with np.errstate(over="ignore"):  # a huge slope overflows float32: refused just below
                pixels = scaled.astype(np.float32)
            require_finite(pixels, path, "rescaled pixel data")
        warnings.append(f"modality rescale applied (slope {slope:g}, intercept {intercept:g})")

    laterality = None
    for key in ("ImageLaterality", "Laterality"):
        val = (hdr.bounded_text(ds, key, 16, warnings) or "").upper()
        if val in ("L", "R"):
            if laterality is None:
                laterality = val
            elif val != laterality:  # the image's own attribute wins over the series'
                warnings.append(f"ImageLaterality {laterality} and the series' Laterality {val} disagree; "
                                f"{laterality} (the image's) is used")
        elif val:
            warnings.append(f"{key} is '{val}', not L or R; ignored")
    meta = ImageMeta(
        source_path=str(path),
        width=int(pixels.shape[1]),
        height=int(pixels.shape[0]),
        bits_stored=bits_stored,
        pixel_spacing_mm=hdr.spacing(ds, int(pixels.shape[1]), int(pixels.shape[0]), warnings),
        laterality=laterality,
        view=hdr.view(ds, warnings),
        photometric=photometric,
        modality=modality,
        window_center=center,
        window_width=width,
        patient_id=hdr.patient_id(ds, warnings),
        study_uid=hdr.bounded_text(ds, "StudyInstanceUID", hdr.IDENTIFIER_MAX, warnings),
        series_uid=hdr.bounded_text(ds, "SeriesInstanceUID", hdr.IDENTIFIER_MAX, warnings),
        sop_instance_uid=hdr.bounded_text(ds, "SOPInstanceUID", hdr.IDENTIFIER_MAX, warnings),
        study_date=hdr.study_date(ds, warnings),
        accession_number=hdr.accession(ds, warnings),
        warnings=tuple(warnings),
        voi_function=voi_function,
        voi_lut=voi_lut,
        voi_others=voi_others,
    )
    return LoadedImage(np.ascontiguousarray(pixels), meta)

def header_int(ds, key: str, path: Path, default: int | None = None) -> int:
    """An integer attribute of the header (Rows, BitsStored, NumberOfFrames...), refused by name
    when it is not a whole number; ``default`` when absent or empty."""
    raw = getattr(ds, key, None)
    if raw is None or raw == "":
        if default is None:
            raise ImageReadError(path, f"the DICOM header lacks {key}; cannot interpret the pixel data")
        return default
    try:
        number = float(raw)
        if number.is_integer():
            if isinstance(raw, str):  # a text VR ("12"): the decoders compare it with numbers
                del ds[key]
                setattr(ds, key, int(number))
            return int(number)
    except (TypeError, ValueError, OverflowError):
        pass
    raise ImageReadError(path, f"the header's {key} is '{str(raw)[:40]}', not a number; "
                               "cannot interpret the pixel data")

def _bits_holding(pixels: np.ndarray, bits_stored: int, signed: bool, warnings: list[str]) -> int:
    """BitsStored, or the bits the decoded values really need when they do not fit in it (a JPEG
    2000 codestream of 12 bits in a header saying 8): MONOCHROME1 inversion over a too narrow
    range would wrap the values around and scramble the image."""
    if pixels.dtype.kind not in "iu" or pixels.size == 0:
        return bits_stored
    lo_v, hi_v = int(pixels.min()), int(pixels.max())
    need = max(hi_v.bit_length(), (-lo_v - 1).bit_length() if lo_v < 0 else 0) + (1 if signed else 0)
    if need <= bits_stored:
        return bits_stored
    warnings.append(f"BitsStored is {bits_stored} but the pixel values need {need} bits; read as {need} bits")
    return need

HeaderVoi = tuple[str, VoiLut | None, tuple[VoiLut | VoiWindow, ...]]


def header_voi(path: str | Path, bits_stored: int | None = None) -> HeaderVoi:
    """The VOILUTFunction, VOI LUT table and other displays of a DICOM file, as ``read_image``
    puts them in the meta (the project database keeps only the window): re-read when an image is
    opened from a project. ``bits_stored``: the image's as imported. ("LINEAR", None, ()) for a
    file that is gone, is not DICOM, or has none; never raises."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return LINEAR, None, ()
    return _header_voi(str(path), bits_stored, st.st_mtime_ns, st.st_size)

@functools.lru_cache(maxsize=64)
def _header_voi(path: str, bits_stored: int | None, _mtime_ns: int, _size: int) -> HeaderVoi:
    try:
        if not sniff_preamble(path) and Path(path).suffix.lower() not in (".dcm", ".dicom", ".dic", ""):
            return LINEAR, None, ()
        with _pywarnings.catch_warnings():
            _pywarnings.simplefilter("ignore")
            ds = read_dicom_header(path)
            signed = header_int(ds, "PixelRepresentation", Path(path), 0) == 1
            mono1 = str(getattr(ds, "PhotometricInterpretation", "") or "").strip().upper() == "MONOCHROME1"
            mirror = None
            if mono1:
                ignored: list[str] = []
                bits = bits_stored or header_int(ds, "BitsStored", Path(path), 16)
                table = lut_table(ds, "ModalityLUTSequence", signed, ignored) if "ModalityLUTSequence" in ds else None
                mirror = mirror_point(table[1] if table else bits, signed, table is not None,
                                       *rescale(ds, Path(path), ignored))
            function, tables, wins = displays(ds, mirror, signed, [])
            return function, tables[0] if tables else None, other_displays(tables, wins)
    except Exception:  # the display falls back to the plain window; the import said what was wrong
        log.debug("no VOI from %s", path, exc_info=True)
        return LINEAR, None, ()
