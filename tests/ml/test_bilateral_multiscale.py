"""Bilateral pairing (mirroring and alignment on a constructed pair) and multi-scale windows."""

import numpy as np
import torch

from mammo_annotator.core.regions import grid_boxes
from mammo_annotator.ml.bilateral import (add_bilateral, contralateral_index, match_windows,
                                          normalised_positions)
from mammo_annotator.ml.dataset import ImageRecord, RegionDataset
from mammo_annotator.ml.features import build_extractor
from mammo_annotator.ml.features.learned import BackboneConfig, LearnedExtractor, SmallConvNet
from mammo_annotator.ml.features.multiscale import MultiScaleExtractor, context_boxes

W = 200


def _left_breast_boxes() -> np.ndarray:
    """Windows of a breast against the left border (chest wall left), 120 px deep, rows 20..180."""
    b = grid_boxes(200, W, 40, 20)
    return b[(b[:, 2] <= 120) & (b[:, 1] >= 20) & (b[:, 3] <= 180)]


def _mirror(boxes: np.ndarray) -> np.ndarray:
    return np.stack([W - boxes[:, 2], boxes[:, 1], W - boxes[:, 0], boxes[:, 3]], 1)


def test_mirrored_breast_matches_window_by_window():
    a = _left_breast_boxes()
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(a))
    b = _mirror(a)[perm]  # the other breast: mirrored, windows in another order
    m = match_windows(a, W, b, W)
    np.testing.assert_array_equal(perm[m], np.arange(len(a)))
    pa = normalised_positions(a, W)
    assert pa[:, 0].min() >= 0 and pa[:, 0].max() <= 1
    # the window against the chest wall has depth near 0 in both images
    assert np.allclose(normalised_positions(b, W)[np.argsort(perm)], pa)


def test_alignment_by_breast_extent_tolerates_shift_and_size():
    a = _left_breast_boxes()
    b = _mirror(a)
    b_shifted = b + np.array([0, 10, 0, 10])  # other breast imaged 10 px lower
    m = match_windows(a, W, b_shifted, W)
    np.testing.assert_array_equal(m, np.arange(len(a)))


def test_add_bilateral_features_and_partners():
    a = _left_breast_boxes()
    b = _mirror(a)
    fa = np.random.default_rng(1).standard_normal((len(a), 3)).astype(np.float32)
    fb = fa.copy()
    fb[5] += 2.0  # an asymmetry in the right breast at window 5
    recs = [ImageRecord(fa, a, 0.0, 0.0, None, "p1", "L", "MLO", "a"),
            ImageRecord(fb, b, 1.0, 0.0, None, "p1", "R", "MLO", "b"),
            ImageRecord(fa, a, 0.0, 0.0, None, "p2", "L", "MLO", "c")]
    ds = RegionDataset.from_records(recs, "x:1")
    np.testing.assert_array_equal(contralateral_index(ds), [1, 0, -1])
    out = add_bilateral(ds)
    assert out.dim == 7 and out.feature_key == "x:1+bilateral"
    diff_b = out.features[ds.region_slice(1), 3:6]
    assert np.abs(diff_b[5] - 2.0).max() < 1e-6 and np.abs(np.delete(diff_b, 5, 0)).max() < 1e-6
    assert np.all(out.features[ds.region_slice(2), 6] == 0) and np.all(out.features[ds.region_slice(0), 6] == 1)


def test_context_boxes_and_multiscale_extractor():
    boxes = np.array([[100, 100, 212, 212]])
    np.testing.assert_array_equal(context_boxes(boxes, 2), [[44, 44, 268, 268]])
    np.testing.assert_array_equal(context_boxes(boxes, 4), [[-68, -68, 380, 380]])
    img = np.random.default_rng(0).integers(0, 4096, (512, 448)).astype(np.uint16)
    grid = grid_boxes(512, 448, 112, 56)
    hand = MultiScaleExtractor(build_extractor("handcrafted", default_factor=1), (1, 2))
    f = hand.extract(img, grid)
    assert f.shape == (len(grid), hand.dim) and hand.key.endswith("+ms1-2") and np.isfinite(f).all()
    cfg = BackboneConfig(widths=(4, 8, 8, 8))
    torch.manual_seed(0)
    base = LearnedExtractor(SmallConvNet(cfg), cfg, "simclr")
    ms = MultiScaleExtractor(base, (1, 2, 4))
    g = ms.extract(img, grid, 0.2)
    assert g.shape == (len(grid), 3 * base.dim)
    np.testing.assert_allclose(g[:, base.dim:2 * base.dim], base.extract(img, context_boxes(grid, 2), 0.2), atol=1e-5)
    assert ms.key != base.key
