"""Region features, computed once per image, grid and extractor, then read from the database."""

from __future__ import annotations

from ..core.progress import CancelToken, ProgressFn, check_cancel, no_progress
from ..ml.features.base import FeatureExtractor
from ..ml.features.registry import DEFAULT_EXTRACTOR, build_extractor
from ..store import images as image_store
from ..store import regions as region_store
from .pixels import load_pixels
from .project import Project


def project_extractor(project: Project) -> FeatureExtractor:
    """The project's extractor (setting ``extractor``: {"name": ..., "options": {...}})."""
    spec = project.setting("extractor", {"name": DEFAULT_EXTRACTOR, "options": {}})
    return build_extractor(spec["name"], **spec.get("options", {}))


def ensure_features(project: Project, extractor: FeatureExtractor, progress: ProgressFn = no_progress,
                    cancel: CancelToken | None = None, grid_key: str | None = None) -> tuple[int, list[tuple[int, str]]]:
    """Compute and cache the features every image still lacks; returns (computed, failures).

    Each image is committed on its own, so a stop or a failing image keeps all earlier work.
    """
    with project.session() as s:
        todo = region_store.grids_missing_features(s, extractor.key, grid_key)
    failures: list[tuple[int, str]] = []
    done = 0
    for k, (image_id, grid_id) in enumerate(todo):
        progress(k, len(todo), f"features {extractor.key}: image {image_id}")
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
        feats = extractor.extract(pixels, rs.boxes, image.mean_spacing_mm)
        with project.session() as s:
            region_store.put_features(s, grid_id, extractor.key, feats)
        done += 1
    progress(len(todo), len(todo), f"features {extractor.key}: {done} computed")
    return done, failures
