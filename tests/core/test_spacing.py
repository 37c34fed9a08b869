"""Which pixel spacings are believed: those a mammogram can have."""

import math

import pytest

from mammo_annotator.core.spacing import implausible_spacing


@pytest.mark.parametrize("spacing, w, h", [((0.07, 0.07), 3328, 4096), ((0.1, 0.1), 3328, 4300), ((0.2, 0.2), 1024, 1024),
                                           ((0.05, 0.05), 4800, 6000), ((0.01, 0.01), 100, 100), ((2.0, 2.0), 120, 150)])
def test_real_detectors_and_film_scans_are_believed(spacing, w, h):
    assert implausible_spacing(spacing, w, h) is None


@pytest.mark.parametrize("spacing, w, h, why", [
    ((5.0, 5.0), 832, 1024, "416 x 512 cm"),
    ((0.2, 0.2), 832, 4000, "larger than any mammogram"),  # 80 cm down
    ((0.05, 1.0), 1000, 1000, "100 x 5 cm"),  # row spacing, column spacing
    ((math.inf, 0.1), 100, 100, "not a finite number"),
    ((0.1, math.nan), 100, 100, "not a finite number"),
    ((0.001, 0.001), 100, 100, "finer than 0.01 mm"),
])
def test_impossible_spacings_say_why(spacing, w, h, why):
    assert why in implausible_spacing(spacing, w, h)
