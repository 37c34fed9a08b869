"""Small synthetic cohorts for the learned-feature tests (pixels kept for the backbone)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from mammo_annotator.core.iom import label_regions
from mammo_annotator.core.regions import boxes_array, region_grid
from mammo_annotator.core.synthetic import synthetic_dataset
from mammo_annotator.core.types import GridSpec, RegionLabel
from mammo_annotator.ml.dataset import ImageRecord, RegionDataset
from mammo_annotator.ml.features.base import normalise_image

CODE = {RegionLabel.M: 1, RegionLabel.BN: 0, RegionLabel.IGNORED: -1}
MIX = {"N": 0.35, "B": 0.15, "M": 0.4, "MB": 0.1}
WINDOW = 48


@lru_cache(maxsize=4)
def cohort(n_patients: int, seed: int, size: tuple[int, int] = (256, 224)) -> tuple[RegionDataset, dict]:
    """(dataset with 2-d dummy features, {image_id: (work image, factor 1)}), MLO views only."""
    recs, work = [], {}
    for case in synthetic_dataset(n_patients, seed=seed, size=size, views=("MLO",), mix=MIX):
        regions = region_grid(case.breast_mask, GridSpec(size_px=WINDOW, stride_px=WINDOW // 2))
        boxes = boxes_array(regions)
        labels = np.array([CODE[r.label] for r in label_regions(regions, list(case.lesions))], np.int8)
        feats = np.stack([boxes[:, 0], boxes[:, 1]], 1).astype(np.float32)
        recs.append(ImageRecord(feats, boxes, float(case.weak_label.y_m), float(case.weak_label.y_b), labels,
                                case.patient_id, case.laterality, case.view, case.image_id, case.lesions))
        work[case.image_id] = (normalise_image(case.pixels), 1)
    return RegionDataset.from_records(recs, "dummy:1"), work
