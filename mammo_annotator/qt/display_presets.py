"""The reading presets an image opens with: window/level computed over the breast from a
subsample, and the VOI (function, LUT table) its DICOM header gives besides the stored window.

Apart from the canvas widget: these read pixels and headers, the canvas only shows what they chose.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.imageio import header_voi
from ..core.windowing import Window, default_preset, reading_presets


def display_presets(pixels: np.ndarray, meta=None, target: int = 300_000) -> dict[str, Window]:
    """The stable reading presets from a subsample (percentiles need few values; keeps opening
    fast), over the breast as the breast mask finds it (background, labels and markers left out;
    the mask of a stored image is cached, so showing it again needs no segmentation, nor scipy)."""
    step = max(1, int(np.sqrt(pixels.size / target)))
    sub = np.asarray(pixels[::step, ::step])
    meta = with_header_voi(meta)
    view, laterality, sha = getattr(meta, "view", None), getattr(meta, "laterality", None), getattr(meta, "sha256", None)
    try:
        if sha:
            from ..services.mask_cache import breast_mask_cached

            mask = breast_mask_cached(sha, sub, view, laterality)
        else:
            from ..core.breast_mask import breast_mask

            mask = breast_mask(sub, view, laterality)
    except Exception:  # an image the segmenter cannot read: everything above the background
        mask = sub > sub.min()
    return reading_presets(sub, meta, mask if mask.any() else None)


def preset_for(meta) -> str:
    """Which reading preset an image opens with (see ``core.windowing.default_preset``)."""
    return default_preset(with_header_voi(meta), getattr(meta, "bits_stored", None))


class _VoiMeta:
    """An image record seen with the VOI its DICOM header gives besides the window (its function,
    table and other displays)."""

    def __init__(self, meta, voi_function: str, voi_lut, voi_others: tuple = ()) -> None:
        self._meta, self.voi_function, self.voi_lut, self.voi_others = meta, voi_function, voi_lut, voi_others

    def __getattr__(self, name: str):
        if name == "_meta":  # not yet set (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self._meta, name)


def with_header_voi(meta):
    """``meta`` with its VOILUTFunction and VOI LUT table. An image opened from a project has a
    database record, which keeps only the window: they are re-read from its DICOM header (its
    file, or the copy retrieved from its PACS; cached while the file is unchanged)."""
    if meta is None or hasattr(meta, "voi_function") or not getattr(meta, "source_path", None):
        return meta
    path = Path(meta.source_path)
    if not path.is_file() and getattr(meta, "pacs", None) is not None and getattr(meta, "sha256", None):
        from ..services.pacs_fetch import cached_path

        path = cached_path(meta)
    return _VoiMeta(meta, *header_voi(path, getattr(meta, "bits_stored", None)))
