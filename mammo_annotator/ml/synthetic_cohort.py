"""Small synthetic cohorts that keep their pixels: what backbone training, end-to-end training and
their checks need together (images, windows, window labels from the lesion outlines, weak labels).

``ml.simulate`` makes region features without images; this makes images without features.
"""

from __future__ import annotations

import numpy as np

from ..core.iom import label_regions
from ..core.regions import boxes_array, region_grid
from ..core.synthetic import synthetic_dataset
from ..core.types import GridSpec, RegionLabel
from .dataset import REGION_BN, REGION_IGNORED, REGION_M, ImageRecord, RegionDataset
from .features.base import FeatureExtractor, normalise_image

# more malignant images than a screening mix, so that a handful of patients has some to learn from
LESION_RICH_MIX = {"N": 0.35, "B": 0.15, "M": 0.4, "MB": 0.1}
_CODE = {RegionLabel.M: REGION_M, RegionLabel.BN: REGION_BN, RegionLabel.IGNORED: REGION_IGNORED}
ORIGINS_KEY = "window-origin:1"


def labelled_cohort(n_patients: int, seed: int, size: tuple[int, int], window: int,
                    mix: dict[str, float] | None = None, views: tuple[str, ...] = ("MLO",),
                    extractor: FeatureExtractor | None = None
                    ) -> tuple[RegionDataset, dict[str, tuple[np.ndarray, int]]]:
    """(dataset, {image_id: (normalised work image, factor 1)}): windows of ``window`` px at
    half-window stride on the breast. The features are ``extractor``'s, or else each window's
    origin (x0, y0): placeholders for a backbone whose own features replace them."""
    recs, work = [], {}
    for case in synthetic_dataset(n_patients, seed=seed, size=size, views=views, mix=mix or LESION_RICH_MIX):
        regions = region_grid(case.breast_mask, GridSpec(size_px=window, stride_px=window // 2))
        boxes = boxes_array(regions)
        labels = np.array([_CODE[r.label] for r in label_regions(regions, list(case.lesions))], np.int8)
        feats = extractor.extract(case.pixels, boxes) if extractor is not None else boxes[:, :2].astype(np.float32)
        recs.append(ImageRecord(feats, boxes, float(case.weak_label.y_m), float(case.weak_label.y_b), labels,
                                case.patient_id, case.laterality, case.view, case.image_id, case.lesions))
        work[case.image_id] = (normalise_image(case.pixels), 1)
    return RegionDataset.from_records(recs, extractor.key if extractor is not None else ORIGINS_KEY), work
