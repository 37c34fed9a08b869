"""Refusals that named the wrong reason: a header integer that is not a number ("corrupt DICOM
file (ValueError: invalid literal for int() ...)"), a symbolic link loop ("file not found")."""

from __future__ import annotations

import os

import numpy as np
import pydicom
import pytest

from mammo_annotator.core.errors import ImageReadError
from mammo_annotator.core.imageio import content_sha256, png_size, read_dicom_header, read_image, sniff_format

from .factories import make_dicom

RAMP = np.tile(np.arange(0, 4096, 128, dtype=np.uint16), (8, 1))


def _reason(fn, path) -> str:
    with pytest.raises(ImageReadError) as err:
        fn(path)
    assert str(path) in str(err.value)  # the file is named
    return err.value.reason


def test_number_of_frames_that_is_not_a_number_is_named(tmp_path):
    p = make_dicom(tmp_path / "nf.dcm", RAMP, NumberOfFrames="777777")
    p.write_bytes(p.read_bytes().replace(b"777777", b"abc   "))  # pydicom refuses to write it
    assert pydicom.dcmread(p).NumberOfFrames == "abc"
    assert "the header's NumberOfFrames is 'abc', not a number" in _reason(read_image, p)


@pytest.mark.parametrize("tag,keyword", [(0x00280002, "SamplesPerPixel"), (0x00280100, "BitsAllocated"),
                                         (0x00280010, "Rows"), (0x00280011, "Columns"),
                                         (0x00280103, "PixelRepresentation"), (0x00280101, "BitsStored")])
def test_header_integers_that_are_not_numbers_are_named(tmp_path, tag, keyword):
    """A binary US element written with a text VR (a hostile or broken writer) reads as text."""
    ds = pydicom.dcmread(make_dicom(tmp_path / "src.dcm", RAMP))
    del ds[tag]
    ds.add_new(tag, "LO", "x7")
    ds.save_as(tmp_path / "bad.dcm", enforce_file_format=True)
    assert f"the header's {keyword} is 'x7', not a number" in _reason(read_image, tmp_path / "bad.dcm")


def test_a_whole_number_written_as_text_is_still_read(tmp_path):
    ds = pydicom.dcmread(make_dicom(tmp_path / "src.dcm", RAMP))
    del ds[0x00280101]
    ds.add_new(0x00280101, "LO", "12")
    ds.save_as(tmp_path / "ok.dcm", enforce_file_format=True)
    assert np.array_equal(read_image(tmp_path / "ok.dcm").pixels, RAMP)


def test_a_symbolic_link_loop_is_called_one(tmp_path):
    a, b = tmp_path / "a.dcm", tmp_path / "b.dcm"
    os.symlink(b, a)
    os.symlink(a, b)
    for fn in (read_image, sniff_format, content_sha256, read_dicom_header, png_size):
        assert "symbolic link loop" in _reason(fn, a), fn.__name__  # was: "file not found"


def test_a_link_to_nothing_and_a_missing_file(tmp_path):
    link = tmp_path / "link.dcm"
    os.symlink(tmp_path / "moved.dcm", link)
    for fn in (read_image, content_sha256, read_dicom_header):
        assert "symbolic link to a file that does not exist" in _reason(fn, link)
    assert _reason(read_image, tmp_path / "absent.dcm") == "file not found"


def test_an_empty_file_is_refused_alike_by_every_reader(tmp_path):
    """One refusal in one place (sniff_format and png_size each had their own)."""
    for name in ("e.png", "e.dcm", "e.tif"):
        (tmp_path / name).write_bytes(b"")
        assert _reason(read_image, tmp_path / name) == "the file is empty"
    assert _reason(png_size, tmp_path / "e.png") == "the file is empty"
