"""FROC (method section 7) on a small cohort computed by hand: which images count, which
detections are hits, the FP normalisation, the lesion class and the IoM threshold."""

from __future__ import annotations

import numpy as np
import pytest

from mammo_annotator.core.types import Lesion, LesionClass, Polygon
from mammo_annotator.ml.dataset import ImageRecord, RegionDataset
from mammo_annotator.ml.froc import froc
from mammo_annotator.ml.scoring import Scores

NAN = float("nan")
BOXES = np.array([[0, 0, 10, 10], [10, 0, 20, 10], [20, 0, 30, 10]])


def square(x0, y0, x1, y1, cls=LesionClass.MALIGNANT):
    return Lesion(cls, Polygon.from_array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))


def cohort(lesions_b=None):
    """Images a..f: (y_M, y_B, p_M, p_B, d_B per region, d_M per region, lesions)."""
    rows = [
        ("a", 1, 1, 0.9, 0.8, [0.05, 0.02, 0.6], [0.5, 0.3, 0.1],
         (square(11, 1, 19, 9), square(21, 1, 29, 9, LesionClass.BENIGN))),
        ("b", 1, 0, 0.8, 0.2, [0, 0, 0], [0.2, 0.4, 0.05], (square(1, 1, 9, 9),) if lesions_b is None else lesions_b),
        ("c", 1, 0, 0.7, 0.1, [0, 0, 0], [0.35, 0.0, 0.0], ()),  # malignant, no outline
        ("d", 0, 0, 0.75, 0.3, [0, 0, 0], [0.45, 0.1, 0.1], ()),  # normal, classified M: false positives
        ("e", 0, 0, 0.1, 0.1, [0, 0, 0], [0.9, 0.9, 0.9], ()),  # below the operating point: no detections
        ("f", NAN, NAN, 0.95, 0.95, [0.99] * 3, [0.99] * 3, ()),  # unknown: not evaluated at all
    ]
    recs = [ImageRecord(np.zeros((3, 1), np.float32), BOXES, ym, yb, None, image_id=name, lesions=les)
            for name, ym, yb, *_, les in rows]
    ds = RegionDataset.from_records(recs)
    d = np.concatenate([np.stack([db, dm], axis=1) for *_, db, dm, _ in rows]).astype(np.float32)
    n = len(rows)
    sc = Scores(ds.image_ids, np.array([r[3] for r in rows]), np.array([r[4] for r in rows]),
                np.zeros((3 * n, 3), np.float32), np.zeros((3 * n, 2), np.float32), np.zeros((3 * n, 2), np.float32),
                d, ds.offsets)
    return ds, sc


def test_malignant_froc_by_hand():
    ds, sc = cohort()
    c = froc(ds, sc, "M")
    # all three malignant images needed for sensitivity 0.85: threshold p_M 0.7 -> a, b, c, d classified M
    assert c.image_threshold == pytest.approx(0.7)
    assert (c.n_tp_images, c.n_tp_without_outline, c.n_images) == (2, 1, 5)
    # hits: a at d 0.3, b at 0.2; wrong: a .5 .1 (the benign outline is no hit), b .4 .05, c .35 0 0, d .45 .1 .1
    np.testing.assert_allclose(c.thresholds[:6], [np.inf, 0.5, 0.45, 0.4, 0.35, 0.3], rtol=1e-6)
    np.testing.assert_allclose(c.fppi[:7], [0, 0.2, 0.4, 0.6, 0.8, 0.8, 0.8])
    np.testing.assert_allclose(c.sensitivity[:7], [0, 0, 0, 0, 0, 0.5, 1.0])
    assert c.fppi.max() == pytest.approx(10 / 5)
    assert np.all(np.diff(c.fppi) >= 0) and np.all(np.diff(c.sensitivity) >= 0)
    assert c.sensitivity_at(0.79) == 0.0 and c.sensitivity_at(0.8) == 1.0
    assert c.summary() == {"sens@0.25fppi": 0.0, "sens@0.5fppi": 0.0, "sens@1fppi": 1.0, "sens@2fppi": 1.0}


def test_benign_froc_uses_benign_labels_scores_and_outlines():
    ds, sc = cohort()
    c = froc(ds, sc, "B")
    # one benign image (a, p_B 0.8) -> only a classified B; its benign outline is hit at d_B 0.6, the
    # malignant outline does not count: the two other regions are false positives
    assert c.image_threshold == pytest.approx(0.8) and (c.n_tp_images, c.n_images) == (1, 5)
    assert c.sensitivity_at(0.0) == 1.0
    assert c.fppi.max() == pytest.approx(2 / 5)


def test_abnormal_froc_counts_either_class():
    ds, sc = cohort()
    c = froc(ds, sc, "MB")
    # p = max(p_M, p_B) -> threshold 0.7 as for M; a region score is max(d_B, d_M); both outlines count:
    # a hits at 0.6 (benign box), b at 0.2; 9 wrong detections over 5 images
    assert c.image_threshold == pytest.approx(0.7) and c.n_tp_images == 2
    assert c.sensitivity_at(0.0) == 0.5 and c.fppi.max() == pytest.approx(9 / 5)
    with pytest.raises(ValueError, match="cls must be"):
        froc(ds, sc, "N")


def test_a_hit_needs_iom_alpha():
    # b's lesion straddles boxes 0 and 1: IoM 0.4 with box 0, 0.6 with box 1 (d_M 0.4)
    ds, sc = cohort(lesions_b=(square(6, 0, 16, 10),))
    assert froc(ds, sc, "M", alpha=0.5).sensitivity_at(0.6) == 1.0  # box 1 hit at d 0.4: fppi 0.4 then
    missed = froc(ds, sc, "M", alpha=0.65)
    assert missed.sensitivity.max() == 0.5  # b is never found
    assert missed.fppi.max() == pytest.approx(11 / 5)  # and its three detections are all wrong


def test_image_sensitivity_moves_the_operating_point():
    ds, sc = cohort()
    c = froc(ds, sc, "M", image_sensitivity=0.6)
    # two of three malignant images suffice: threshold 0.8 -> a and b only, c and d give no detections
    assert c.image_threshold == pytest.approx(0.8)
    assert (c.n_tp_images, c.n_tp_without_outline) == (2, 0)
    assert c.fppi.max() == pytest.approx(4 / 5)


def test_degenerate_inputs():
    ds, sc = cohort()
    one = ds.subset(np.array([0, 1, 2]))  # malignant only: no operating point
    sc1 = Scores(sc.image_ids[:3], sc.p_m[:3], sc.p_b[:3], sc.p_cls[:9], sc.p_det[:9], sc.p_maskdet[:9], sc.d[:9],
                 sc.offsets[:4])
    c = froc(one, sc1, "M")
    assert c.n_tp_images == 0 and np.isnan(c.sensitivity_at(1.0)) and c.n_images == 3
    with pytest.raises(ValueError, match="differ in length"):
        froc(one, sc, "M")


def test_defaults_edges_and_counts():
    ds, sc = cohort()
    default, m = froc(ds, sc), froc(ds, sc, "M", image_sensitivity=0.85, alpha=0.5)
    assert default.cls == "M" and np.array_equal(default.fppi, m.fppi) and np.array_equal(default.sensitivity, m.sensitivity)
    assert m.sensitivity_at(-1.0) == 0.0  # below the first point: nothing is found yet
    # an IoM of exactly alpha is a hit: b's lesion covers 60 % of box 1
    ds2, sc2 = cohort(lesions_b=(square(6, 0, 16, 10),))
    assert froc(ds2, sc2, "M", alpha=0.6).sensitivity.max() == 1.0
    assert froc(ds2, sc2, "M", alpha=0.6000001).sensitivity.max() == 0.5
    # two malignant images without an outline are both counted
    ds3, sc3 = cohort(lesions_b=())
    c = froc(ds3, sc3, "M")
    assert (c.n_tp_images, c.n_tp_without_outline) == (1, 2)


def test_the_empty_curve():
    ds, sc = cohort()
    keep = np.array([0, 1, 2])
    one = ds.subset(keep)
    sc1 = Scores(sc.image_ids[:3], sc.p_m[:3], sc.p_b[:3], sc.p_cls[:9], sc.p_det[:9], sc.p_maskdet[:9], sc.d[:9],
                 sc.offsets[:4])
    c = froc(one, sc1, "M")
    assert c.cls == "M" and c.fppi.tolist() == [0.0] and c.sensitivity.tolist() == [0.0]
    assert c.thresholds.tolist() == [np.inf] and np.isnan(c.image_threshold)
    assert (c.n_tp_images, c.n_tp_without_outline, c.n_images) == (0, 0, 3)
    assert all(np.isnan(v) for v in c.summary().values())
