"""Unusual but real-world DICOM headers: each is read as the image it is, or refused by name.

Each test failed before its fix: a no-file-meta dataset was refused, a lower-case or missing
PhotometricInterpretation was refused, RescaleSlope 0 gave a blank image, a MONOCHROME1 window
with a rescale was mirrored in the wrong units, a codestream wider than BitsStored was scrambled
by the inversion, a big-endian image kept a non-native dtype, and header texts were kept multi-
valued, too long for the database, or with replacement characters that merge patients.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRBigEndian

from mammo_annotator.core.errors import ImageReadError
from mammo_annotator.core.imageio import read_image
from mammo_annotator.core.windowing import dicom_window, to_display

from .factories import make_dicom


def _ramp(h: int = 40, w: int = 64) -> np.ndarray:
    return np.tile(np.arange(0, 4096, 4096 // w, dtype=np.uint16)[:w], (h, 1))


def test_a_dataset_without_file_meta_is_read(tmp_path):
    """No preamble and no group 0002 (ACR-NEMA style): implicit VR little endian by definition."""
    src = make_dicom(tmp_path / "src.dcm", _ramp())
    ds = pydicom.dcmread(src)
    del ds.file_meta
    ds.preamble = None
    ds.save_as(tmp_path / "raw.dcm", implicit_vr=True, little_endian=True, enforce_file_format=False)
    assert b"DICM" not in (tmp_path / "raw.dcm").read_bytes()[:256]  # no preamble, no file meta
    im = read_image(tmp_path / "raw.dcm")
    assert np.array_equal(im.pixels, _ramp())


def test_a_big_endian_image_has_native_pixels(tmp_path):
    path = make_dicom(tmp_path / "be.dcm", pixel_bytes=_ramp().astype(">u2").tobytes(), shape=_ramp().shape,
                      transfer_syntax=ExplicitVRBigEndian)
    im = read_image(path)
    assert im.pixels.dtype == np.uint16 and im.pixels.dtype.isnative
    assert np.array_equal(im.pixels, _ramp())


@pytest.mark.parametrize("stated, inverted", [("monochrome1", True), ("monochrome2", False), (None, False)])
def test_photometric_lower_case_or_missing(tmp_path, lenient_writer, stated, inverted):
    path = make_dicom(tmp_path / "p.dcm", _ramp(), photometric=stated or "MONOCHROME2")
    if stated is None:
        ds = pydicom.dcmread(path)
        del ds.PhotometricInterpretation
        ds.save_as(path)
    im = read_image(path)
    assert im.meta.photometric == "MONOCHROME2"
    expected = 4095 - _ramp() if inverted else _ramp()
    assert np.array_equal(im.pixels, expected)
    if stated is None:
        assert any("PhotometricInterpretation is missing" in w for w in im.meta.warnings)


def test_a_zero_rescale_slope_does_not_blank_the_image(tmp_path):
    im = read_image(make_dicom(tmp_path / "s.dcm", _ramp(), RescaleSlope="0", RescaleIntercept="100"))
    assert np.array_equal(im.pixels, _ramp())
    assert any("RescaleSlope is 0" in w for w in im.meta.warnings)


def test_monochrome1_window_is_mirrored_on_the_rescaled_values(tmp_path):
    """Stored v, rescaled r = v - 1024, window centre 500 (on r): the pixel whose rescaled value
    is the centre must show mid-grey after the inversion, as on a workstation."""
    img = _ramp()
    path = make_dicom(tmp_path / "m1.dcm", img, photometric="MONOCHROME1", RescaleSlope="1",
                      RescaleIntercept="-1024", WindowCenter="512", WindowWidth="200")
    im = read_image(path)
    w = dicom_window(im.meta)
    col = int(np.where(img[0] == 1536)[0][0])  # stored 1536 -> rescaled 512, the window's centre
    grey = int(to_display(im.pixels, w.center, w.width)[0, col])
    assert 110 <= grey <= 145, (w, grey)
    # and brighter stored (less dense in MONOCHROME1) is darker on screen
    disp = to_display(im.pixels, w.center, w.width)[0]
    assert disp[col - 2] >= disp[col] >= disp[col + 2]


def test_a_codestream_wider_than_bits_stored_is_not_scrambled(tmp_path, real_dicom_path):
    """The real JPEG 2000 file holds 12-bit values; its header made to say BitsStored 8 with
    MONOCHROME1: the inversion must cover the values there are, not wrap them around."""
    ds = pydicom.dcmread(real_dicom_path)
    ds.BitsStored, ds.HighBit, ds.PhotometricInterpretation = 8, 7, "MONOCHROME1"
    ds.save_as(tmp_path / "b8.dcm")
    original = read_image(real_dicom_path).pixels
    im = read_image(tmp_path / "b8.dcm")
    assert im.meta.bits_stored == 12
    assert np.array_equal(im.pixels.astype(np.int64), 4095 - original.astype(np.int64))
    assert any("BitsStored is 8" in w for w in im.meta.warnings)


def test_a_multi_valued_view_or_laterality_is_left_unknown(tmp_path, lenient_writer):
    im = read_image(make_dicom(tmp_path / "v.dcm", _ramp(), ViewPosition=["CC", "MLO"], ImageLaterality=["L", "R"]))
    assert im.meta.view is None and im.meta.laterality is None
    assert any("ViewPosition has 2 values" in w for w in im.meta.warnings)
    assert any("ImageLaterality has 2 values" in w for w in im.meta.warnings)
    assert read_image(make_dicom(tmp_path / "l.dcm", _ramp(), ViewPosition="mlo")).meta.view == "MLO"


@pytest.mark.parametrize("keyword, value", [
    ("ViewPosition", "X" * 40), ("Modality", "MAMMOGRAPHY_DIGITAL"), ("PatientID", "P" * 500),
    ("StudyInstanceUID", "1." + "2" * 200), ("SOPInstanceUID", "1." + "3" * 200)])
def test_header_texts_too_long_for_the_database_are_left_unknown(tmp_path, lenient_writer, keyword, value):
    im = read_image(make_dicom(tmp_path / "t.dcm", _ramp(), **{keyword: value}))
    attr = {"ViewPosition": "view", "Modality": "modality", "PatientID": "patient_id",
            "StudyInstanceUID": "study_uid", "SOPInstanceUID": "sop_instance_uid"}[keyword]
    assert getattr(im.meta, attr) is None
    assert any(w.startswith(f"{keyword} is {len(value)} characters long") for w in im.meta.warnings)


def test_patient_ids_in_a_wrong_character_set_stay_distinct(tmp_path):
    """Latin-1 bytes in a file that says UTF-8: "Jörg" and "Jürg" must not both become "J\ufffdrg"."""
    ids = []
    for name, raw in (("a", b"J\xf6rg"), ("b", b"J\xfcrg")):
        path = make_dicom(tmp_path / f"{name}.dcm", _ramp(), SpecificCharacterSet="ISO_IR 192", PatientID="Jxrg")
        path.write_bytes(path.read_bytes().replace(b"Jxrg", raw))
        im = read_image(path)
        ids.append(im.meta.patient_id)
        assert any("PatientID is not valid" in w for w in im.meta.warnings)
    assert ids == ["Jörg", "Jürg"]


@pytest.mark.parametrize("spacing", [["0", "0"], ["-1", "-1"], ["0.07"], ["0.07", "0.07", "0.07"]])
def test_an_unusable_spacing_is_named_in_a_warning(tmp_path, lenient_writer, spacing):
    meta = read_image(make_dicom(tmp_path / "s.dcm", _ramp(), PixelSpacing=spacing)).meta
    assert meta.pixel_spacing_mm is None
    assert any(w.startswith("PixelSpacing is") and "ignored" in w for w in meta.warnings), meta.warnings


def test_an_absurd_spacing_gives_a_short_warning(tmp_path, lenient_writer):
    meta = read_image(make_dicom(tmp_path / "s.dcm", _ramp(), PixelSpacing=["1e300", "1e300"])).meta
    (warning,) = [w for w in meta.warnings if w.startswith("PixelSpacing")]
    assert len(warning) < 200 and "e+" in warning


def test_a_codestream_of_another_size_than_the_header_says(tmp_path, real_dicom_path):
    ds = pydicom.dcmread(real_dicom_path)
    ds.Rows = ds.Rows // 2
    ds.save_as(tmp_path / "half.dcm")
    with pytest.raises(ImageReadError) as info:
        read_image(tmp_path / "half.dcm")
    assert info.value.path == str(tmp_path / "half.dcm")
    assert "does not have the size the header gives" in info.value.reason


def test_an_image_header_without_its_image_is_not_called_truncated(tmp_path):
    """A complete header-only file (elements after Rows' tag, no Rows and no pixels) was reported as
    truncated; a file that really stops before the image attributes still is."""
    src = make_dicom(tmp_path / "src.dcm", _ramp())
    ds = pydicom.dcmread(src)
    for keyword in ("Rows", "Columns", "PixelData"):
        delattr(ds, keyword)
    ds.save_as(tmp_path / "header_only.dcm", enforce_file_format=True)
    assert list(ds.keys())[-1] > 0x00280010
    with pytest.raises(ImageReadError, match="without its image: it has no Rows and no Pixel Data") as err:
        read_image(tmp_path / "header_only.dcm")
    assert "header_only.dcm" in str(err.value)
    cut = pydicom.dcmread(src)
    for tag in [t for t in cut.keys() if t >= 0x00280000]:
        del cut[tag]
    cut.save_as(tmp_path / "cut.dcm", enforce_file_format=True)
    with pytest.raises(ImageReadError, match="truncated: the header stops at tag"):
        read_image(tmp_path / "cut.dcm")


def test_header_values_ignored_are_said(tmp_path, lenient_writer):
    """A laterality conflict, a rescale that is not a number and a window width of 0 were each
    resolved silently; the image still reads, and the warnings name what was set aside."""
    src = make_dicom(tmp_path / "src.dcm", _ramp())
    ds = pydicom.dcmread(src)
    ds.ImageLaterality, ds.Laterality = "L", "R"
    ds.RescaleSlope, ds.RescaleIntercept = "9.75", "0"
    ds.WindowCenter, ds.WindowWidth = "2048", "0"
    ds.save_as(tmp_path / "odd.dcm", enforce_file_format=True)
    data = (tmp_path / "odd.dcm").read_bytes()
    assert data.count(b"9.75") == 1  # pydicom refuses to set "abc" itself: patched in the file, as a modality wrote it
    (tmp_path / "odd.dcm").write_bytes(data.replace(b"9.75", b"abc "))
    im = read_image(tmp_path / "odd.dcm")
    said = " | ".join(im.meta.warnings)
    assert im.meta.laterality == "L" and "Laterality R disagree" in said
    assert "RescaleSlope is 'abc', not a number" in said and np.array_equal(im.pixels, _ramp())
    assert im.meta.window_width is None and "WindowWidth is 0, not positive" in said
    ds.ImageLaterality, ds.RescaleSlope = "X", "1"
    ds.save_as(tmp_path / "x.dcm", enforce_file_format=True)
    im = read_image(tmp_path / "x.dcm")
    assert im.meta.laterality == "R" and "ImageLaterality is 'X', not L or R; ignored" in " | ".join(im.meta.warnings)


def test_lookup_table_sequences_are_applied(tmp_path):
    """A Modality or VOI LUT Sequence was ignored (with a warning saying so); both are applied now:
    the modality table to the pixels, the VOI table as the DICOM window (tests/core/test_voi.py)."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from mammo_annotator.core.windowing import DICOM, reading_presets, render

    src = make_dicom(tmp_path / "src.dcm", _ramp())
    ds = pydicom.dcmread(src)
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.add_new(0x00283006, "OW", np.arange(4095, -1, -1, dtype="<u2").tobytes())  # LUTData: an inverting table
    ds.ModalityLUTSequence, ds.VOILUTSequence = Sequence([item]), Sequence([item])
    ds.save_as(tmp_path / "lut.dcm", enforce_file_format=True)
    im = read_image(tmp_path / "lut.dcm")
    said = " | ".join(im.meta.warnings)
    assert "not applied" not in said and "Modality LUT Sequence applied" in said
    assert np.array_equal(im.pixels, 4095 - _ramp())  # the modality table's values
    shown = render(im.pixels, reading_presets(im.pixels, im.meta)[DICOM])
    expected = np.rint((4095 - (4095 - _ramp()).astype(float)) * 255 / 65535)  # the VOI table on them
    assert np.array_equal(shown, expected)
