"""Training on degenerate but possible datasets: the model it gives predicts numbers, never NaN."""

from __future__ import annotations

import numpy as np
import torch

from mammo_annotator.ml.dataset import ImageRecord, RegionDataset
from mammo_annotator.ml.model import method
from mammo_annotator.ml.scoring import score
from mammo_annotator.ml.train import TrainConfig, feature_normaliser, train


def _record(m: int, y_m: float, patient: str, seed: int) -> ImageRecord:
    feats = np.random.default_rng(seed).standard_normal((m, 4)).astype(np.float32)
    return ImageRecord(feats, np.array([[0, 0, 10, 10]] * m), y_m, 0.0, patient_id=patient, image_id=patient)


def test_a_single_region_trains_a_finite_model():
    # one image whose breast mask leaves one window: torch's std of one row is NaN, which made
    # every prediction NaN and the training "diverged" at step 0
    ds = RegionDataset.from_records([_record(1, 1.0, "p0", 0)], feature_key="k")
    out = train(ds, method("cls_det_rs"), TrainConfig(epochs=2, num_threads=1))
    assert out.status == "done"
    sc = score(out.model, ds)
    assert np.all(np.isfinite(sc.p_m)) and np.all(np.isfinite(sc.d))
    _, std = feature_normaliser(torch.from_numpy(ds.features))
    assert torch.equal(std, torch.ones(4))


def test_one_region_image_beside_a_two_thousand_region_image():
    ds = RegionDataset.from_records([_record(1, 1.0, "p0", 0), _record(2000, 0.0, "p1", 1)], feature_key="k")
    out = train(ds, method("ss_cls_det_rs"), TrainConfig(epochs=2, num_threads=1))
    assert out.status == "done" and np.all(np.isfinite(score(out.model, ds).p_m))
