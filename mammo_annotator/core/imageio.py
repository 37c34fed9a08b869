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

The DICOM reader is ``dicom_image`` (its lookup tables ``dicom_lut``); the checks every reader
makes are ``file_checks``. This module chooses the reader and holds the PNG and TIFF ones.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import struct
from pathlib import Path

import numpy as np

from .dicom_image import header_voi, read_dicom, read_dicom_header
from .errors import ImageReadError
from .file_checks import (MAX_MEGAPIXELS_ENV, check_pixel_count, max_pixels, missing_reason, read_head,
                          require_finite, require_two_by_two, resolved, sniff_preamble)
from .types import ImageMeta, LoadedImage

__all__ = ["MAX_MEGAPIXELS_ENV", "check_pixel_count", "content_sha256", "header_voi", "max_pixels", "missing_reason",
           "png_size", "read_dicom_header", "read_image", "resolved", "sniff_format", "sniff_preamble"]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
JPEG_MAGIC = b"\xff\xd8\xff"

log = logging.getLogger(__name__)


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
    head = read_head(p, 132)
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

def png_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, which the format requires first; no pixel is decoded."""
    head = read_head(path, 24)
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
    readers = {"dicom": read_dicom, "png": _read_png, "tiff": _read_tiff}
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
    require_two_by_two(image.pixels, path)
    return image

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
    require_two_by_two(arr, path)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype.kind == "i" and arr.min() >= 0 and arr.max() <= 65535:
        arr = arr.astype(np.uint16 if arr.max() > 255 or arr.dtype.itemsize > 1 else np.uint8)
    if arr.dtype.kind == "f":
        require_finite(arr, path, what)
        warnings.append("floating-point samples kept as float32")
        arr = arr.astype(np.float32)
    return np.ascontiguousarray(arr), warnings

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
