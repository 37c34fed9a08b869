"""Checks every image reader makes before and after decoding: the file is there and readable,
its claimed size is not a decompression bomb, and its samples are numbers. Shared by the DICOM
and the PNG / TIFF readers, so each refusal is written once."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np

from .errors import ImageReadError

DEFAULT_MAX_MEGAPIXELS = 200.0  # the largest FFDM detectors give ~ 40 Mpx; film scans at 50 um ~ 120 Mpx
MAX_MEGAPIXELS_ENV = "MAMMO_ANNOTATOR_MAX_MEGAPIXELS"


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

def read_head(path: str | Path, n: int) -> bytes:
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

def require_finite(arr: np.ndarray, path: Path, what: str) -> None:
    """Floating-point samples must all be numbers: one NaN makes every feature of the image NaN,
    and a training on the project would stop there."""
    if arr.dtype.kind in "fc":
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        if bad:
            raise ImageReadError(path, f"the {what} holds {bad:,} NaN or infinite samples")

def require_two_by_two(arr: np.ndarray, path: str | Path) -> None:
    """A row or a column of pixels has no breast to outline, whatever the format says."""
    if arr.ndim == 2 and (arr.shape[0] < 2 or arr.shape[1] < 2):
        raise ImageReadError(path, f"the image is only {arr.shape[1]} x {arr.shape[0]} pixels")
