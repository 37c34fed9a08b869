import numpy as np
import pytest

from mammo_annotator.core.contours import circle_polygon
from mammo_annotator.core.types import Lesion, LesionClass
from mammo_annotator.ml.cv import (RunSpec, cross_validate, default_runs, folds_problem, patient_folds, select_local,
                                   split_aurocs, split_row, train_test)
from mammo_annotator.ml.dataset import ImageRecord, RegionDataset
from mammo_annotator.ml.froc import froc
from mammo_annotator.ml.model import method
from mammo_annotator.ml.report import write_report
from mammo_annotator.ml.scoring import Scores
from mammo_annotator.ml.simulate import SimSpec, simulate_regions
from mammo_annotator.ml.train import TrainConfig


@pytest.fixture(scope="module")
def sim():
    return simulate_regions(SimSpec(n_patients=40, regions=(20, 30), dim=16), seed=0)


def test_folds_are_patient_wise_and_cover_everything(sim):
    folds = patient_folds(sim, 5, seed=0)
    assert len(folds) == 5
    test_all = np.concatenate([te for _, te in folds])
    assert sorted(test_all.tolist()) == list(range(len(sim)))
    for tr, te in folds:
        assert not set(sim.patient_ids[tr]) & set(sim.patient_ids[te])
        assert {"N", "B", "M"} <= set(sim.class_names()[te])  # stratified


def test_folds_that_cannot_be_made_are_refused_with_the_reason(sim):
    assert folds_problem(sim, 5) is None
    few = sim.subset(np.flatnonzero(np.isin(sim.patient_ids, sorted(set(sim.patient_ids))[:3])))
    assert "needs 5 patients with regions; there are 3" in folds_problem(few, 5)
    assert "at least 2 folds" in folds_problem(sim, 1)
    # six patients, one image each, no class with more than two images: no four stratified folds
    classes, picked, seen = sim.class_names(), [], set()
    for want in ("N", "N", "B", "B", "M", "MB"):
        i = next(i for i in range(len(sim)) if classes[i] == want and sim.patient_ids[i] not in seen)
        picked.append(i)
        seen.add(sim.patient_ids[i])
    six = sim.subset(np.array(picked))
    assert folds_problem(six, 2) is None
    with pytest.raises(ValueError, match="need 4 images of the most common class .*; the largest has 2"):
        patient_folds(six, 4)


def test_select_local_is_deterministic_and_malignant_only(sim):
    a, b = select_local(sim, 0.5, 3), select_local(sim, 0.5, 3)
    assert np.array_equal(a.has_local, b.has_local)
    n_m = int(np.sum(sim.y_m == 1))
    assert a.has_local.sum() == round(0.5 * n_m) and np.all(sim.y_m[a.has_local] == 1)
    assert select_local(sim, None, 0).has_local.sum() == 0


def test_split_aurocs_score_each_split_on_its_own_patient_wise_folds(sim):
    seen: dict[int, list] = {}

    def truth(split, fold, train, test):
        assert not set(train.patient_ids) & set(test.patient_ids)
        seen.setdefault(split, []).append(tuple(sorted(test.image_ids)))
        return np.nan_to_num(test.y_m), np.nan_to_num(test.y_b)

    v = split_aurocs(sim, [0, 1], truth)
    assert v.shape == (2, 2) and np.allclose(v, 1.0)
    assert sorted(len(f) for f in seen.values()) == [5, 5] and set(seen[0]) != set(seen[1])
    flipped = split_aurocs(sim, [0], lambda s, f, tr, te: (-np.nan_to_num(te.y_m), -np.nan_to_num(te.y_b)))
    assert flipped[0, 0] == 0.0  # M vs BN reads p_M alone; MB vs N the max of both
    row = split_row("a | b", np.array([[0.5, 0.6], [0.7, 0.8]]))
    assert row == "| a \\| b | 0.600 | 0.500 / 0.700 | 0.700 | 0.600 / 0.800 |"


def test_froc_by_hand():
    boxes = np.array([[0, 0, 10, 10], [10, 0, 20, 10], [20, 0, 30, 10]])
    lesion = (Lesion(LesionClass.MALIGNANT, circle_polygon(15, 5, 3)),)
    recs = [ImageRecord(np.zeros((3, 1), np.float32), boxes, 1.0, 0.0, None, "a", lesions=lesion),
            ImageRecord(np.zeros((3, 1), np.float32), boxes, 0.0, 0.0, None, "b")]
    ds = RegionDataset.from_records(recs)
    d = np.array([[0, 0.5], [0, 0.3], [0, 0.1], [0, 0.2], [0, 0.05], [0, 0.01]], np.float32)
    sc = Scores(ds.image_ids, np.array([0.9, 0.1]), np.array([0.1, 0.1]), np.zeros((6, 3), np.float32),
                np.zeros((6, 2), np.float32), np.zeros((6, 2), np.float32), d, ds.offsets)
    curve = froc(ds, sc, "M")
    # only image a is classified M (threshold 0.9); its region 1 hits the lesion with d = 0.3;
    # region 0 (d = 0.5) is a false positive -> sensitivity 1 reached at 1 FP / 2 images
    assert curve.n_tp_images == 1 and curve.image_threshold == pytest.approx(0.9)
    assert curve.sensitivity_at(0.49) == 0.0 and curve.sensitivity_at(0.5) == 1.0
    assert curve.fppi.max() == pytest.approx(1.0)


def test_cross_validation_and_report(sim, tmp_path):
    tc = TrainConfig(epochs=3, batch_size=32)
    runs = [RunSpec("cls_det_rs", method("cls_det_rs"), None, tc),
            RunSpec("ss_cls_det_rs_50", method("ss_cls_det_rs"), 0.5, tc)]
    res = cross_validate(sim, runs, k=3, seed=0)
    assert set(res.methods) == {"cls_det_rs", "ss_cls_det_rs_50"}
    r = res.methods["cls_det_rs"]
    assert len(r.fold_metrics) == 3 and "M_vs_BN/auroc" in r.fold_metrics[0]
    assert "froc_M/sens@1fppi" in r.fold_metrics[0] and "breast/MB_vs_N/auroc" in r.fold_metrics[0]
    assert len(res.pooled_scores("cls_det_rs")) == len(sim)
    paths = write_report(res, tmp_path, "test", n_boot=50)
    text = paths["markdown"].read_text()
    assert "| cls_det_rs |" in text and "±" in text
    from PIL import Image

    for k in ("roc", "froc", "plane"):
        img = np.asarray(Image.open(paths[k]).convert("RGB")).astype(int)
        assert img.shape[0] > 200 and img.shape[1] > 200
        # curves are drawn in colour; empty axes are only black, white and grey
        assert (np.ptp(img, axis=2) > 60).mean() > 0.002, k
    assert [r.name for r in default_runs()] == ["db_baseline", "max_region", "cls_det", "cls_det_rs", "ss_baseline_rs_50",
                                                "ss_baseline_rs_100", "ss_cls_det_rs_25", "ss_cls_det_rs_50",
                                                "ss_cls_det_rs_75", "ss_cls_det_rs_100"]


def test_train_test_rejects_shared_patients(sim):
    with pytest.raises(ValueError, match="both"):
        train_test(sim.subset(range(10)), sim.subset(range(8, 20)), [])


def test_augmented_views_follow_the_rows_contour_selection(sim, monkeypatch):
    import mammo_annotator.ml.cv as cv_mod
    from mammo_annotator.ml.cv import cross_validate, default_runs, select_local

    seen = []
    real_train = cv_mod.train

    def spy(data, head, tcfg, cancel=None, extra_views=None):
        seen.append((data, extra_views))
        return real_train(data, head, tcfg, cancel=cancel, extra_views=extra_views)

    monkeypatch.setattr(cv_mod, "train", spy)
    view = sim  # a stand-in view with the same rows (its own labels on every image)
    runs = [r for r in default_runs(TrainConfig(epochs=1)) if r.name in ("cls_det_rs", "ss_cls_det_rs_50")]
    cross_validate(sim, runs, k=2, views=[view])
    assert len(seen) == 4
    for data, views in seen:
        (v,) = views
        assert np.array_equal(v.has_local, data.has_local)  # never more contours than the row may use
        assert np.array_equal(v.region_labels, data.region_labels)
    assert not seen[0][1][0].has_local.any() and seen[-1][1][0].has_local.any()
    with pytest.raises(ValueError, match="row for row"):
        cross_validate(sim, runs, k=2, views=[select_local(sim, 0.5, 0).subset(np.arange(len(sim) - 1))])
