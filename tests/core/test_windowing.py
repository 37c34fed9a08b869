"""core.windowing: the DICOM linear window, LUT == arithmetic, presets."""

from __future__ import annotations


import numpy as np

from mammo_annotator.core.types import ImageMeta
from mammo_annotator.core.windowing import (dense_window, dicom_window, full_range_window, percentile_window,
                                            to_display, window_presets)


def test_dicom_linear_window_endpoints():
    px = np.array([[0, 1023, 2047, 3071, 4095]], dtype=np.uint16)
    out = to_display(px, 2048, 4096)
    assert out.dtype == np.uint8 and out[0, 0] == 0 and out[0, -1] == 255 and 126 <= out[0, 2] <= 129
    assert np.all(np.diff(out[0].astype(int)) > 0)
    assert np.array_equal(to_display(px, 2048, 4096, invert=True), 255 - out)


def test_lut_matches_float_path():
    rng = np.random.default_rng(0)
    px = rng.integers(0, 4096, (50, 60)).astype(np.uint16)
    for c, w in [(2047, 4095), (800, 300), (3000.5, 2)]:
        assert np.array_equal(to_display(px, c, w), to_display(px.astype(np.float32), c, w))
    signed = rng.integers(-1000, 1000, (20, 20)).astype(np.int16)
    assert np.array_equal(to_display(signed, 0, 500), to_display(signed.astype(np.float64), 0, 500))


def test_a_full_field_image_through_the_lookup_table_equals_the_formula():
    """Its speed is in benchmarks/bench_core.py (no timed assertions here: the machines are shared)."""
    px = np.random.default_rng(1).integers(0, 16384, (512, 416)).astype(np.uint16)
    assert np.array_equal(to_display(px, 8000, 6000), to_display(px.astype(np.float64), 8000, 6000))


def test_presets():
    rng = np.random.default_rng(2)
    px = np.zeros((100, 100), np.uint16)
    mask = np.zeros_like(px, bool)
    mask[20:80, 20:80] = True
    px[mask] = rng.integers(1000, 3000, mask.sum())
    meta = ImageMeta("x", 100, 100, window_center=1500, window_width=1000)
    presets = window_presets(px, meta, mask)
    assert list(presets)[0] == "DICOM" and presets["DICOM"] == dicom_window(meta)
    breast = percentile_window(px, mask)
    assert 950 < breast.low < 1100 and 2900 < breast.high < 3050  # background zeros ignored
    dense = dense_window(px, mask)
    assert dense.low > breast.low and dense.width < breast.width
    full = full_range_window(px)
    assert full.low <= 0 and full.high >= px.max() - 1
    assert dicom_window(ImageMeta("y", 1, 1)) is None


def test_reading_presets_are_stable_and_the_dicom_window_is_the_default_when_real():
    from types import SimpleNamespace

    from mammo_annotator.core.windowing import AUTO, DICOM, READING_PRESETS, default_preset, reading_presets

    px = np.random.default_rng(0).integers(0, 4096, size=(64, 64)).astype(np.uint16)
    none = SimpleNamespace(window_center=None, window_width=None)
    real = SimpleNamespace(window_center=1800.0, window_width=900.0)
    washed = SimpleNamespace(window_center=2047.0, window_width=4095.0)
    for meta in (None, none, real):
        assert tuple(reading_presets(px, meta)) == READING_PRESETS
    assert reading_presets(px, real)[DICOM].width == 900.0
    assert "no DICOM window" in reading_presets(px, none)[DICOM].name
    assert default_preset(real, 12) == DICOM
    assert default_preset(washed, 12) == AUTO  # the modality's full-range default opens washed out
    assert default_preset(none, 12) == AUTO and default_preset(None) == AUTO
