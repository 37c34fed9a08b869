"""Synthetic mammograms as an import source: the demo project, tests and benchmarks use them.

A synthetic image needs no file: its source path records the generator's arguments
(``synthetic:{json}``) and ``services.pixels`` regenerates the same pixels from them, so the
example project ships without image files and still opens on any machine.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterator

import numpy as np

from ..core.synthetic import SyntheticCase, synthetic_dataset, synthetic_mammogram
from ..core.types import ImageMeta, LoadedImage
from .importing import ImportItem

SCHEME = "synthetic:"
SPACING_MM = 0.2  # the generator draws breasts of mini-MIAS-like physical size


def case_arguments(case: SyntheticCase) -> dict:
    kinds = list(case.lesion_kinds)
    return {
        "seed": case.seed,
        "size": list(case.pixels.shape),
        "view": case.view,
        "laterality": case.laterality,
        "n_benign": kinds.count("benign_mass"),
        "n_malignant": kinds.count("spiculated_mass"),
        "n_calc_clusters": kinds.count("calc_cluster"),
        "bits": case.bits,
    }


def is_synthetic(source_path: str) -> bool:
    return source_path.startswith(SCHEME)


def regenerate(source_path: str) -> np.ndarray:
    """The pixels of a synthetic source path (deterministic)."""
    args = json.loads(source_path[len(SCHEME):])
    args["size"] = tuple(args["size"])
    return synthetic_mammogram(**args).pixels


def pixel_hash(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()


def synthetic_imports(n_patients: int, seed: int = 0, size: tuple[int, int] = (1024, 832),
                      views: tuple[str, ...] = ("CC", "MLO")) -> Iterator[tuple[ImportItem, LoadedImage, str]]:
    """(item, pixels, content hash) per synthetic case, ready for ``importing.import_loaded``."""
    for case in synthetic_dataset(n_patients, seed=seed, size=size, views=views):
        source = SCHEME + json.dumps(case_arguments(case), separators=(",", ":"))
        h, w = case.pixels.shape
        meta = ImageMeta(
            source_path=source, width=w, height=h, bits_stored=case.bits, pixel_spacing_mm=(SPACING_MM, SPACING_MM),
            laterality=case.laterality, view=case.view, modality="MG", patient_id=case.patient_id,
        )
        item = ImportItem(
            path=Path(f"{case.patient_id}_{case.laterality}_{case.view}"), patient_key=case.patient_id,
            weak=case.weak_label, label_source="synthetic", lesions=tuple(case.lesions), lesions_complete=True,
            annotator="synthetic truth", pathology=", ".join(case.lesion_kinds) or "normal",
        )
        yield item, LoadedImage(case.pixels, meta), pixel_hash(case.pixels)


def import_synthetic(project, n_patients: int, seed: int = 0, size: tuple[int, int] = (1024, 832),
                     views: tuple[str, ...] = ("CC", "MLO"), progress=None):
    """Import a synthetic cohort (both breasts, every view, true contours as annotations)."""
    from .importing import ImportReport, import_loaded

    report = ImportReport()
    total = n_patients * 2 * len(views)
    for k, (item, loaded, sha) in enumerate(synthetic_imports(n_patients, seed, size, views)):
        if progress:
            progress(k, total, f"synthetic {item.path}")
        import_loaded(project, item, loaded, sha, report)
    if report.imported:
        project.events.emit("images_imported", image_ids=list(report.imported))
    return report
