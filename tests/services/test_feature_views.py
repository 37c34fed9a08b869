"""Augmented views: the same windows cut from the flipped image; cached under their own key."""

from __future__ import annotations

import numpy as np
import pytest

from mammo_annotator.services.features import view_key, view_of


@pytest.mark.parametrize("view,axis", [("flip_lr", 1), ("flip_ud", 0)])
def test_view_boxes_cut_the_same_window(view, axis):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 4096, size=(300, 200)).astype(np.uint16)
    boxes = np.array([[0, 0, 50, 50], [120, 30, 200, 110], [10, 200, 90, 300]])
    seen, moved = view_of(pixels, boxes, view)
    for (x0, y0, x1, y1), (a0, b0, a1, b1) in zip(boxes, moved):
        np.testing.assert_array_equal(seen[b0:b1, a0:a1], np.flip(pixels[y0:y1, x0:x1], axis=axis))


def test_identity_and_keys():
    pixels = np.zeros((10, 10))
    boxes = np.array([[1, 2, 3, 4]])
    seen, same = view_of(pixels, boxes, "identity")
    assert seen is pixels and (same == boxes).all()
    assert view_key("handcrafted:1") == "handcrafted:1" and view_key("handcrafted:1", "flip_lr") == "handcrafted:1|flip_lr"
    with pytest.raises(ValueError, match="unknown view"):
        view_of(pixels, boxes, "rot45")
