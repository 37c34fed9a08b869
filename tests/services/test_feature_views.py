"""Augmented views: the same windows cut from the flipped or turned image, or the content shifted
under the grid with labels recomputed from the contours; cached under their own key."""

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


@pytest.mark.parametrize("view,k", [("rot90", 1), ("rot270", -1)])
def test_quarter_turns_cut_the_same_window_turned(view, k):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 4096, size=(300, 200)).astype(np.uint16)
    boxes = np.array([[0, 0, 50, 50], [120, 30, 200, 110], [10, 200, 90, 300]])
    seen, moved = view_of(pixels, boxes, view)
    assert seen.shape == (200, 300)
    for (x0, y0, x1, y1), (a0, b0, a1, b1) in zip(boxes, moved):
        np.testing.assert_array_equal(seen[b0:b1, a0:a1], np.rot90(pixels[y0:y1, x0:x1], k))


def test_shift_moves_the_content_under_the_same_windows():
    from mammo_annotator.services.features import shift_of

    pixels = np.arange(300 * 200, dtype=np.float32).reshape(300, 200) + 10
    boxes = np.array([[40, 40, 120, 120], [100, 200, 180, 280]])
    d = shift_of(boxes)
    assert d == 10  # 1/8 of an 80 px window
    seen, same = view_of(pixels, boxes, "shift")
    assert (same == boxes).all()
    for x0, y0, x1, y1 in boxes:
        np.testing.assert_array_equal(seen[y0:y1, x0:x1], pixels[y0 - d:y1 - d, x0 - d:x1 - d])
    assert (seen[:d] == pixels.min()).all() and (seen[:, :d] == pixels.min()).all()


def test_shift_view_labels_follow_the_moved_content():
    from mammo_annotator.core.contours import circle_polygon
    from mammo_annotator.core.types import Lesion, LesionClass
    from mammo_annotator.ml.dataset import ImageRecord, RegionDataset
    from mammo_annotator.services.training import shifted_content_labels

    boxes = np.array([[0, 0, 80, 80], [70, 70, 150, 150], [85, 10, 165, 90]], dtype=float)
    lesion = Lesion(LesionClass.MALIGNANT, circle_polygon(80, 80, 8, 32))  # on the corner of windows 0 and 1
    rec = ImageRecord(np.zeros((3, 2), np.float32), boxes, 1.0, 0.0, np.array([-1, -1, 0], np.int8),
                      lesions=(lesion,))
    ds = RegionDataset.from_records([rec])
    labels = shifted_content_labels(ds, 0.5)
    # window 0 now shows [-10, -10, 70, 70]: no longer touches the lesion; window 1 shows
    # [60, 60, 140, 140], which now holds the whole lesion; window 2 shows [75, 0, 155, 80]: a part of it
    assert labels.tolist() == [0, 1, -1]


def test_identity_and_keys():
    pixels = np.zeros((10, 10))
    boxes = np.array([[1, 2, 3, 4]])
    seen, same = view_of(pixels, boxes, "identity")
    assert seen is pixels and (same == boxes).all()
    assert view_key("handcrafted:1") == "handcrafted:1" and view_key("handcrafted:1", "flip_lr") == "handcrafted:1|flip_lr"
    with pytest.raises(ValueError, match="unknown view"):
        view_of(pixels, boxes, "rot45")
