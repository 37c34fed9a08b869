"""Small synthetic cohorts for the learned-feature tests (pixels kept for the backbone)."""

from __future__ import annotations

from functools import lru_cache

from mammo_annotator.ml.dataset import RegionDataset
from mammo_annotator.ml.synthetic_cohort import labelled_cohort

WINDOW = 48


@lru_cache(maxsize=4)
def cohort(n_patients: int, seed: int, size: tuple[int, int] = (256, 224)) -> tuple[RegionDataset, dict]:
    """(dataset with 2-d placeholder features, {image_id: (work image, factor 1)}), MLO views only."""
    return labelled_cohort(n_patients, seed, size, WINDOW)
