"""Synthetic mammograms -> breast mask -> region grid -> hand-crafted features -> train -> metrics."""

import numpy as np

from mammo_annotator.ml.dataset import RegionDataset
from mammo_annotator.ml.features import build_extractor
from mammo_annotator.ml.metrics import auroc
from mammo_annotator.ml.model import method
from mammo_annotator.ml.scoring import score
from mammo_annotator.ml.synthetic_cohort import labelled_cohort
from mammo_annotator.ml.train import TrainConfig, train

MIX = {"N": 0.4, "B": 0.2, "M": 0.3, "MB": 0.1}


def _dataset(n_patients: int, seed: int, ext) -> RegionDataset:
    return labelled_cohort(n_patients, seed, (384, 320), 48, MIX, ("CC", "MLO"), ext)[0]


def test_end_to_end_on_synthetic_mammograms():
    ext = build_extractor("handcrafted", default_factor=1)
    tr, te = _dataset(24, 1, ext), _dataset(12, 2, ext)
    model = train(tr.without_local_labels(), method("cls_det_rs"), TrainConfig(epochs=60, lr=3e-3, batch_size=32)).model
    sc = score(model, te)
    assert auroc(te.y_m, sc.p_m) > 0.85
    hits = [te.region_labels[te.region_slice(i)][np.argmax(sc.d[te.region_slice(i), 1])] == 1
            for i in np.flatnonzero(te.y_m == 1)]
    assert np.mean(hits) > 0.6
