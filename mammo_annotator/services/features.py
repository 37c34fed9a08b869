"""Region features, computed once per image, grid and extractor, then read from the database.

Augmentation is applied where it is cheap: to the image before feature extraction. A *view*
extracts the features of the same windows from a transformed image and caches them under
``<extractor key>|<view>``; training adds them as extra samples. Flips and quarter turns
(``flip_lr``, ``flip_ud``, ``rot90``, ``rot270``) move every window onto a window of the
transformed image, so region labels carry over row for row; ``shift`` moves the content by
1/8 of a window under a fixed grid, so its region labels are recomputed from the contours
(``shifted_content``).
"""

from __future__ import annotations

import numpy as np

from ..core.errors import MammoError
from ..core.progress import CancelToken, ProgressFn, check_cancel, no_progress
from ..ml.features.base import FeatureExtractor
from ..ml.features.learned import LearnedExtractor, LearnedWeightsError
from ..ml.features.multiscale import MultiScaleExtractor
from ..ml.features.registry import DEFAULT_EXTRACTOR, build_extractor
from ..store import extractors as extractor_store
from ..store import images as image_store
from ..store import regions as region_store
from .pixels import load_pixels
from .project import Project


def project_extractor(project: Project) -> FeatureExtractor:
    """The project's extractor (setting ``extractor``: {"name": ..., "options": {...}}).

    ``{"name": "learned", "options": {"key": K}}`` is a backbone trained in the project, read
    from the database by its key; other names are built by the registry.
    """
    spec = project.setting("extractor")
    if spec is None:
        spec = default_extractor_spec(project)
        if not project.read_only:  # recorded once, so that later feature caches cannot change it
            project.set_setting("extractor", spec)
    return extractor_from_spec(project, spec)


def set_project_extractor(project: Project, name: str, options: dict | None = None) -> FeatureExtractor:
    """Make ``name`` (registry name, or "learned" with a stored key) the project's extractor, once
    it builds: an unknown name or a wrong option leaves the setting as it was."""
    spec = {"name": name, "options": dict(options or {})}
    ext = extractor_from_spec(project, spec)
    project.set_setting("extractor", spec)
    return ext


def extractor_from_spec(project: Project, spec: dict) -> FeatureExtractor:
    """The extractor a settings entry names (see ``project_extractor``)."""
    options = dict(spec.get("options", {}))
    if spec["name"] == "learned" and "key" in options:
        scales = options.pop("scales", None)
        ext = stored_extractor(project, options.pop("key"))
        return MultiScaleExtractor(ext, scales) if scales and list(scales) != [1] else ext
    if spec["name"] == "torchscript":  # runs code: only a file the user allowed in this session
        from .trusted_code import require_allowed

        options["sha256"] = require_allowed(options.get("path"))
    return build_extractor(spec["name"], **options)


LEGACY_EXTRACTOR = "handcrafted"  # the default of projects made before the pretrained one


def default_extractor_spec(project: Project) -> dict:
    """The extractor of a project whose settings name none: the pretrained default for a new
    project, and hand-crafted for one that already holds hand-crafted features (made when that
    was the default), so that its cached features and model versions stay usable."""
    with project.session() as s:
        legacy = extractor_store.features_cached_with(s, LEGACY_EXTRACTOR)
    return {"name": LEGACY_EXTRACTOR if legacy else DEFAULT_EXTRACTOR, "options": {}}


def stored_extractor(project: Project, key: str) -> LearnedExtractor:
    """A learned extractor from the project database; refuses weights that are not what the key says."""
    with project.session() as s:
        try:
            blob = extractor_store.extractor_weights(s, key)
        except KeyError:
            raise LearnedWeightsError(f"{project.path}: no stored weights for extractor {key}") from None
    ext = LearnedExtractor.from_bytes(blob, f"{project.path}: extractor {key}")
    if ext.key != key:
        raise LearnedWeightsError(f"{project.path}: stored weights have key {ext.key}, expected {key}")
    return ext


VIEWS = ("identity", "flip_lr", "flip_ud", "rot90", "rot270", "shift")
SHIFT_FRACTION = 0.125  # of the window side, right and down


def view_key(extractor_key: str, view: str = "identity") -> str:
    return extractor_key if view == "identity" else f"{extractor_key}|{view}"


def shift_of(boxes: np.ndarray) -> int:
    """Pixels the ``shift`` view moves the content by (1/8 of the median window side, >= 1)."""
    b = np.asarray(boxes).reshape(-1, 4)
    return max(1, int(round(SHIFT_FRACTION * float(np.median(b[:, 2] - b[:, 0]))))) if len(b) else 1


def view_of(pixels: np.ndarray, boxes: np.ndarray, view: str) -> tuple[np.ndarray, np.ndarray]:
    """The image seen through ``view`` and the same windows' boxes in it (same row order)."""
    h, w = pixels.shape
    src = np.asarray(boxes)
    b = src.copy()
    if view == "flip_lr":
        b[:, [0, 2]] = w - src[:, [2, 0]]
        return pixels[:, ::-1], b
    if view == "flip_ud":
        b[:, [1, 3]] = h - src[:, [3, 1]]
        return pixels[::-1, :], b
    if view == "rot90":  # counter-clockwise: (x, y) -> (y, w - x)
        b = np.stack([src[:, 1], w - src[:, 2], src[:, 3], w - src[:, 0]], axis=1)
        return np.rot90(pixels, 1), b
    if view == "rot270":  # clockwise: (x, y) -> (h - y, x)
        b = np.stack([h - src[:, 3], src[:, 0], h - src[:, 1], src[:, 2]], axis=1)
        return np.rot90(pixels, -1), b
    if view == "shift":  # content moved right/down under the same windows; the border filled with background
        d = shift_of(src)
        moved = np.full_like(pixels, pixels.min())
        moved[d:, d:] = pixels[:h - d, :w - d]
        return moved, b
    if view != "identity":
        raise ValueError(f"unknown view {view!r}; known: {VIEWS}")
    return pixels, b


def ensure_features(project: Project, extractor: FeatureExtractor, progress: ProgressFn = no_progress,
                    cancel: CancelToken | None = None, grid_key: str | None = None,
                    view: str = "identity") -> tuple[int, list[tuple[int, str]]]:
    """Compute and cache the features every image still lacks; returns (computed, failures).

    Each image is committed on its own, so a stop or a failing image keeps all earlier work.
    """
    key = view_key(extractor.key, view)
    with project.session() as s:
        todo = region_store.grids_missing_features(s, key, grid_key)
    return _compute(project, extractor, todo, view, progress, cancel)


def _compute(project: Project, extractor: FeatureExtractor, todo: list[tuple[int, int]], view: str,
             progress: ProgressFn, cancel: CancelToken | None) -> tuple[int, list[tuple[int, str]]]:
    """Extract and cache the features of the (image id, grid id) pairs ``todo``, one commit each."""
    key = view_key(extractor.key, view)
    failures: list[tuple[int, str]] = []
    done = 0
    for k, (image_id, grid_id) in enumerate(todo):
        progress(k, len(todo), f"features {key}: image {image_id}")
        check_cancel(cancel)
        with project.session() as s:
            image = image_store.get_image(s, image_id)
            rs = region_store.region_set(s, grid_id)
        if len(rs.boxes) == 0:
            continue
        try:
            pixels = load_pixels(image)
        except Exception as exc:  # a vanished file must not stop the others
            failures.append((image_id, str(exc)))
            continue
        seen, boxes = view_of(np.asarray(pixels), rs.boxes, view)
        feats = extractor.extract(np.ascontiguousarray(seen), boxes, image.mean_spacing_mm)
        with project.session() as s:
            region_store.put_features(s, grid_id, key, feats)
        done += 1
    progress(len(todo), len(todo), f"features {key}: {done} computed")
    return done, failures


class DamagedFeaturesError(MammoError):
    """Cached features that cannot be used (NaN or infinite values, or a shape that does not fit
    the image's regions or the extractor) and could not be computed again."""


def damaged_features(project: Project, extractor: FeatureExtractor, view: str = "identity") -> list[tuple[int, int, str]]:
    """(image id, grid id, what is wrong) of every cached feature matrix of ``extractor`` that a
    dataset cannot hold: a damaged cache file must not stop training on the other images."""
    key = view_key(extractor.key, view)
    dim = extractor.dim
    out = []
    with project.session() as s:
        for im in image_store.list_images(s):
            for grid_id in region_store.grids_of_image(s, im.id):
                try:
                    feats = region_store.get_features(s, grid_id, key)
                except ValueError:  # the stored bytes do not make the matrix their row says
                    out.append((im.id, grid_id, "cached bytes that do not match their shape"))
                    continue
                if feats is None:
                    continue
                n = len(region_store.region_set(s, grid_id).boxes)
                if feats.shape != (n, dim):
                    out.append((im.id, grid_id, f"{feats.shape[0]} x {feats.shape[1]} features for {n} regions "
                                                f"of {dim} dimensions"))
                elif not np.all(np.isfinite(feats)):
                    out.append((im.id, grid_id, "NaN or infinite feature values"))
    return out


def repair_features(project: Project, extractor: FeatureExtractor, progress: ProgressFn = no_progress,
                    cancel: CancelToken | None = None, view: str = "identity") -> int:
    """Compute again every damaged cached feature matrix of ``extractor`` (see ``damaged_features``);
    returns how many were repaired, and names the images that could not be."""
    damaged = damaged_features(project, extractor, view)
    if not damaged:
        return 0
    done, failures = _compute(project, extractor, [(i, g) for i, g, _ in damaged], view, progress, cancel)
    if failures:
        why = {i: w for i, _, w in damaged}
        raise DamagedFeaturesError(
            f"{project.path}: the cached features of {len(failures)} images are damaged and their pixels cannot be "
            "read to compute them again: " + "; ".join(f"image {i} ({why[i]}; {err})" for i, err in failures[:5]))
    return done
