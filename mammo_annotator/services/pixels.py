"""Pixels of imported images: read once, then served from an uncompressed cache.

Decoding a JPEG 2000 mammogram takes seconds; the viewer must open an image in well under
150 ms, so the raw pixels are cached as ``.npy`` files (memory-mapped on read), keyed by the
image's content hash, in the user's cache folder.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
from platformdirs import user_cache_dir

from ..core.errors import ImageReadError
from ..core.imageio import read_image
from ..core.records import ImageRecord
from . import cache_limit


def cache_dir() -> Path:
    root = os.environ.get("MAMMO_ANNOTATOR_CACHE") or user_cache_dir("mammo-annotator", appauthor=False)
    path = Path(root) / "pixels"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _cache_path(sha256: str) -> Path:
    return cache_dir() / sha256[:2] / f"{sha256}.npy"


def put_cached(sha256: str, pixels: np.ndarray) -> None:
    path = _cache_path(sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.tmp")  # threads of one process too
    with open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(pixels))
    os.replace(tmp, path)
    cache_limit.note_written(path.parents[2], path.stat().st_size, keep=path)


def needs_pacs_fetch(image: ImageRecord) -> bool:
    """Whether ``load_pixels`` would first retrieve the image from its PACS (seconds, or the PACS's
    timeouts when it does not answer), so that the GUI opens it in a worker instead. Looks at files
    only, never the network: from a PACS, its stored file not on this machine, and neither its
    pixels nor its retrieved copy in this user's cache (a damaged copy is only found on reading)."""
    if image.pacs is None or _cache_path(image.sha256).is_file() or Path(image.source_path).is_file():
        return False
    from .pacs_fetch import cached_path  # local: the DICOMweb client only for a PACS image

    return not cached_path(image).is_file()


def load_pixels(image: ImageRecord) -> np.ndarray:
    """The image's analysis pixels; raises ImageReadError naming the file when it is gone or changed
    (for an image from a PACS: naming the image, when it is neither here nor retrievable as imported)."""
    path = _cache_path(image.sha256)
    if path.is_file():
        try:
            pixels = np.load(path, mmap_mode="r")
            cache_limit.touch(path)  # the last use decides what a full cache removes first
            return pixels
        except (OSError, ValueError):
            path.unlink(missing_ok=True)  # corrupt cache entry: fall back to the source
    from .synthetic_source import is_synthetic, regenerate  # local: avoids an import cycle

    if is_synthetic(image.source_path):
        pixels = regenerate(image.source_path)
        put_cached(image.sha256, pixels)
        return pixels
    source = Path(image.source_path)
    if image.pacs is not None and not source.is_file():  # from a PACS, not here: its verified copy, retrieved once
        from .pacs_fetch import fetch  # local: the DICOMweb client (and the importer) only when needed

        source = fetch(image)
        if path.is_file():  # another thread decoded it while this one waited for the same retrieval
            try:
                return np.load(path, mmap_mode="r")
            except (OSError, ValueError):
                pass
    if not source.is_file():
        raise ImageReadError(source, "the image file has disappeared (moved or deleted since import)")
    loaded = read_image(source)
    if loaded.pixels.shape != (image.height, image.width):
        raise ImageReadError(source, f"the file changed since import ({loaded.pixels.shape} instead of {(image.height, image.width)})")
    put_cached(image.sha256, loaded.pixels)
    return loaded.pixels
