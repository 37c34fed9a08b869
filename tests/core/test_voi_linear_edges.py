"""The LINEAR window (PS3.3 C.11.2.1.2.1) at its edges, which the reviewer found off:

* a MONOCHROME1 image's window was mirrored as ``M - c``; the LINEAR formula is not symmetric
  about ``c`` (its black edge is ``c - 0.5 - (w-1)/2``), so the mirror is ``M - c + 1``: before,
  every grey between the edges was 255/(w-1) darker than the standard's (the sigmoid and
  LINEAR_EXACT are symmetric about ``c`` and keep ``M - c``);
* a width of exactly 1 showed the value ``c - 0.5`` white; the standard shows it black
  (``x <= c - 0.5 - (w-1)/2``);
* a width below 1 (a header's WindowWidth "0.5") gave the screen reversed levels, so the canvas
  showed the image inverted while ``render`` showed it as a width of 1.
"""

from __future__ import annotations

import numpy as np

from mammo_annotator.core.imageio import read_image
from mammo_annotator.core.windowing import DICOM, Window, reading_presets, screen_mapping, voi

from .factories import make_dicom


def _standard_linear(x, c: float, w: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 written out case by case, output range 0..255."""
    x = np.asarray(x, dtype=np.float64)
    y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255.0 if w > 1 else np.zeros_like(x)
    y = np.where(x <= c - 0.5 - (w - 1) / 2, 0.0, y)
    return np.where(x > c - 0.5 + (w - 1) / 2, 255.0, y)


def test_linear_window_of_a_monochrome1_image_is_mirrored_exactly(tmp_path):
    stored = np.array([[0, 800, 900, 950, 1000, 1001], [1050, 1100, 1150, 1199, 1200, 4095]], dtype=np.uint16)
    p = make_dicom(tmp_path / "m1.dcm", stored, photometric="MONOCHROME1", WindowCenter="1000", WindowWidth="400")
    image = read_image(p)
    window = reading_presets(image.pixels, image.meta)[DICOM]
    shown = voi(image.pixels.astype(np.float64), window)
    expected = 255.0 - _standard_linear(stored, 1000.0, 400.0)  # MONOCHROME1: the lowest output is white
    np.testing.assert_allclose(shown, expected, atol=1e-9)


def test_a_width_of_one_is_a_threshold_with_its_edge_black():
    values = np.array([99.0, 100.0, 100.25, 101.0])
    np.testing.assert_array_equal(voi(values, Window(100.5, 1.0)), _standard_linear(values, 100.5, 1.0))


def test_a_width_below_one_is_not_shown_inverted_on_screen():
    window = Window(100.5, 0.5)
    (lo, hi), table = screen_mapping(window)
    assert table is None and lo <= hi, (lo, hi)
    # pyqtgraph maps the levels linearly: below them black, above them white, as ``voi`` does
    values = np.array([90.0, 100.0, 101.0, 120.0])
    on_screen = np.where(values > hi, 255.0, np.where(values <= lo, 0.0, np.nan))
    np.testing.assert_array_equal(on_screen, voi(values, window))
