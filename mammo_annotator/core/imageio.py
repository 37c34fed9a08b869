"""Read a mammogram (DICOM, PNG, TIFF) into a :class:`LoadedImage`, or say plainly why not.

The format is chosen from the file's bytes, not its name: a DICOM file keeps its ``DICM``
preamble whatever it is called. Pixel values are the stored values, with two deliberate
changes, both recorded in ``meta.warnings``:

* MONOCHROME1 images are inverted (``lo + hi - v`` over the range of BitsStored, widened when the
  decoded values exceed it) so dense tissue is bright everywhere in the project; the DICOM window
  centre is mirrored the same way, on the rescaled values it refers to.
* The Modality LUT is applied: a Modality LUT Sequence's table (its values are unsigned integers
  of the table's bits; MONOCHROME1 is then inverted over that range), else RescaleSlope /
  RescaleIntercept when not the identity (it is in practically every MG image). DICOM defines the
  VOI (window, VOI LUT Sequence) on the modality's values, so applying it keeps them meaningful.
  Integral results stay integer (int32, or uint16 when the range allows it); others become float32.

The VOI itself is display only: WindowCenter / WindowWidth with their VOILUTFunction and the first
VOI LUT Sequence table go into the meta (mirrored like the pixels for MONOCHROME1) for the viewer.

Hostile or broken files are refused, never decoded blindly: the pixel count the header claims
is checked against ``max_pixels()`` (default 200 Mpx, ``MAMMO_ANNOTATOR_MAX_MEGAPIXELS``)
before any pixel is decoded, so a PNG claiming 2^62 pixels costs a few bytes of reading; any
error a decoder raises on a corrupt file becomes an ImageReadError naming the file.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import logging
import os
import struct
import warnings as _pywarnings
from pathlib import Path

import numpy as np

from . import dicom_header as hdr
from .errors import ImageReadError
from .types import ImageMeta, LoadedImage, VoiLut
from .windowing import LINEAR, VOI_FUNCTIONS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
JPEG_MAGIC = b"\xff\xd8\xff"

DEFAULT_MAX_MEGAPIXELS = 200.0  # the largest FFDM detectors give ~ 40 Mpx; film scans at 50 um ~ 120 Mpx
MAX_MEGAPIXELS_ENV = "MAMMO_ANNOTATOR_MAX_MEGAPIXELS"

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


def missing_reason(path: str | Path) -> str:
    """Why ``path`` cannot be opened although named: a symbolic link loop, a link to nothing, or
    no file at all (all three look alike to ``Path.exists``)."""
    try:
        os.stat(path)
    except ValueError:  # a NUL in the name: no such file can exist
        return "file not found"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop (the link leads, through other links, back to itself)"
        if os.path.islink(path):
            return f"a symbolic link to a file that does not exist ({os.readlink(path)})"
    return "file not found"


def resolved(path: str | Path) -> Path:
    """The absolute, link-free path where there is one; a symbolic link loop (``Path.resolve``
    raises RuntimeError for it on Python 3.11) keeps its absolute name, so that reading it later
    names the loop instead of stopping a whole batch."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):
        return Path(path).absolute()


def _read_head(path: str | Path, n: int) -> bytes:
    """The first ``n`` bytes; a folder, an unreadable or an empty file is refused by name."""
    try:
        with open(path, "rb") as f:
            head = f.read(n)
    except IsADirectoryError:
        raise ImageReadError(path, "is a folder, not an image file") from None
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) or exc.errno == errno.ELOOP:
            raise ImageReadError(path, missing_reason(path)) from None
        raise ImageReadError(path, f"cannot read the file: {exc.strerror or exc}") from None
    if not head:
        raise ImageReadError(path, "the file is empty")
    return head


def content_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of the file's bytes, streamed, so a re-import of the same file is recognised."""
    h = hashlib.sha256()
    p = Path(path)
    if p.is_dir():
        raise ImageReadError(path, "is a folder, not an image file")
    if p.exists() and not p.is_file():  # a pipe or a device would block the read forever
        raise ImageReadError(path, "not a regular file (a pipe, socket or device)")
    try:
        with open(path, "rb") as f:
            while block := f.read(chunk):
                h.update(block)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) or exc.errno == errno.ELOOP:
            raise ImageReadError(path, missing_reason(path)) from None
        raise ImageReadError(path, f"cannot read the file: {exc.strerror or exc}") from None
    return h.hexdigest()


def sniff_format(path: str | Path) -> str:
    """'dicom', 'png', 'tiff' or 'jpeg' from the first bytes ('dicom' also for a .dcm without preamble)."""
    p = Path(path)
    if not p.exists():
        raise ImageReadError(path, missing_reason(path))
    if p.is_dir():
        raise ImageReadError(path, "is a folder, not an image file")
    if not p.is_file():
        raise ImageReadError(path, "not a regular file (a pipe, socket or device)")
    head = _read_head(p, 132)
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(PNG_MAGIC):
        return "png"
    if head[:4] in TIFF_MAGICS:
        return "tiff"
    if head.startswith(JPEG_MAGIC):
        return "jpeg"
    if p.suffix.lower() in (".dcm", ".dicom", ".dic", ""):
        return "dicom"  # maybe a raw dataset without preamble; pydicom decides
    raise ImageReadError(path, "not an image: the content is neither DICOM, PNG nor TIFF")


def sniff_preamble(path: str | Path) -> bool:
    """True when the file has the 128-byte preamble followed by ``DICM``."""
    with open(path, "rb") as f:
        head = f.read(132)
    return len(head) == 132 and head[128:] == b"DICM"


def max_pixels() -> int:
    """The largest image (width x height) read: ``MAMMO_ANNOTATOR_MAX_MEGAPIXELS``, default 200 Mpx."""
    text = os.environ.get(MAX_MEGAPIXELS_ENV, "").strip()
    try:
        mpx = float(text) if text else DEFAULT_MAX_MEGAPIXELS
    except ValueError:
        mpx = DEFAULT_MAX_MEGAPIXELS
    return int(max(mpx, 0.0) * 1_000_000)


def check_pixel_count(path: str | Path, width: int, height: int, limit: int | None = None) -> None:
    """Refuse a header whose image size is empty or over ``limit`` pixels, before decoding."""
    limit = max_pixels() if limit is None else limit
    if width <= 0 or height <= 0:
        raise ImageReadError(path, f"the header gives an empty image size ({width} x {height} pixels)")
    if width * height > limit:
        raise ImageReadError(
            path, f"the header claims {width} x {height} pixels ({width * height / 1e6:,.0f} Mpx), over the "
                  f"limit of {limit / 1e6:g} Mpx: a decompression bomb or an unusually large image "
                  f"(set {MAX_MEGAPIXELS_ENV} to allow it)")


def png_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, which the format requires first; no pixel is decoded."""
    head = _read_head(path, 24)
    if not head.startswith(PNG_MAGIC):
        raise ImageReadError(path, "not a PNG file (no PNG signature)")
    if len(head) < 24 or head[12:16] != b"IHDR":
        raise ImageReadError(path, "corrupt PNG: the header chunk (IHDR) is missing or truncated")
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def read_image(path: str | Path, limit: int | None = None) -> LoadedImage:
    """Load one grayscale mammogram; raises ImageReadError with a specific reason on any failure.

    ``limit``: the largest pixel count read (default ``max_pixels()``).
    """
    kind = sniff_format(path)
    limit = max_pixels() if limit is None else limit
    readers = {"dicom": _read_dicom, "png": _read_png, "tiff": _read_tiff}
    if kind not in readers:
        raise ImageReadError(path, "JPEG files are not supported (lossy 8-bit); import the DICOM, PNG or TIFF original")
    try:
        image = readers[kind](Path(path), limit)
    except ImageReadError:
        raise
    except MemoryError:
        raise ImageReadError(path, "not enough memory to decode the image") from None
    except Exception as exc:  # a decoder's error on a broken file: the file is bad, say so
        log.debug("unexpected error reading %s", path, exc_info=True)
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ImageReadError(path, f"corrupt {kind.upper()} file ({type(exc).__name__}: {first})") from exc
    _require_two_by_two(image.pixels, path)
    return image


def _require_two_by_two(arr: np.ndarray, path: str | Path) -> None:
    """A row or a column of pixels has no breast to outline, whatever the format says."""
    if arr.ndim == 2 and (arr.shape[0] < 2 or arr.shape[1] < 2):
        raise ImageReadError(path, f"the image is only {arr.shape[1]} x {arr.shape[0]} pixels")


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


# ---------------------------------------------------------------- DICOM

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


def _read_dicom(path: Path, limit: int) -> LoadedImage:
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
    rows, columns = _header_int(ds, "Rows", path), _header_int(ds, "Columns", path)
    bits_allocated = _header_int(ds, "BitsAllocated", path)
    frames = _header_int(ds, "NumberOfFrames", path, 1) or 1
    if frames > 1:
        raise ImageReadError(path, f"multi-frame DICOM ({frames} frames, e.g. tomosynthesis) is not supported; "
                                   "import a single-frame 2-D mammogram")
    spp = _header_int(ds, "SamplesPerPixel", path, 1) or 1
    signed = _header_int(ds, "PixelRepresentation", path, 0) == 1
    header_bits = _header_int(ds, "BitsStored", path, bits_allocated)
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
    _require_finite(pixels, path, "pixel data")

    modality = hdr.bounded_text(ds, "Modality", hdr.MODALITY_MAX, warnings)
    modality = modality.upper() if modality else None
    if modality != "MG":
        warnings.append(f"modality is {modality or 'missing'}, not MG; imported as a mammogram anyway")
    bits_stored = _bits_holding(pixels, header_bits, signed, warnings)
    center, width = _window(ds, warnings)
    slope, intercept = _rescale(ds, path, warnings)
    table = _lut_table(ds, "ModalityLUTSequence", signed, warnings) if "ModalityLUTSequence" in ds else None
    mono1 = photometric == "MONOCHROME1"
    if table is not None:
        if "RescaleSlope" in ds or "RescaleIntercept" in ds:
            warnings.append("RescaleSlope / RescaleIntercept are ignored: the Modality LUT Sequence replaces them")
        first, bits_stored, values = table
        pixels = _apply_table(pixels, first, values, bits_stored)
        warnings.append(f"Modality LUT Sequence applied ({len(values)} entries from {first:g}, {bits_stored} bits)")
        if mono1:
            pixels = ((1 << bits_stored) - 1 - pixels.astype(np.int64)).astype(pixels.dtype)
    elif mono1:
        lo, hi = _stored_range(bits_stored, signed)
        pixels = (lo + hi - pixels.astype(np.int64)).astype(pixels.dtype)
    mirror = _mirror_point(bits_stored, signed, table is not None, slope, intercept) if mono1 else None
    if mono1:
        if center is not None:  # the window is on the modality's values: mirrored there
            center = mirror - center
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
            _require_finite(pixels, path, "rescaled pixel data")
        warnings.append(f"modality rescale applied (slope {slope:g}, intercept {intercept:g})")
    voi_function, voi_lut = _voi(ds, mirror, signed, warnings)
    if voi_lut is not None and center is not None and width:
        warnings.append(f"the VOI LUT Sequence is the DICOM window; WindowCenter / WindowWidth ({center:g} / "
                        f"{width:g}) are not offered")

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
    )
    return LoadedImage(np.ascontiguousarray(pixels), meta)


def _header_int(ds, key: str, path: Path, default: int | None = None) -> int:
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


def _window(ds, warnings: list[str]) -> tuple[float | None, float | None]:
    """WindowCenter / WindowWidth (the first, when several are given), or None where unusable."""
    center = hdr.first_float(getattr(ds, "WindowCenter", None))
    width = hdr.first_float(getattr(ds, "WindowWidth", None))
    if not all(v is None or np.isfinite(v) for v in (center, width)):
        # the DICOM window is the default display: an infinite width shows a flat grey image
        warnings.append(f"the DICOM window is not finite (WindowCenter {center}, WindowWidth {width}); ignored")
        return None, None
    width = _usable_width(width, warnings)
    count = max(len(v) if hasattr(v, "__len__") and not isinstance(v, (str, bytes)) else 1
                for v in (getattr(ds, "WindowCenter", None), getattr(ds, "WindowWidth", None)))
    if center is not None and width and count > 1:
        warnings.append(f"the header gives {count} windows; the first ({center:g} / {width:g}) is the DICOM "
                        "window, the others are not offered")
    return center, width


def _rescale(ds, path: Path, warnings: list[str]) -> tuple[float, float]:
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


def _stored_range(bits: int, signed: bool) -> tuple[int, int]:
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def _mirror_point(bits_stored: int, signed: bool, table: bool, slope: float, intercept: float) -> float:
    """M such that MONOCHROME1's inversion maps a modality value v to M - v: the stored range's
    ends summed and rescaled, or the Modality LUT's output range (0 .. 2**bits - 1)."""
    if table:
        return float((1 << bits_stored) - 1)
    lo, hi = _stored_range(bits_stored, signed)
    return slope * (lo + hi) + 2 * intercept


_LUT_NAMES = {"ModalityLUTSequence": "Modality LUT Sequence", "VOILUTSequence": "VOI LUT Sequence"}


def _lut_table(ds, keyword: str, signed: bool, warnings: list[str]) -> tuple[float, int, np.ndarray] | None:
    """(first input mapped, bits per entry, uint16 table) of the sequence's first item (PS3.3
    C.11.1.1.1 / C.11.2.1.1), or None with a warning saying what is wrong: a table that does not
    match its descriptor would map the image's values to nonsense."""
    name = _LUT_NAMES[keyword]
    items = list(getattr(ds, keyword, None) or [])
    if not items:
        warnings.append(f"the {name} is empty; not applied")
        return None
    item = items[0]
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


def _apply_table(pixels: np.ndarray, first: float, table: np.ndarray, bits: int) -> np.ndarray:
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


def _voi(ds, mirror: float | None, signed: bool, warnings: list[str]) -> tuple[str, VoiLut | None]:
    """VOILUTFunction and the first VOI LUT Sequence table; ``mirror``: MONOCHROME1's inversion
    point, about which the table is mirrored and inverted like the pixels."""
    function = (hdr.text(ds, "VOILUTFunction") or LINEAR).upper()
    if function not in VOI_FUNCTIONS:
        warnings.append(f"VOILUTFunction is '{function[:40]}', not LINEAR, LINEAR_EXACT or SIGMOID; the window "
                        "is applied as LINEAR")
        function = LINEAR
    if "VOILUTSequence" not in ds:
        return function, None
    table = _lut_table(ds, "VOILUTSequence", signed, warnings)
    if table is None:
        return function, None
    first, bits, values = table
    if mirror is not None:  # MONOCHROME1: input M - v, and the table's low values are the bright ones
        first, values = mirror - (first + len(values) - 1), ((1 << bits) - 1 - values[::-1]).astype(np.uint16)
    items = list(ds.VOILUTSequence)
    explanation = hdr.text(items[0], "LUTExplanation")
    if len(items) > 1:
        warnings.append(f"the VOI LUT Sequence holds {len(items)} tables; the first"
                        f"{f' ({explanation[:40]})' if explanation else ''} is the DICOM window, the others are "
                        "not offered")
    return function, VoiLut.from_table(first, bits, values, explanation)


def header_voi(path: str | Path, bits_stored: int | None = None) -> tuple[str, VoiLut | None]:
    """The VOILUTFunction and VOI LUT table of a DICOM file, as ``read_image`` puts them in the
    meta (the project database keeps only the window): re-read when an image is opened from a
    project. ``bits_stored``: the image's as imported. ("LINEAR", None) for a file that is gone,
    is not DICOM, or has neither; never raises."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return LINEAR, None
    return _header_voi(str(path), bits_stored, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=64)
def _header_voi(path: str, bits_stored: int | None, _mtime_ns: int, _size: int) -> tuple[str, VoiLut | None]:
    try:
        if not sniff_preamble(path) and Path(path).suffix.lower() not in (".dcm", ".dicom", ".dic", ""):
            return LINEAR, None
        with _pywarnings.catch_warnings():
            _pywarnings.simplefilter("ignore")
            ds = read_dicom_header(path)
            signed = _header_int(ds, "PixelRepresentation", Path(path), 0) == 1
            mono1 = str(getattr(ds, "PhotometricInterpretation", "") or "").strip().upper() == "MONOCHROME1"
            mirror = None
            if mono1:
                ignored: list[str] = []
                bits = bits_stored or _header_int(ds, "BitsStored", Path(path), 16)
                table = _lut_table(ds, "ModalityLUTSequence", signed, ignored) if "ModalityLUTSequence" in ds else None
                mirror = _mirror_point(table[1] if table else bits, signed, table is not None,
                                       *_rescale(ds, Path(path), ignored))
            return _voi(ds, mirror, signed, [])
    except Exception:  # the display falls back to the plain window; the import said what was wrong
        log.debug("no VOI from %s", path, exc_info=True)
        return LINEAR, None


def _usable_width(width: float | None, warnings: list[str]) -> float | None:
    if width is not None and width <= 0:
        warnings.append(f"WindowWidth is {width:g}, not positive; the window is ignored and the image's range is shown")
        return None
    return width or None


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


# ---------------------------------------------------------------- PNG / TIFF

def _grayscale(arr: np.ndarray, path: Path, what: str) -> tuple[np.ndarray, list[str]]:
    """Accept 2-D arrays, and colour arrays whose channels are all equal (saved as RGB by mistake)."""
    warnings: list[str] = []
    if arr.ndim == 3 and arr.shape[2] in (2, 4):  # gray+alpha or RGBA: drop alpha
        arr = arr[..., :-1]
        warnings.append("alpha channel ignored")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[2] == 3:
        if np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2]):
            arr = arr[..., 0]
            warnings.append("RGB image with equal channels read as grayscale")
        else:
            raise ImageReadError(path, f"colour {what} is not supported; mammograms must be grayscale")
    if arr.ndim != 2:
        raise ImageReadError(path, f"unexpected {what} shape {arr.shape}; expected one grayscale image")
    _require_two_by_two(arr, path)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype.kind == "i" and arr.min() >= 0 and arr.max() <= 65535:
        arr = arr.astype(np.uint16 if arr.max() > 255 or arr.dtype.itemsize > 1 else np.uint8)
    if arr.dtype.kind == "f":
        _require_finite(arr, path, what)
        warnings.append("floating-point samples kept as float32")
        arr = arr.astype(np.float32)
    return np.ascontiguousarray(arr), warnings


def _require_finite(arr: np.ndarray, path: Path, what: str) -> None:
    """Floating-point samples must all be numbers: one NaN makes every feature of the image NaN,
    and a training on the project would stop there."""
    if arr.dtype.kind in "fc":
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        if bad:
            raise ImageReadError(path, f"the {what} holds {bad:,} NaN or infinite samples")


def _plain_meta(path: Path, arr: np.ndarray, warnings: list[str]) -> ImageMeta:
    bits = 8 if arr.dtype == np.uint8 else 16 if arr.dtype.itemsize <= 2 else 32
    return ImageMeta(source_path=str(path), width=int(arr.shape[1]), height=int(arr.shape[0]),
                     bits_stored=bits, warnings=tuple(warnings))


def _read_png(path: Path, limit: int) -> LoadedImage:
    from PIL import Image, UnidentifiedImageError

    check_pixel_count(path, *png_size(path), limit)
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < limit:
        Image.MAX_IMAGE_PIXELS = limit  # our own check above is the bomb guard; PIL's would refuse earlier
    try:
        with Image.open(path) as img:
            check_pixel_count(path, *img.size, limit)
            n_frames = getattr(img, "n_frames", 1)
            if n_frames > 1:
                raise ImageReadError(path, f"animated PNG with {n_frames} frames is not supported")
            if img.mode == "P":
                img = img.convert("RGBA" if "transparency" in img.info else "RGB")
            img.load()
            arr = np.array(img)
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(path, "not a readable PNG (corrupt header)") from None
    except Image.DecompressionBombError as exc:
        raise ImageReadError(path, f"refused as a decompression bomb ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        msg = str(exc)
        if "truncated" in msg.lower() or isinstance(exc, EOFError):
            raise ImageReadError(path, f"the PNG file is truncated ({msg})") from None
        raise ImageReadError(path, f"corrupt PNG ({msg})") from None
    arr, warnings = _grayscale(arr, path, "PNG")
    return LoadedImage(arr, _plain_meta(path, arr, warnings))


def _read_tiff(path: Path, limit: int) -> LoadedImage:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            pages = len(tif.pages)
            if pages > 1 and not tif.series[0].shape[-1:] in ((3,), (4,)):
                raise ImageReadError(path, f"multi-page TIFF ({pages} pages) is not supported; import one image per file")
            page = tif.pages[0]
            depth = max(1, int(getattr(page, "imagedepth", 1) or 1))
            check_pixel_count(path, int(page.imagewidth), int(page.imagelength) * depth, limit)
            arr = page.asarray()
    except ImageReadError:
        raise
    except Exception as exc:  # tifffile raises TiffFileError, ValueError, struct.error... on broken files
        raise ImageReadError(path, f"truncated or corrupt TIFF ({type(exc).__name__}: {exc})") from None
    arr, warnings = _grayscale(arr, path, "TIFF")
    return LoadedImage(arr, _plain_meta(path, arr, warnings))
