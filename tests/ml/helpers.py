"""Tiny hand-built datasets for the ml tests (numpy only)."""

from __future__ import annotations

import numpy as np

from mammo_annotator.ml.dataset import ImageRecord, RegionDataset


def tiny_dataset(counts=(3, 5, 2), dim: int = 4, seed: int = 0, labels: bool = False) -> RegionDataset:
    rng = np.random.default_rng(seed)
    recs = []
    for i, m in enumerate(counts):
        boxes = np.array([[j * 10, 0, j * 10 + 10, 10] for j in range(m)])
        lab = None
        if labels and i == 0:
            lab = np.zeros(m, dtype=np.int8)
            lab[0] = 1
            lab[-1] = -1
        recs.append(ImageRecord(rng.standard_normal((m, dim)).astype(np.float32), boxes, float(i % 2), float(i == 2),
                                lab, patient_id=f"p{i}", laterality="L", view="CC", image_id=f"img{i}"))
    return RegionDataset.from_records(recs, feature_key="test:1")
