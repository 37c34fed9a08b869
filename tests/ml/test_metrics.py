import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mammo_annotator.ml.metrics import (auroc, binary_metrics, bootstrap_ci, breast_level, image_and_breast_metrics,
                                        operating_point, pauc_high_sensitivity, spec_at_sens)


def test_auroc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.random(300) + 0.3 * y, 1)  # many ties
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s))


def test_pauc_hand_cases():
    y = np.array([0, 0, 1, 1])
    assert pauc_high_sensitivity(y, np.array([0.1, 0.2, 0.8, 0.9])) == pytest.approx(1.0)
    assert pauc_high_sensitivity(y, np.array([0.8, 0.9, 0.1, 0.2])) == pytest.approx(0.0)
    # a chance diagonal: integral_{0.8}^{1} (1 - t) dt / 0.2 = 0.1
    assert pauc_high_sensitivity(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.1)
    # y = [1,0,1,0,1] scores descending: ROC (0,0)(0,1/3)(1/2,1/3)(1/2,2/3)(1,2/3)(1,1):
    # TPR in [0.8, 1] lies on the last vertical segment at FPR = 1 -> specificity 0 -> pAUCR 0
    y = np.array([1, 0, 1, 0, 1])
    s = np.array([5, 4, 3, 2, 1.0])
    assert pauc_high_sensitivity(y, s) == pytest.approx(0.0)
    # positives 3, negatives 1, score order P P N P: last positive after the negative
    y = np.array([1, 1, 0, 1])
    s = np.array([4, 3, 2, 1.0])
    assert pauc_high_sensitivity(y, s) == pytest.approx(0.0)
    # order P N P P N: ROC (0,0)(0,1/3)(1/2,1/3)(1/2,1)(1,1): vertical at FPR 0.5 over [0.8,1] -> 0.5
    y = np.array([1, 0, 1, 1, 0])
    s = np.array([5, 4, 3, 2, 1.0])
    assert pauc_high_sensitivity(y, s) == pytest.approx(0.5)


def test_pauc_interpolates_a_diagonal_segment():
    # one tied block of 1 positive + 1 negative after 4 positives: ROC (0,0)(0,0.8)(1,1)
    y = np.array([1, 1, 1, 1, 1, 0])
    s = np.array([9, 8, 7, 6, 1, 1.0])
    # on the segment FPR goes 0 -> 1 as TPR goes 0.8 -> 1: mean specificity 0.5
    assert pauc_high_sensitivity(y, s) == pytest.approx(0.5)


def test_specificity_at_sensitivity():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.55, 0.5, 0.4, 0.3, 0.2, 0.1])
    # sensitivity 0.8 reached at threshold 0.6 with 0 negatives above: spec 1
    assert spec_at_sens(y, s, 0.8) == pytest.approx(1.0)
    # 0.85 needs all 5 positives -> threshold 0.2 with 4 negatives above -> spec 1/5
    assert spec_at_sens(y, s, 0.85) == pytest.approx(0.2)
    thr, spec = operating_point(y, s, 0.85)
    assert thr == pytest.approx(0.2)
    assert set(binary_metrics(y, s)) == {"auroc", "pauc", "spec@0.85", "spec@0.90"}


def test_breast_level_max_and_tasks():
    keys, agg = breast_level(np.array(["a", "a", "b"]), np.array([0.2, 0.7, 0.1]))
    assert keys.tolist() == ["a", "b"] and agg.tolist() == [0.7, 0.1]
    m = image_and_breast_metrics([1, 0, 0, 1], [0, 1, 0, 0], [0.9, 0.2, 0.1, 0.6], [0.1, 0.8, 0.05, 0.1],
                                 np.array(["p1", "p1", "p2", "p2"]), np.array(["L", "L", "L", "R"]))
    assert m["M_vs_BN/auroc"] == 1.0
    assert m["MB_vs_N/auroc"] == 1.0  # max(p_M, p_B) ranks N lowest
    assert "breast/M_vs_BN/auroc" in m


def test_bootstrap_ci_contains_estimate():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    s = rng.random(200) + 0.5 * y
    est, lo, hi = bootstrap_ci(y, s, n_boot=200)
    assert lo < est < hi and hi - lo < 0.3
    est2, lo2, hi2 = bootstrap_ci(y, s, n_boot=200, groups=np.arange(200) // 2)
    assert est2 == est and lo2 < est < hi2
