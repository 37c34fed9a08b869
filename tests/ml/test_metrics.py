import numpy as np
import pytest

from mammo_annotator.ml.metrics import (auroc, binary_metrics, bootstrap_ci, breast_keys, breast_level, has_both_classes,
                                        image_and_breast_metrics, operating_point, pauc_high_sensitivity, roc,
                                        spec_at_sens, task_labels, task_scores)

NAN = float("nan")


def test_auroc_by_hand_with_ties_and_one_class():
    # pairs (pos, neg): 0.5 > 0.1, 0.5 = 0.5 (half), 0.9 > both: 3.5 / 4
    assert auroc(np.array([0, 0, 1, 1]), np.array([0.1, 0.5, 0.5, 0.9])) == 0.875
    assert auroc(np.array([1, 1, 0]), np.array([0.1, 0.2, 0.9])) == 0.0
    assert np.isnan(auroc(np.array([1, 1]), np.array([0.1, 0.2])))
    assert np.isnan(pauc_high_sensitivity(np.array([0, 0]), np.array([0.1, 0.2])))
    assert np.isnan(spec_at_sens(np.array([1, 1]), np.array([0.1, 0.2]), 0.85))


def test_auroc_equals_sklearn_on_random_scores_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    for n in (2, 3, 7, 40, 500):
        for _ in range(20):
            y = rng.integers(0, 2, n)
            if y.min() == y.max():
                y[0] = 1 - y[0]
            s = np.round(rng.normal(size=n) + y * rng.uniform(0, 2), int(rng.integers(0, 3)))  # rounding: many ties
            assert auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    with pytest.raises(ValueError):  # a NaN score is an error, as in sklearn, never a number
        auroc(np.array([0, 1, 1]), np.array([0.1, NAN, 0.3]))


def test_length_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="differ in length"):
        auroc(np.array([0, 1]), np.array([0.1, 0.2, 0.3]))


def test_unknown_labels_never_enter_a_metric():
    # the NaN-labelled images carry the extreme scores: counted as either class they would change everything
    y = np.array([1, 0, NAN, 1, 0, NAN])
    s = np.array([0.6, 0.4, 0.99, 0.7, 0.3, 0.01])
    assert auroc(y, s) == 1.0
    assert pauc_high_sensitivity(y, s) == 1.0
    assert spec_at_sens(y, s, 0.9) == 1.0
    fpr, tpr, _ = roc(y, s)
    assert tpr[-1] == 1.0 and np.all(np.diff(tpr) >= 0) and len(fpr) == 5  # (0,0) + 4 distinct known scores
    assert not has_both_classes(np.array([1, NAN, 1])) and has_both_classes(np.array([1, NAN, 0]))
    est, lo, hi = bootstrap_ci(y, s, n_boot=50)
    assert (est, lo, hi) == (1.0, 1.0, 1.0)


def test_task_labels_and_scores():
    y_m = np.array([1, 0, 0, 0, NAN, 1, 0, NAN])
    y_b = np.array([0, 1, 0, NAN, 0, NAN, NAN, NAN])
    t = task_labels(y_m, y_b)
    np.testing.assert_array_equal(t["M_vs_BN"], y_m)
    # abnormal when either label is 1 (a malignant image whose y_B is unknown is abnormal), normal when both 0
    np.testing.assert_array_equal(t["MB_vs_N"], [1, 1, 0, NAN, NAN, 1, NAN, NAN])
    sc = task_scores(np.array([0.2, 0.7]), np.array([0.9, 0.1]))
    np.testing.assert_array_equal(sc["M_vs_BN"], [0.2, 0.7])
    np.testing.assert_array_equal(sc["MB_vs_N"], [0.9, 0.7])


def test_image_and_breast_metrics_by_hand():
    y_m, y_b = [1, 0, 0, 0], [0, 0, 1, 0]
    p_m, p_b = [0.2, 0.7, 0.5, 0.8], [0.1, 0.1, 0.9, 0.3]
    pid, lat = np.array(["p1", "p1", "p2", "p1"]), np.array(["L", "L", "L", "R"])
    m = image_and_breast_metrics(y_m, y_b, p_m, p_b, pid, lat)
    assert m["M_vs_BN/auroc"] == 0.0  # p_M ranks the one malignant image below every other (p_B would give 1/6)
    assert m["MB_vs_N/auroc"] == 0.5  # max(p_M, p_B) = .2 .7 .9 .8 for abnormal, normal, abnormal, normal
    # breasts p1|L (M, max p_M .7), p1|R (.8), p2|L (.5): the left and right breast of p1 stay apart
    assert m["breast/M_vs_BN/auroc"] == 0.5
    assert m["breast/MB_vs_N/auroc"] == 0.5  # breast max(p_M, p_B): p1|L .7, p2|L .9 abnormal; p1|R .8 normal
    assert m["M_vs_BN/spec@0.85"] == 0.0 and m["breast/M_vs_BN/spec@0.85"] == 0.5
    assert set(m) == {f"{lvl}{t}/{k}" for lvl in ("", "breast/") for t in ("M_vs_BN", "MB_vs_N")
                      for k in ("auroc", "pauc", "spec@0.85", "spec@0.90")}
    assert not any(k.startswith("breast/") for k in image_and_breast_metrics(y_m, y_b, p_m, p_b))


def test_breast_level_ignores_unknown_labels_unless_all_are():
    keys, y, s = breast_level(breast_keys(["p2", "p1", "p1", "p2"], ["L", "L", "L", "L"]),
                              np.array([NAN, NAN, 1.0, NAN]), np.array([0.3, 0.1, 0.2, 0.4]))
    assert keys.tolist() == ["p1|L", "p2|L"]
    assert y[0] == 1.0 and np.isnan(y[1])
    assert s.tolist() == [0.2, 0.4]


def test_binary_metrics_values():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.55, 0.5, 0.4, 0.3, 0.2, 0.1])
    m = binary_metrics(y, s)
    assert m == {"auroc": auroc(y, s), "pauc": pauc_high_sensitivity(y, s), "spec@0.85": pytest.approx(0.2), "spec@0.90": pytest.approx(0.2)}
    assert m["auroc"] == pytest.approx(21 / 25)


def test_patient_grouped_bootstrap_resamples_whole_patients():
    # each patient alone ranks perfectly; together A's negative outranks B's positive: AUROC 3/4.
    # Resampling patients can only give 1 (AA, BB) or 3/4 (AB); resampling images can give 0.
    y = np.array([1, 0, 1, 0, NAN])
    s = np.array([0.9, 0.8, 0.3, 0.2, 0.5])
    groups = np.array(["A", "A", "B", "B", "C"])
    est, lo, hi = bootstrap_ci(y, s, n_boot=400, groups=groups)
    assert est == 0.75 and lo == 0.75 and hi == 1.0
    est2, lo2, hi2 = bootstrap_ci(y, s, n_boot=400)
    assert est2 == 0.75 and lo2 < 0.5 and hi2 == 1.0
    # one patient holding both classes and one holding a single class: resamples of the single one are skipped
    # (AA -> 1, AB -> 1/2, BB has no positive)
    est, lo, hi = bootstrap_ci(np.array([1, 0, 0]), np.array([0.9, 0.1, 0.95]), n_boot=100, groups=np.array(["A", "A", "B"]))
    assert est == 0.5 and (lo, hi) == (0.5, 1.0)
    assert np.isnan(bootstrap_ci(np.array([1, 1]), np.array([0.1, 0.2]), n_boot=20, groups=np.array(["A", "B"]))[1])
    assert np.isnan(bootstrap_ci(np.array([1, 1]), np.array([0.1, 0.2]), n_boot=20)[2])
    # every image from one patient: each resample is that whole patient, so the interval has no width
    y, s = np.array([1, 0, 1, 0, 0]), np.array([0.9, 0.4, 0.3, 0.2, 0.5])
    assert bootstrap_ci(y, s, n_boot=50, groups=np.array(["P"] * 5)) == pytest.approx((4 / 6,) * 3)  # 4 of 6 pairs


def test_bootstrap_seed_alpha_and_metric():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    s = rng.random(200) + 0.5 * y
    est, lo, hi = bootstrap_ci(y, s, n_boot=200)
    assert est == auroc(y, s) and lo < est < hi and hi - lo < 0.3
    assert bootstrap_ci(y, s, n_boot=200) == (est, lo, hi)  # seeded: reproducible
    assert bootstrap_ci(y, s, n_boot=200, seed=1) != (est, lo, hi)
    _, lo90, hi90 = bootstrap_ci(y, s, n_boot=200, alpha=0.1)
    assert lo < lo90 < hi90 < hi  # a 90 % interval lies inside the 95 % one
    est_p, lo_p, hi_p = bootstrap_ci(y, s, fn=pauc_high_sensitivity, n_boot=100)
    assert est_p == pauc_high_sensitivity(y, s) and lo_p <= est_p <= hi_p


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


def test_pauc_band_starting_inside_a_diagonal_segment_and_several_segments():
    # ROC (0,0)(0,0.6)(1,1): in the band TPR 0.8..1 the FPR runs 0.5 -> 1, mean specificity 0.25
    assert pauc_high_sensitivity(np.array([1, 1, 1, 1, 1, 0]), np.array([9, 8, 7, 1, 1, 1.0])) == pytest.approx(0.25)
    # order P P P P N P P N (6 positives): two vertical segments at FPR 0.5 share the band -> 0.5
    y = np.array([1, 1, 1, 1, 0, 1, 1, 0])
    assert pauc_high_sensitivity(y, np.arange(8, 0, -1.0)) == pytest.approx(0.5)
    assert pauc_high_sensitivity(y, np.arange(8, 0, -1.0), tpr_min=0.5) == pytest.approx((1 / 6 * 1 + 2 / 6 * 0.5) / 0.5)


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


def test_bootstrap_interval_edges():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 120)
    s = rng.random(120) + 0.3 * y
    est, lo, hi = bootstrap_ci(y, s, n_boot=101, alpha=1.0)  # a zero-width interval: the median resample
    assert lo == hi and lo != est
    # a single positive is resampled as itself: a defined interval, not NaN
    est, lo, hi = bootstrap_ci(np.array([1, 0, 0, 0]), np.array([0.9, 0.1, 0.5, 0.95]), n_boot=50)
    assert est == pytest.approx(2 / 3) and 0 <= lo <= hi <= 1
    est, lo, hi = bootstrap_ci(np.array([0, 1, 1, 1]), np.array([0.9, 0.1, 0.5, 0.95]), n_boot=50)  # and a single negative
    assert est == pytest.approx(1 / 3) and 0 <= lo <= hi <= 1
    # one class only: no stratified interval, even for a metric that is defined on one class
    est, lo, hi = bootstrap_ci(np.array([1, 1, 1]), np.array([0.2, 0.4, 0.9]), fn=lambda y, s: float(np.mean(s)), n_boot=20)
    assert est == pytest.approx(0.5) and np.isnan(lo) and np.isnan(hi)
    assert not any(k.startswith("breast/") for k in image_and_breast_metrics([1, 0], [0, 0], [0.9, 0.1], [0.1, 0.1],
                                                                               np.array(["p", "q"]), None))


def test_top1_hit_rate_reads_each_images_highest_d_m_region():
    from mammo_annotator.ml.metrics import top1_hit_rate

    labels = np.array([0, 1, 0, 1, 0, -1, 1], dtype=np.int8)  # images of 3, 2 and 2 regions
    d_m = np.array([0.1, 0.9, 0.2, 0.3, 0.8, 0.7, 0.6])
    offsets = np.array([0, 3, 5, 7])
    assert top1_hit_rate(labels, d_m, offsets, np.array([0])) == 1.0  # the malignant region is highest
    assert top1_hit_rate(labels, d_m, offsets, np.array([1])) == 0.0  # a BN region is highest
    assert top1_hit_rate(labels, d_m, offsets, np.array([2])) == 0.0  # an ignored region is highest: no hit
    assert top1_hit_rate(labels, d_m, offsets, np.array([0, 1, 2])) == 1 / 3
