"""What a review of the method code asked for: MB vs N FROC, Max-Region localisation by
p_cls alone, malignant images with unknown y_B, and SS-Baseline-RS at 50 %."""

from __future__ import annotations

import numpy as np
import pytest

from mammo_annotator.core.types import Lesion, LesionClass, Polygon
from mammo_annotator.ml.cv import default_runs
from mammo_annotator.ml.dataset import ImageRecord, RegionDataset
from mammo_annotator.ml.froc import froc
from mammo_annotator.ml.metrics import task_labels
from mammo_annotator.ml.model import method
from mammo_annotator.ml.scoring import Scores, score
from mammo_annotator.ml.train import TrainConfig, train

BOXES = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]], dtype=np.float64)


def _square(x0: float) -> Polygon:
    return Polygon.from_array([[x0, 0], [x0 + 10, 0], [x0 + 10, 10], [x0, 10]])


def _three_images() -> RegionDataset:
    """A: malignant, lesion under region 0 (y_B unknown). B: benign, lesion under region 1. C: normal."""
    f = np.zeros((3, 2), np.float32)
    recs = [ImageRecord(f, BOXES, 1.0, np.nan, lesions=(Lesion(LesionClass.MALIGNANT, _square(0)),), image_id="A"),
            ImageRecord(f, BOXES, 0.0, 1.0, lesions=(Lesion(LesionClass.BENIGN, _square(20)),), image_id="B"),
            ImageRecord(f, BOXES, 0.0, 0.0, image_id="C")]
    return RegionDataset.from_records(recs)


def _scores(p_m, p_b, d_b, d_m) -> Scores:
    n = len(p_m)
    d = np.stack([np.concatenate(d_b), np.concatenate(d_m)], 1).astype(np.float32)
    return Scores(np.array(["A", "B", "C"]), np.array(p_m, float), np.array(p_b, float), np.zeros((len(d), 3), np.float32),
                  np.zeros_like(d), np.zeros_like(d), d, np.arange(0, 3 * n + 1, 3))


def test_abnormal_vs_normal_labels_keep_malignant_images_with_unknown_benign():
    t = task_labels(np.array([1, 0, 0, np.nan, 0]), np.array([np.nan, 1, 0, 1, np.nan]))
    np.testing.assert_array_equal(t["MB_vs_N"][:4], [1, 1, 0, 1])
    assert np.isnan(t["MB_vs_N"][4])  # not malignant, benign unknown: abnormal or not is unknown


def test_mb_froc_counts_lesions_of_either_class():
    ds = _three_images()
    # A's best region is its lesion (d_M), B's best is its lesion (d_B); C has one weaker false mark
    sc = _scores([0.9, 0.2, 0.1], [0.1, 0.8, 0.3],
                 d_b=[[0.0, 0.1, 0.0], [0.1, 0.7, 0.0], [0.3, 0.0, 0.0]],
                 d_m=[[0.9, 0.0, 0.0], [0.0, 0.0, 0.2], [0.0, 0.0, 0.1]])
    mb = froc(ds, sc, "MB")
    assert mb.n_tp_images == 2  # A and B, both with outlines
    assert mb.sensitivity_at(0.0) == 1.0  # both lesions score above every wrong region
    m = froc(ds, sc, "M")
    assert m.n_tp_images == 1  # only A is malignant
    with pytest.raises(ValueError):
        froc(ds, sc, "X")


def test_mb_froc_misses_a_lesion_scored_below_the_false_marks():
    ds = _three_images()
    sc = _scores([0.9, 0.2, 0.1], [0.1, 0.8, 0.3],
                 d_b=[[0.0, 0.1, 0.0], [0.1, 0.05, 0.0], [0.3, 0.0, 0.0]],
                 d_m=[[0.9, 0.0, 0.0], [0.0, 0.0, 0.2], [0.0, 0.0, 0.1]])
    mb = froc(ds, sc, "MB")
    assert mb.sensitivity_at(0.0) == 0.5  # B's lesion (0.05) is below B's and C's wrong marks
    assert mb.sensitivity_at(10.0) == 1.0


def test_max_region_localises_by_region_class_probability_alone():
    rng = np.random.default_rng(0)
    recs = [ImageRecord(rng.normal(size=(6, 4)).astype(np.float32), np.tile(BOXES[:1], (6, 1)), float(i % 2),
                        float(i % 3 == 0), image_id=str(i), patient_id=str(i)) for i in range(12)]
    ds = RegionDataset.from_records(recs)
    out = train(ds, method("max_region"), TrainConfig(epochs=2, batch_size=None, num_threads=1))
    sc = score(out.model, ds, num_threads=1)
    np.testing.assert_allclose(sc.d, sc.p_cls[:, 1:])
    other = score(train(ds, method("cls_det"), TrainConfig(epochs=2, batch_size=None, num_threads=1)).model, ds,
                  num_threads=1)
    np.testing.assert_allclose(other.d, other.p_cls[:, 1:] * other.p_det, rtol=1e-6)


def test_ss_baseline_rs_runs_at_half_and_all_local_labels():
    runs = {r.name: r for r in default_runs()}
    assert runs["ss_baseline_rs_50"].local_fraction == 0.5 and runs["ss_baseline_rs_100"].local_fraction == 1.0
    assert not runs["ss_baseline_rs_50"].head.full_det and runs["ss_baseline_rs_50"].head.semi


def test_malignant_image_with_unknown_benign_is_stratified_as_malignant():
    assert list(_three_images().class_names()) == ["M", "B", "N"]
