"""The breast mask behind the viewer's automatic window, kept per image between sessions.

The automatic window is a percentile of the breast's pixels, so showing an image segments its
breast. The segmenter needs scipy, a third of a second to import: most of what would be left of
the start-up once the window is built. An image's mask never changes, so the one computed the
first time an image is shown is kept beside the pixel cache (packed bits, a few kB), under a
key naming the image, the subsample's shape, the view and side, and a digest of the
segmenter's source, so a change to the segmentation computes it again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from .pixels import cache_dir

SEGMENTER = "mammo_annotator.core.breast_mask"


@lru_cache(maxsize=1)
def segmenter_digest() -> str:
    """A digest of the segmenter's source, read without importing it (that would load scipy);
    "" when there is no source to read (then nothing is cached)."""
    spec = importlib.util.find_spec(SEGMENTER)
    try:
        return hashlib.sha256(Path(spec.origin).read_bytes()).hexdigest()[:16] if spec and spec.origin else ""
    except OSError:
        return ""


def mask_path(sha256: str, shape: tuple[int, int], view: str | None, laterality: str | None) -> Path | None:
    digest = segmenter_digest()
    if not digest:
        return None
    key = f"{sha256}-{shape[0]}x{shape[1]}-{view or '_'}-{laterality or '_'}-{digest}"
    return cache_dir().parent / "masks" / sha256[:2] / f"{key}.npy"


def breast_mask_cached(sha256: str, pixels: np.ndarray, view: str | None = None,
                       laterality: str | None = None) -> np.ndarray:
    """``core.breast_mask.breast_mask(pixels, view, laterality)`` for the image whose content
    hash is ``sha256``; ``pixels`` must be the same array each time for that hash and shape
    (the viewer's subsample of the image). A cache that cannot be read or written costs only time."""
    shape = (int(pixels.shape[0]), int(pixels.shape[1]))
    path = mask_path(sha256, shape, view, laterality)
    if path is not None and path.is_file():
        try:
            packed = np.load(path)
            if packed.dtype == np.uint8 and packed.size == (shape[0] * shape[1] + 7) // 8:
                return np.unpackbits(packed, count=shape[0] * shape[1]).reshape(shape).astype(bool)
        except (OSError, ValueError):
            pass
        path.unlink(missing_ok=True)  # corrupt or of another size: computed again below
    from ..core.breast_mask import breast_mask

    mask = breast_mask(pixels, view, laterality)
    if path is not None:
        _write(path, np.packbits(mask.astype(bool).ravel()))
    return mask


def _write(path: Path, packed: np.ndarray) -> None:
    """Whole or not at all: a temporary file renamed into place, removed when the write fails."""
    tmp = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            np.save(fh, packed)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
