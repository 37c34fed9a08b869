"""Images whose header lies (decompression bombs, unknown VRs) are refused before decoding, and
the import pipeline's own arrays stay bounded by the image size."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image

from mammo_annotator.core.breast_mask import _downsample
from mammo_annotator.core.errors import ImageReadError
from mammo_annotator.core.imageio import MAX_MEGAPIXELS_ENV, max_pixels, png_size, read_image
from mammo_annotator.core.regions import inside_fractions

from .factories import make_dicom


def png_claiming(path, width: int, height: int):
    """A small valid PNG whose IHDR then claims ``width`` x ``height`` (CRC fixed, as a bomb has)."""
    Image.fromarray(np.full((8, 8), 100, np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("side", [20_000, (1 << 31) - 1])  # 400 Mpx, and about 2^62 pixels
def test_png_bomb_refused_from_the_header(tmp_path, side):
    path = png_claiming(tmp_path / "bomb.png", side, side)
    assert png_size(path) == (side, side)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert info.value.path == str(path) and "Mpx" in info.value.reason and "limit of 200 Mpx" in info.value.reason


def test_limit_is_configurable(tmp_path, monkeypatch):
    Image.fromarray(np.full((40, 30), 9, np.uint8)).save(tmp_path / "a.png")
    tifffile.imwrite(tmp_path / "a.tif", np.full((40, 30), 9, np.uint16))
    make_dicom(tmp_path / "a.dcm", np.full((40, 30), 9, np.uint16))
    assert max_pixels() == 200_000_000
    monkeypatch.setenv(MAX_MEGAPIXELS_ENV, "0.001")  # 1000 pixels
    assert max_pixels() == 1000
    for name in ("a.png", "a.tif", "a.dcm"):
        with pytest.raises(ImageReadError, match="30 x 40 pixels"):
            read_image(tmp_path / name)
        assert read_image(tmp_path / name, limit=1200).pixels.shape == (40, 30)


def test_dicom_header_claiming_a_huge_image(tmp_path):
    path = make_dicom(tmp_path / "huge.dcm", pixel_bytes=b"\0" * 64, shape=(60_000, 60_000))
    with pytest.raises(ImageReadError, match="3,600 Mpx"):
        read_image(path)


def test_unknown_vr_in_patient_id(tmp_path):
    """A bit flip in the header's VR: pydicom fails only when the element is read."""
    path = make_dicom(tmp_path / "vr.dcm", np.full((16, 16), 7, np.uint16), PatientID="P001")
    data = path.read_bytes()
    tag = b"\x10\x00\x20\x00LO"
    assert data.count(tag) == 1
    path.write_bytes(data.replace(tag, b"\x10\x00\x20\x00Q\x19"))
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert info.value.path == str(path) and "DICOM" in info.value.reason


def test_region_fractions_equal_the_full_integral_image():
    rng = np.random.default_rng(0)
    for _ in range(100):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        mask = rng.random((h, w)) < rng.random()
        xs, ys = rng.integers(0, w + 1, (12, 2)), rng.integers(0, h + 1, (12, 2))
        boxes = np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], 1)
        integral = np.pad(mask.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        x0, y0, x1, y1 = boxes.T
        want = (integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]) / np.maximum((x1 - x0) * (y1 - y0), 1)
        assert np.allclose(inside_fractions(mask, boxes), want)


def test_banded_downsample_equals_the_block_mean():
    pixels = np.random.default_rng(1).integers(0, 4096, (1537, 1100)).astype(np.uint16)
    small, f = _downsample(pixels, 512, band_rows=7)
    h, w = (1537 // f) * f, (1100 // f) * f
    want = pixels[:h, :w].astype(np.float64).reshape(h // f, f, w // f, f).mean(axis=(1, 3))
    assert f == 4 and small.shape == want.shape and np.allclose(small, want, atol=1e-3)


@pytest.mark.timeout(20)
def test_a_pipe_named_like_an_image_does_not_block(tmp_path):
    import os

    from mammo_annotator.core.imageio import content_sha256

    os.mkfifo(tmp_path / "pipe.dcm")
    with pytest.raises(ImageReadError, match="not a regular file"):
        content_sha256(tmp_path / "pipe.dcm")
    with pytest.raises(ImageReadError, match="not a regular file"):
        read_image(tmp_path / "pipe.dcm")
    with pytest.raises(ImageReadError, match="is a folder"):
        content_sha256(tmp_path)


# ---------------------------------------------------------------- header values that cannot be true

def _image(h=400, w=300):
    return (np.arange(h * w).reshape(h, w) % 4096).astype(np.uint16)


def _refusal(path) -> str:
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert info.value.path == str(path)
    return info.value.reason


@pytest.mark.parametrize("spacing", [["5", "5"], ["inf", "inf"], ["nan", "nan"], ["0.001", "0.001"]])
def test_an_impossible_pixel_spacing_is_left_unknown_with_a_warning(tmp_path, lenient_writer, spacing):
    path = make_dicom(tmp_path / "a.dcm", _image(), PixelSpacing=spacing)
    meta = read_image(path).meta
    assert meta.pixel_spacing_mm is None
    if spacing[0] != "nan":  # NaN is not a positive number: not even considered, as before
        assert any(w.startswith("PixelSpacing") and "ignored" in w for w in meta.warnings), meta.warnings


def test_the_imager_spacing_is_used_when_the_pixel_spacing_is_impossible(tmp_path):
    meta = read_image(make_dicom(tmp_path / "a.dcm", _image(), PixelSpacing=[5, 5], ImagerPixelSpacing=[0.1, 0.1])).meta
    assert meta.pixel_spacing_mm == (0.1, 0.1)
    assert any("would make the image 150 x 200 cm" in w for w in meta.warnings), meta.warnings


@pytest.mark.parametrize("slope, intercept", [("NaN", "0"), ("1", "inf"), ("1e300", "0"), ("1.5e38", "0.5")])
def test_a_rescale_that_gives_no_numbers_is_refused(tmp_path, lenient_writer, slope, intercept):
    path = make_dicom(tmp_path / "r.dcm", _image(), RescaleSlope=slope, RescaleIntercept=intercept)
    reason = _refusal(path)
    assert "not finite" in reason or "NaN or infinite" in reason


def test_float_images_with_nan_samples_are_refused(tmp_path):
    arr = np.random.default_rng(0).random((64, 48)).astype(np.float32)
    arr[3, 4] = np.nan
    arr[5, 6] = np.inf
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, arr)
    assert "holds 2 NaN or infinite samples" in _refusal(path)


@pytest.mark.parametrize("center, width", [("nan", "400"), ("1000", "inf"), ("-inf", "400")])
def test_a_window_that_is_no_number_is_not_the_default_display(tmp_path, lenient_writer, center, width):
    from mammo_annotator.core.windowing import window_presets

    im = read_image(make_dicom(tmp_path / "w.dcm", _image(), WindowCenter=center, WindowWidth=width))
    assert im.meta.window_center is None and im.meta.window_width is None
    assert any("DICOM window is not finite" in w for w in im.meta.warnings)
    presets = window_presets(im.pixels, im.meta)
    assert "DICOM" not in presets and all(np.isfinite([w.center, w.width]).all() for w in presets.values())


@pytest.mark.parametrize("shape", [(5000, 2), (2, 5000), (60_000, 3), (8, 5000)])
def test_a_very_elongated_image_gets_an_empty_breast_mask(shape):
    """The block factor came from the long side alone, so the short side shrank to 0 pixels and
    the mask raised an IndexError for a 5000 x 2 image."""
    from mammo_annotator.core.breast_mask import breast_mask

    pixels = np.full(shape, 90, np.uint16)
    pixels[: shape[0] // 2] = 3000
    small, f = _downsample(pixels)
    assert min(small.shape) >= 1 and f <= min(shape)
    mask = breast_mask(pixels)
    assert mask.shape == shape and mask.dtype == bool


def test_a_dicom_of_one_pixel_is_refused_like_a_png(tmp_path):
    for path in (make_dicom(tmp_path / "one.dcm", np.full((1, 1), 7, np.uint16)),
                 make_dicom(tmp_path / "row.dcm", np.full((1, 300), 7, np.uint16))):
        with pytest.raises(ImageReadError, match=r"the image is only \d+ x 1 pixels"):
            read_image(path)
