"""The disk morphology of the breast mask equals scipy.ndimage's with the same disk, border included."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from mammo_annotator.core.morphology import close_disk, dilate_disk, disk, erode_disk, open_disk


def _masks(seed: int, n: int):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        h, w = (int(v) for v in rng.integers(1, 48, 2))
        blobs = ndi.gaussian_filter(rng.random((h, w)), float(rng.uniform(0.5, 4))) > rng.uniform(0.3, 0.7)
        yield blobs, int(rng.integers(0, 11))


@pytest.mark.parametrize("seed", range(4))
def test_each_operation_equals_scipy_on_random_masks(seed):
    for mask, r in _masks(seed, 40):  # shapes from 1 x 1 to 47 x 47, disks wider than the image included
        st = disk(r)
        assert np.array_equal(erode_disk(mask, r), ndi.binary_erosion(mask, st)), (mask.shape, r)
        assert np.array_equal(erode_disk(mask, r, outside=True), ndi.binary_erosion(mask, st, border_value=1))
        assert np.array_equal(dilate_disk(mask, r), ndi.binary_dilation(mask, st)), (mask.shape, r)
        assert np.array_equal(open_disk(mask, r), ndi.binary_opening(mask, st)), (mask.shape, r)
        assert np.array_equal(close_disk(mask, r), ndi.binary_closing(mask, st)), (mask.shape, r)


def test_the_disk_is_euclidean_and_a_lone_pixel_grows_into_it():
    assert disk(2).astype(int).tolist() == [[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0]]
    dot = np.zeros((9, 9), bool)
    dot[4, 4] = True
    assert np.array_equal(dilate_disk(dot, 3)[1:8, 1:8], disk(3))
    assert np.array_equal(erode_disk(dilate_disk(dot, 3), 3), dot)
    assert not erode_disk(np.ones((5, 5), bool), 1)[0].any()  # beyond the border is background
