"""core.synthetic: deterministic, fast, contours inside the breast, labels consistent."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from mammo_annotator.core.contours import check_contour, rasterize
from mammo_annotator.core.synthetic import synthetic_dataset, synthetic_mammogram
from mammo_annotator.core.types import LesionClass, WeakLabel


def test_deterministic_per_seed():
    a = synthetic_mammogram(7, n_benign=1, n_malignant=1, n_calc_clusters=1)
    b = synthetic_mammogram(7, n_benign=1, n_malignant=1, n_calc_clusters=1)
    c = synthetic_mammogram(8, n_benign=1, n_malignant=1, n_calc_clusters=1)
    assert np.array_equal(a.pixels, b.pixels) and a.lesions == b.lesions
    assert not np.array_equal(a.pixels, c.pixels)


@pytest.mark.parametrize("view,lat", [("MLO", "L"), ("MLO", "R"), ("CC", "L"), ("CC", "R")])
def test_contours_inside_breast_and_labels(view, lat):
    case = synthetic_mammogram(21, (512, 416), view, lat, n_benign=2, n_malignant=1, n_calc_clusters=1, bits=12)
    h, w = case.pixels.shape
    assert case.pixels.dtype == np.uint16 and case.pixels.max() <= 4095
    assert case.weak_label == WeakLabel(1, 1)
    assert Counter(case.lesion_kinds) == {"benign_mass": 2, "spiculated_mass": 1, "calc_cluster": 1}
    for lesion, kind in zip(case.lesions, case.lesion_kinds):
        assert (lesion.cls is LesionClass.BENIGN) == (kind == "benign_mass")
        check_contour(lesion.polygon, w, h)
        inside = rasterize(lesion.polygon, h, w)
        assert (inside & case.breast_mask).sum() / inside.sum() > 0.9
    assert (case.pectoral is not None) == (view == "MLO")
    # chest wall on the image side of the laterality (standard display)
    left, right = case.breast_mask[:, : w // 2].sum(), case.breast_mask[:, w // 2 :].sum()
    assert (left > right) == (lat == "L")


def test_lesions_brighter_than_surroundings():
    diffs = []
    for seed in range(6):
        case = synthetic_mammogram(seed, (512, 416), "CC", "L", n_benign=1, n_malignant=1)
        h, w = case.pixels.shape
        for lesion in case.lesions:
            inside = rasterize(lesion.polygon, h, w)
            x0, y0, x1, y1 = (int(v) for v in lesion.polygon.bounds)
            ring = np.zeros_like(inside)
            ring[max(0, y0 - 30): y1 + 30, max(0, x0 - 30): x1 + 30] = True
            ring &= ~inside & case.breast_mask
            diffs.append(case.pixels[inside].mean() - case.pixels[ring].mean())
    diffs = np.asarray(diffs)
    assert np.median(diffs) > 0  # visible on average...
    assert diffs.min() < 4 * np.median(diffs)  # ...but not all trivially so


def test_no_lesions_is_normal():
    case = synthetic_mammogram(5, (256, 208))
    assert case.lesions == () and case.weak_label == WeakLabel(0, 0)


def test_bad_arguments():
    with pytest.raises(ValueError):
        synthetic_mammogram(0, view="ML")
    with pytest.raises(ValueError):
        synthetic_mammogram(0, laterality="B")


def test_dataset_structure():
    cases = list(synthetic_dataset(12, seed=3, size=(128, 104)))
    assert len(cases) == 12 * 4
    by_patient = Counter(c.patient_id for c in cases)
    assert len(by_patient) == 12 and set(by_patient.values()) == {4}
    assert {(c.laterality, c.view) for c in cases} == {("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO")}
    names = Counter(c.weak_label.name for c in cases)
    assert names["N"] > 0 and names["M"] + names["MB"] > 0 and names["B"] + names["MB"] > 0
    # views of one breast share its finding category
    for pid in by_patient:
        for lat in "LR":
            labels = {c.weak_label for c in cases if c.patient_id == pid and c.laterality == lat}
            assert len(labels) == 1
    again = list(synthetic_dataset(12, seed=3, size=(128, 104)))
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(cases, again))


def test_calcification_cluster_at_the_border_does_not_fail():
    # seed 5 at this size put specks of a cluster outside the image ("negative dimensions")
    cases = list(synthetic_dataset(6, seed=5, size=(1024, 832)))
    assert len(cases) == 24
    assert all(c.pixels.shape == (1024, 832) and c.pixels.dtype == np.uint16 and c.pixels.max() > c.pixels.min()
               for c in cases)
