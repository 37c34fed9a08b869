"""Read a mammogram (DICOM, PNG, TIFF) into a :class:`LoadedImage`, or say plainly why not.

The format is chosen from the file's bytes, not its name: a DICOM file keeps its ``DICM``
preamble whatever it is called. Pixel values are the stored values, with two deliberate
changes, both recorded in ``meta.warnings``:

* MONOCHROME1 images are inverted (``lo + hi - v`` over the range of BitsStored, widened when the
  decoded values exceed it) so dense tissue is bright everywhere in the project; the DICOM window
  centre is mirrored the same way, on the rescaled values it refers to.
* The Modality LUT (RescaleSlope / RescaleIntercept) is applied only when it is not the identity
  (it is the identity in practically every MG image). DICOM defines the VOI window on the
  rescaled values, so applying it keeps WindowCenter/WindowWidth meaningful. Integral results
  stay integer (int32, or uint16 when the range allows it); others become float32.

Hostile or broken files are refused, never decoded blindly: the pixel count the header claims
is checked against ``max_pixels()`` (default 200 Mpx, ``MAMMO_ANNOTATOR_MAX_MEGAPIXELS``)
before any pixel is decoded, so a PNG claiming 2^62 pixels costs a few bytes of reading; any
error a decoder raises on a corrupt file becomes an ImageReadError naming the file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import warnings as _pywarnings
from pathlib import Path

import numpy as np

from . import dicom_header as hdr
from .errors import ImageReadError
from .types import ImageMeta, LoadedImage

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
    except FileNotFoundError:
        raise ImageReadError(path, "file not found") from None
    except OSError as exc:
        raise ImageReadError(path, f"cannot read the file: {exc.strerror or exc}") from None
    return h.hexdigest()


def sniff_format(path: str | Path) -> str:
    """'dicom', 'png', 'tiff' or 'jpeg' from the first bytes ('dicom' also for a .dcm without preamble)."""
    p = Path(path)
    if not p.exists():
        raise ImageReadError(path, "file not found")
    if p.is_dir():
        raise ImageReadError(path, "is a folder, not an image file")
    if not p.is_file():
        raise ImageReadError(path, "not a regular file (a pipe, socket or device)")
    try:
        with open(p, "rb") as f:
            head = f.read(132)
    except OSError as exc:
        raise ImageReadError(path, f"cannot read the file: {exc.strerror or exc}") from None
    if not head:
        raise ImageReadError(path, "the file is empty")
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
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except IsADirectoryError:
        raise ImageReadError(path, "is a folder, not an image file") from None
    except OSError as exc:
        raise ImageReadError(path, f"cannot read the file: {exc.strerror or exc}") from None
    if not head:
        raise ImageReadError(path, "the file is empty")
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
        raise ImageReadError(path, "file not found")
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
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if frames > 1:
        raise ImageReadError(path, f"multi-frame DICOM ({frames} frames, e.g. tomosynthesis) is not supported; "
                                   "import a single-frame 2-D mammogram")
    spp = int(getattr(ds, "SamplesPerPixel", 1) or 1)
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
    check_pixel_count(path, int(ds.Columns), int(ds.Rows), limit)
    # a short Pixel Data element: pydicom reads what is there, the decoder then finds it short
    expected = int(ds.Rows) * int(ds.Columns) * int(ds.BitsAllocated) // 8
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
    if "ModalityLUTSequence" in ds:  # rare in MG; its table is not applied, so the values are the stored ones
        warnings.append("a Modality LUT Sequence is not applied: the stored pixel values are used (an inverting "
                        "table would show the image inverted; check it, and use Invert grey scale if so)")
    if "VOILUTSequence" in ds:
        warnings.append("a VOI LUT Sequence is not applied: the display uses WindowCenter / WindowWidth when "
                        "given, else the breast's own range")
    signed = int(getattr(ds, "PixelRepresentation", 0) or 0) == 1
    bits_stored = _bits_holding(pixels, int(getattr(ds, "BitsStored", ds.BitsAllocated)), signed, warnings)
    center = hdr.first_float(getattr(ds, "WindowCenter", None))
    width = hdr.first_float(getattr(ds, "WindowWidth", None))
    if not all(v is None or np.isfinite(v) for v in (center, width)):
        # the DICOM window is the default display: an infinite width shows a flat grey image
        warnings.append(f"the DICOM window is not finite (WindowCenter {center}, WindowWidth {width}); ignored")
        center = width = None

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
        slope, intercept = 1.0, 0.0

    if photometric == "MONOCHROME1":
        lo, hi = (-(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1) if signed else (0, (1 << bits_stored) - 1)
        pixels = (lo + hi - pixels.astype(np.int64)).astype(pixels.dtype)
        if center is not None:  # the window is on the rescaled values: mirrored there
            center = slope * (lo + hi) + 2 * intercept - center
        warnings.append("MONOCHROME1 inverted so that dense tissue is bright")
        photometric = "MONOCHROME2"

    if slope != 1.0 or intercept != 0.0:
        scaled = pixels.astype(np.float64) * slope + intercept
        lo_v, hi_v = scaled.min(), scaled.max()
        if float(slope).is_integer() and float(intercept).is_integer() and -2 ** 31 <= lo_v and hi_v < 2 ** 31:
            pixels = scaled.astype(np.uint16 if lo_v >= 0 and hi_v <= 65535 else np.int32)
        else:
            with np.errstate(over="ignore"):  # a huge slope overflows float32: refused just below
                pixels = scaled.astype(np.float32)
            _require_finite(pixels, path, "rescaled pixel data")
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
        window_width=_usable_width(width, warnings),
        patient_id=hdr.patient_id(ds, warnings),
        study_uid=hdr.bounded_text(ds, "StudyInstanceUID", hdr.IDENTIFIER_MAX, warnings),
        series_uid=hdr.bounded_text(ds, "SeriesInstanceUID", hdr.IDENTIFIER_MAX, warnings),
        sop_instance_uid=hdr.bounded_text(ds, "SOPInstanceUID", hdr.IDENTIFIER_MAX, warnings),
        study_date=hdr.study_date(ds, warnings),
        accession_number=hdr.accession(ds, warnings),
        warnings=tuple(warnings),
    )
    return LoadedImage(np.ascontiguousarray(pixels), meta)


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
