"""Synthetic mammograms -> breast mask -> region grid -> hand-crafted features -> train -> metrics."""

import numpy as np
import pytest

from mammo_annotator.core import synthetic  # noqa: E402  (an ImportError fails, never skips)

from mammo_annotator.core.iom import label_regions  # noqa: E402
from mammo_annotator.core.regions import boxes_array, region_grid  # noqa: E402
from mammo_annotator.core.types import GridSpec, RegionLabel  # noqa: E402
from mammo_annotator.ml.dataset import ImageRecord, RegionDataset  # noqa: E402
from mammo_annotator.ml.features import build_extractor  # noqa: E402
from mammo_annotator.ml.metrics import auroc  # noqa: E402
from mammo_annotator.ml.model import method  # noqa: E402
from mammo_annotator.ml.scoring import score  # noqa: E402
from mammo_annotator.ml.train import TrainConfig, train  # noqa: E402

CODE = {RegionLabel.M: 1, RegionLabel.BN: 0, RegionLabel.IGNORED: -1}
MIX = {"N": 0.4, "B": 0.2, "M": 0.3, "MB": 0.1}


def _dataset(n_patients: int, seed: int, ext) -> RegionDataset:
    recs = []
    for case in synthetic.synthetic_dataset(n_patients, seed=seed, size=(384, 320), mix=MIX):
        regions = region_grid(case.breast_mask, GridSpec(size_px=48, stride_px=24))
        boxes = boxes_array(regions)
        labels = np.array([CODE[r.label] for r in label_regions(regions, list(case.lesions))], np.int8)
        recs.append(ImageRecord(ext.extract(case.pixels, boxes), boxes, float(case.weak_label.y_m),
                                float(case.weak_label.y_b), labels, case.patient_id, case.laterality, case.view,
                                case.image_id, case.lesions))
    return RegionDataset.from_records(recs, ext.key)


def test_end_to_end_on_synthetic_mammograms():
    ext = build_extractor("handcrafted", default_factor=1)
    tr, te = _dataset(24, 1, ext), _dataset(12, 2, ext)
    model = train(tr.without_local_labels(), method("cls_det_rs"), TrainConfig(epochs=60, lr=3e-3, batch_size=32)).model
    sc = score(model, te)
    assert auroc(te.y_m, sc.p_m) > 0.85
    hits = [te.region_labels[te.region_slice(i)][np.argmax(sc.d[te.region_slice(i), 1])] == 1
            for i in np.flatnonzero(te.y_m == 1)]
    assert np.mean(hits) > 0.6
