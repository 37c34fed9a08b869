"""core.imageio: every reader and every bad input gives a LoadedImage or a specific ImageReadError."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import tifffile
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import UID

from mammo_annotator.core.errors import ImageReadError
from mammo_annotator.core.imageio import content_sha256, read_dicom_header, read_image

from .factories import make_dicom


def _ramp(h=40, w=30, top=4095):
    return (np.arange(h * w).reshape(h, w) % (top + 1)).astype(np.uint16)


def _reason(path) -> str:
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert info.value.path == str(path)
    return info.value.reason


# ---------------------------------------------------------------- real data

def test_real_jpeg2000_dicom(real_dicom_path):
    im = read_image(real_dicom_path)
    assert im.pixels.shape == (4664, 3064) and im.pixels.dtype == np.uint16
    assert int(im.pixels.max()) <= 4095
    m = im.meta
    assert (m.width, m.height, m.bits_stored) == (3064, 4664, 12)
    assert m.laterality == "L" and m.view == "MLO" and m.modality == "RG"
    assert m.window_center == 2047 and m.window_width == 4095
    assert m.pixel_spacing_mm is None and m.patient_id == "3MG1"
    assert m.sop_instance_uid and m.study_uid and m.series_uid
    assert any("not MG" in w for w in m.warnings)
    header = read_dicom_header(real_dicom_path)
    assert "PixelData" not in header and header.PatientID == "3MG1"


# ---------------------------------------------------------------- DICOM

def test_dicom_basic_metadata(tmp_path):
    p = make_dicom(tmp_path / "a.dcm", _ramp(), ImageLaterality="R", ViewPosition="CC",
                   PixelSpacing=[0.07, 0.07], WindowCenter=1000, WindowWidth=500)
    im = read_image(p)
    assert np.array_equal(im.pixels, _ramp())
    m = im.meta
    assert (m.laterality, m.view, m.pixel_spacing_mm) == ("R", "CC", (0.07, 0.07))
    assert (m.window_center, m.window_width, m.modality, m.warnings) == (1000, 500, "MG", ())


def test_dicom_any_extension_and_fallbacks(tmp_path):
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "399368009", "SCT", "medio-lateral oblique"
    p = make_dicom(tmp_path / "image.png", _ramp(), Laterality="L", ImagerPixelSpacing=[0.1, 0.1],
                   ViewCodeSequence=Sequence([item]))
    m = read_image(p).meta  # DICM preamble wins over the .png name
    assert (m.laterality, m.view, m.pixel_spacing_mm) == ("L", "MLO", (0.1, 0.1))


def test_dicom_missing_laterality_and_view(tmp_path):
    m = read_image(make_dicom(tmp_path / "a.dcm", _ramp())).meta
    assert m.laterality is None and m.view is None and m.pixel_spacing_mm is None


def test_monochrome1_is_inverted(tmp_path):
    px = np.array([[0, 100], [4000, 4095]], dtype=np.uint16)
    im = read_image(make_dicom(tmp_path / "m1.dcm", px, photometric="MONOCHROME1", WindowCenter=1000, WindowWidth=400))
    assert im.pixels.tolist() == [[4095, 3995], [95, 0]]
    # LINEAR's centre mirrors to 4095 - 1000 + 1 (PS3.3 C.11.2.1.2.1 is not symmetric about it)
    assert im.meta.photometric == "MONOCHROME2" and im.meta.window_center == 3096
    assert any("MONOCHROME1" in w for w in im.meta.warnings)


def test_non_identity_rescale_is_applied(tmp_path):
    im = read_image(make_dicom(tmp_path / "r.dcm", _ramp(top=100), RescaleSlope=2, RescaleIntercept=10))
    assert int(im.pixels[0, 0]) == 10 and int(im.pixels[0, 5]) == 20
    assert any("rescale" in w for w in im.meta.warnings)


def test_other_modality_warns(tmp_path):
    im = read_image(make_dicom(tmp_path / "ct.dcm", _ramp(), modality="CT"))
    assert any("CT" in w for w in im.meta.warnings)


def test_dicom_without_pixel_data(tmp_path):
    from pydicom.uid import BasicTextSRStorage

    assert "no pixel data" in _reason(make_dicom(tmp_path / "sr.dcm", None, SOPClassUID=BasicTextSRStorage))


def test_truncated_dicom(tmp_path):
    p = make_dicom(tmp_path / "t.dcm", _ramp(200, 200))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 30000])
    assert "truncated" in _reason(p)
    p.write_bytes(data[:400])  # cut inside the header
    assert "truncated" in _reason(p)


def test_garbage_and_missing(tmp_path):
    g = tmp_path / "junk.dcm"
    g.write_bytes(b"\x01garbage bytes, not a dicom" * 50)
    assert "not a DICOM" in _reason(g)
    g2 = tmp_path / "junk.png"
    g2.write_bytes(b"hello" * 100)
    assert "not an image" in _reason(g2)
    assert "not found" in _reason(tmp_path / "absent.dcm")
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    assert "empty" in _reason(empty)


def test_unsupported_compression_names_transfer_syntax(tmp_path):
    ts = UID("1.2.840.10008.1.2.4.92")  # JPEG 2000 Part 2: no pydicom decoder exists
    p = make_dicom(tmp_path / "c.dcm", transfer_syntax=ts, pixel_bytes=encapsulate([b"\x00" * 64]), shape=(8, 8))
    reason = _reason(p)
    assert "1.2.840.10008.1.2.4.92" in reason and "no pydicom decoder" in reason


def test_missing_plugin_names_the_package(tmp_path, monkeypatch):
    import pydicom.pixels

    class NoPlugins:
        is_available = False

    monkeypatch.setattr(pydicom.pixels, "get_decoder", lambda uid: NoPlugins())
    ts = UID("1.2.840.10008.1.2.4.90")
    p = make_dicom(tmp_path / "j.dcm", transfer_syntax=ts, pixel_bytes=encapsulate([b"\x00" * 64]), shape=(8, 8))
    reason = _reason(p)
    assert "JPEG 2000" in reason and "pylibjpeg-openjpeg" in reason


def test_corrupt_compressed_stream(tmp_path):
    ts = UID("1.2.840.10008.1.2.4.90")
    p = make_dicom(tmp_path / "bad.dcm", transfer_syntax=ts, pixel_bytes=encapsulate([b"\xff\x4f" + b"\x00" * 62]),
                   shape=(8, 8))
    assert "could not decode" in _reason(p)


def test_multiframe_and_colour_rejected(tmp_path):
    p = make_dicom(tmp_path / "mf.dcm", _ramp(8, 8), NumberOfFrames=3)
    assert "multi-frame" in _reason(p)
    p = make_dicom(tmp_path / "rgb.dcm", _ramp(8, 8), photometric="RGB")
    assert "colour" in _reason(p)


# ---------------------------------------------------------------- PNG / TIFF

def test_png_8_and_16_bit(tmp_path):
    a8 = (np.arange(64 * 48) % 256).astype(np.uint8).reshape(64, 48)
    Image.fromarray(a8).save(tmp_path / "a8.png")
    im = read_image(tmp_path / "a8.png")
    assert im.pixels.dtype == np.uint8 and np.array_equal(im.pixels, a8) and im.meta.bits_stored == 8
    a16 = (np.arange(64 * 48) * 20).astype(np.uint16).reshape(64, 48)
    Image.fromarray(a16).save(tmp_path / "a16.png")
    im = read_image(tmp_path / "a16.png")
    assert im.pixels.dtype == np.uint16 and np.array_equal(im.pixels, a16)
    assert (im.meta.width, im.meta.height) == (48, 64)


def test_png_colour_rules(tmp_path):
    g = np.random.default_rng(0).integers(0, 255, (20, 20), dtype=np.uint8)
    Image.fromarray(np.stack([g] * 3, -1)).save(tmp_path / "grey_rgb.png")
    im = read_image(tmp_path / "grey_rgb.png")
    assert np.array_equal(im.pixels, g) and im.meta.warnings
    c = np.stack([g, g // 2, g], -1)
    Image.fromarray(c).save(tmp_path / "colour.png")
    assert "colour" in _reason(tmp_path / "colour.png")


def test_truncated_png(tmp_path):
    a = np.random.default_rng(1).integers(0, 65535, (300, 300), dtype=np.uint16)
    Image.fromarray(a).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    assert "truncated" in _reason(tmp_path / "t.png") or "corrupt" in _reason(tmp_path / "t.png")


def test_tiff_16_bit_and_multipage(tmp_path):
    a16 = (np.arange(50 * 40) * 30 % 65536).astype(np.uint16).reshape(50, 40)
    tifffile.imwrite(tmp_path / "a.tif", a16)
    im = read_image(tmp_path / "a.tif")
    assert im.pixels.dtype == np.uint16 and np.array_equal(im.pixels, a16)
    tifffile.imwrite(tmp_path / "a8.tiff", (a16 // 256).astype(np.uint8))
    assert read_image(tmp_path / "a8.tiff").pixels.dtype == np.uint8
    tifffile.imwrite(tmp_path / "stack.tif", np.stack([a16, a16, a16, a16]), photometric="minisblack")
    assert "multi-page" in _reason(tmp_path / "stack.tif")
    data = (tmp_path / "a.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[:200])
    assert "TIFF" in _reason(tmp_path / "cut.tif")


def test_content_sha256(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(b"abc" * 1_000_000)
    assert content_sha256(p) == hashlib.sha256(b"abc" * 1_000_000).hexdigest()
    with pytest.raises(ImageReadError):
        content_sha256(tmp_path / "nope")


def test_dicom_accession_number_and_study_date(tmp_path):
    """Read for the worklist search; a value that is not one is left unknown with a warning."""
    import warnings

    px = np.full((64, 48), 500, np.uint16)

    def meta(name, **attrs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns when writing the invalid values on purpose
            return read_image(make_dicom(tmp_path / name, px, **attrs)).meta

    m = meta("a.dcm", AccessionNumber="RIS-0815 ", StudyDate="20240105")
    assert (m.accession_number, m.study_date) == ("RIS-0815", "20240105")
    assert not any("Accession" in w or "StudyDate" in w for w in m.warnings)
    assert meta("b.dcm", StudyDate="2024.01.05").study_date == "20240105"  # the ACR-NEMA form
    m = meta("c.dcm")
    assert (m.accession_number, m.study_date) == (None, None)
    m = meta("d.dcm", StudyDate="yesterday", AccessionNumber="X" * 70)
    assert (m.accession_number, m.study_date) == (None, None)
    assert any("StudyDate is 'yesterday'" in w for w in m.warnings)
    assert any("AccessionNumber is 70 characters" in w for w in m.warnings)
