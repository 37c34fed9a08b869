"""The DICOM display chain: Modality LUT Sequence at read time, then VOILUTFunction (SIGMOID,
LINEAR_EXACT) and the VOI LUT Sequence as the "DICOM window" preset, checked against the
formulas of PS3.3 C.11.1 / C.11.2 at a few pixels.

Each test failed before: the tables were not applied (a warning said so) and every window was
shown linear whatever VOILUTFunction said.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from mammo_annotator.core.imageio import header_voi, read_image
from mammo_annotator.core.windowing import (DICOM, LINEAR, LINEAR_EXACT, SIGMOID, Window, default_preset,
                                            reading_presets, render, to_display)

from .factories import make_dicom

PIXELS = np.array([[0, 500, 1500, 1900, 2000, 2048],
                   [2100, 2200, 2600, 3000, 3500, 4095]], dtype=np.uint16)
PROBES = [(0, 1), (0, 3), (0, 5), (1, 0), (1, 2), (1, 4)]


def _sigmoid(x, c, w):
    return 255.0 / (1.0 + np.exp(-4.0 * (np.asarray(x, float) - c) / w))


def _lut_item(first: int, bits: int, table: np.ndarray, *, as_words: bool = True, descriptor=None) -> Dataset:
    item = Dataset()
    item.LUTDescriptor = list(descriptor) if descriptor is not None else [len(table) % 65536, first, bits]
    if as_words:  # OW: the table as the file's bytes
        item.add_new(0x00283006, "OW", np.asarray(table, "<u2").tobytes())
    else:  # US: a list of numbers
        item.add_new(0x00283006, "US", [int(v) for v in table])
    item.LUTExplanation = "vendor curve"
    return item


def _with(tmp_path, name: str, pixels=PIXELS, photometric="MONOCHROME2", **sequences):
    """A DICOM of ``pixels`` with the given LUT sequences (keyword -> list of items)."""
    src = make_dicom(tmp_path / f"{name}-src.dcm", pixels, photometric=photometric)
    ds = pydicom.dcmread(src)
    for key, items in sequences.items():
        setattr(ds, key, Sequence(items))
    ds.save_as(tmp_path / f"{name}.dcm", enforce_file_format=True)
    return tmp_path / f"{name}.dcm"


def _dicom_preset(image):
    return reading_presets(image.pixels, image.meta)[DICOM]


# ---------------------------------------------------------------- VOILUTFunction

def test_sigmoid_window_follows_the_standard(tmp_path):
    p = make_dicom(tmp_path / "ge.dcm", PIXELS, WindowCenter="2048", WindowWidth="1000", VOILUTFunction="SIGMOID")
    image = read_image(p)
    assert image.meta.voi_function == SIGMOID
    win = _dicom_preset(image)
    assert (win.center, win.width, win.function, win.name) == (2048.0, 1000.0, SIGMOID, DICOM)
    shown = render(image.pixels, win)
    for r, c in PROBES:
        assert shown[r, c] == np.rint(_sigmoid(PIXELS[r, c], 2048, 1000)), (r, c)
    assert shown[0, 5] == 128 and shown[0, 1] == 1  # the middle grey at the centre; no hard clip below it
    assert np.array_equal(to_display(image.pixels, 2048, 1000, function=SIGMOID), shown)
    assert np.array_equal(render(image.pixels.astype(np.float32), win), shown)  # float path == table path
    assert default_preset(image.meta, 12) == DICOM


def test_linear_exact_window_follows_the_standard(tmp_path):
    p = make_dicom(tmp_path / "le.dcm", PIXELS, WindowCenter="2000", WindowWidth="2", VOILUTFunction="linear_exact ")
    image = read_image(p)
    win = _dicom_preset(image)
    assert win.function == LINEAR_EXACT
    shown = render(image.pixels, win)
    # y = ((x - c) / w + 0.5) * 255, clipped (C.11.2.1.3.2): 1999 -> 0, 2000 -> 127.5, 2001 -> 255
    px = np.array([[1998, 1999, 2000, 2001, 2002]], np.uint16)
    assert render(px, win).tolist() == [[0, 0, 128, 255, 255]]
    assert render(px, Window(2000, 2)).tolist() == [[0, 0, 255, 255, 255]]  # LINEAR differs: c - 0.5, w - 1
    assert shown[0, 4] == 128 and shown[0, 3] == 0 and shown[0, 5] == 255


def test_an_unknown_voi_function_is_said_and_read_linear(tmp_path):
    p = make_dicom(tmp_path / "x.dcm", PIXELS, WindowCenter="2048", WindowWidth="1000", VOILUTFunction="GAMMA")
    image = read_image(p)
    assert image.meta.voi_function == LINEAR and _dicom_preset(image).function == LINEAR
    assert "VOILUTFunction is 'GAMMA', not LINEAR, LINEAR_EXACT or SIGMOID" in " | ".join(image.meta.warnings)


def test_sigmoid_of_a_monochrome1_image_is_mirrored_exactly(tmp_path):
    """MONOCHROME1: the lowest VOI output is white. The pixels are inverted at read time, the
    centre mirrored: each pixel must look as the standard shows the stored one, inverted."""
    p = make_dicom(tmp_path / "m1.dcm", PIXELS, photometric="MONOCHROME1", WindowCenter="1500",
                   WindowWidth="800", VOILUTFunction="SIGMOID")
    image = read_image(p)
    shown = render(image.pixels, _dicom_preset(image))
    for r, c in PROBES:
        assert abs(int(shown[r, c]) - (255 - _sigmoid(PIXELS[r, c], 1500, 800))) <= 0.5 + 1e-9, (r, c)


# ---------------------------------------------------------------- VOI LUT Sequence

def _curve(n: int, bits: int) -> np.ndarray:
    """A non-linear table (a square law), the kind no centre / width can express."""
    return np.rint(((1 << bits) - 1) * (np.arange(n) / (n - 1)) ** 2).astype(np.uint16)


@pytest.mark.parametrize("as_words", [True, False], ids=["OW", "US"])
def test_voi_lut_sequence_is_the_dicom_window(tmp_path, as_words):
    table = _curve(3000, 16)
    first = 1000
    p = _with(tmp_path, "voi", VOILUTSequence=[_lut_item(first, 16, table, as_words=as_words)])
    image = read_image(p)
    said = " | ".join(image.meta.warnings)
    assert "not applied" not in said
    assert image.meta.voi_lut is not None and image.meta.voi_lut.explanation == "vendor curve"
    win = _dicom_preset(image)
    assert win.lut is not None and win.name == DICOM
    assert default_preset(image.meta, 12) == DICOM  # a table is the modality's display even without a window
    shown = render(image.pixels, win)
    for r, c in PROBES:
        x = int(PIXELS[r, c])
        k = min(max(x - first, 0), len(table) - 1)  # below / above the table: its first / last entry
        assert shown[r, c] == np.rint(int(table[k]) * 255 / 65535), (r, c)
    assert shown[0, 0] == 0 and shown[1, 5] == 255
    assert 1000 <= win.center - win.width / 2 and win.center + win.width / 2 <= 4001  # what it spans


def test_voi_lut_of_a_monochrome1_image_shows_low_outputs_white(tmp_path):
    table = _curve(4096, 12)
    p = _with(tmp_path, "m1voi", photometric="MONOCHROME1", VOILUTSequence=[_lut_item(0, 12, table)])
    image = read_image(p)
    assert np.array_equal(image.pixels, 4095 - PIXELS)
    shown = render(image.pixels, _dicom_preset(image))
    for r, c in PROBES:
        assert shown[r, c] == np.rint(255 - int(table[PIXELS[r, c]]) * 255 / 4095), (r, c)


def test_every_voi_table_and_the_window_beside_them_are_offered(tmp_path):
    """Before: the second table and the window were dropped ("not offered")."""
    table = _curve(4096, 12)
    p = _with(tmp_path, "two", VOILUTSequence=[_lut_item(0, 12, table), _lut_item(0, 12, table[::-1])])
    ds = pydicom.dcmread(p)
    ds.VOILUTSequence[1].LUTExplanation = "reversed"
    ds.WindowCenter, ds.WindowWidth = "2048", "4096"
    ds.save_as(p, enforce_file_format=True)
    image = read_image(p)
    assert "not offered" not in " | ".join(image.meta.warnings)
    assert image.meta.voi_lut.explanation == "vendor curve"  # the first table is the DICOM window
    second, window = image.meta.voi_others
    assert second.explanation == "reversed" and np.array_equal(second.table, table[::-1])
    assert (window.center, window.width) == (2048.0, 4096.0)
    presets = reading_presets(image.pixels, image.meta)
    assert list(presets)[4:] == [f"{DICOM} 2: reversed", f"{DICOM} 3"]
    shown = render(image.pixels, presets[f"{DICOM} 2: reversed"])
    for r, c in PROBES:
        assert shown[r, c] == np.rint(int(table[::-1][PIXELS[r, c]]) * 255 / 4095), (r, c)


# ---------------------------------------------------------------- Modality LUT Sequence

@pytest.mark.parametrize("as_words", [True, False], ids=["OW", "US"])
def test_modality_lut_sequence_is_applied_at_read_time(tmp_path, as_words):
    """A 12-bit descriptor (which pydicom's own apply_modality_lut refuses), first input 1000."""
    table = (4095 - np.arange(2500) * 1.5).astype(np.uint16)
    p = _with(tmp_path, "mod", ModalityLUTSequence=[_lut_item(1000, 12, table, as_words=as_words)])
    image = read_image(p)
    expected = table[np.clip(PIXELS.astype(int) - 1000, 0, len(table) - 1)]
    assert image.pixels.dtype == np.uint16 and np.array_equal(image.pixels, expected)
    assert image.meta.bits_stored == 12
    said = " | ".join(image.meta.warnings)
    assert "Modality LUT Sequence applied (2500 entries from 1000, 12 bits)" in said and "not applied" not in said


def test_modality_lut_of_a_monochrome1_image_and_its_window(tmp_path):
    """The window is on the table's values: mirrored over the table's output range, like the pixels."""
    table = np.arange(4096, dtype=np.uint16) // 2  # 0..2047 in a 12-bit table
    p = _with(tmp_path, "m1mod", photometric="MONOCHROME1", ModalityLUTSequence=[_lut_item(0, 12, table)])
    ds = pydicom.dcmread(p)
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = "600", "300", "SIGMOID"
    ds.save_as(p, enforce_file_format=True)
    image = read_image(p)
    assert np.array_equal(image.pixels, 4095 - PIXELS // 2)
    assert image.meta.window_center == 4095 - 600
    shown = render(image.pixels, _dicom_preset(image))
    for r, c in PROBES:
        assert abs(int(shown[r, c]) - (255 - _sigmoid(PIXELS[r, c] // 2, 600, 300))) <= 0.5 + 1e-9, (r, c)


@pytest.mark.parametrize("keyword", ["ModalityLUTSequence", "VOILUTSequence"])
@pytest.mark.parametrize("fault,item,said", [
    ("too short", lambda: _lut_item(0, 16, np.arange(100), descriptor=[4096, 0, 16]),
     "table has 100 entries but its LUTDescriptor says 4096; not applied"),
    ("too long", lambda: _lut_item(0, 16, np.arange(5000), descriptor=[4096, 0, 16]),
     "table has 5000 entries but its LUTDescriptor says 4096; not applied"),
    ("bits 0", lambda: _lut_item(0, 0, np.arange(16)), "is not a table of up to 65536 entries of 1 to 16 bits"),
    ("bits 40", lambda: _lut_item(0, 40, np.arange(16)), "is not a table of up to 65536 entries of 1 to 16 bits"),
    ("two values", lambda: _lut_item(0, 16, np.arange(16), descriptor=[16, 0]), "LUTDescriptor is"),
    ("empty data", lambda: _lut_item(0, 16, np.arange(0), descriptor=[16, 0, 16]), "has no table data (LUTData)"),
    ("no item", lambda: None, "is empty; not applied"),
])
def test_a_malformed_table_is_said_and_the_stored_values_kept(tmp_path, keyword, fault, item, said):
    items = [] if item() is None else [item()]
    p = _with(tmp_path, "bad", **{keyword: items})
    image = read_image(p)  # never a crash
    text = " | ".join(image.meta.warnings)
    assert said in text, text
    assert np.array_equal(image.pixels, PIXELS) and image.meta.voi_lut is None


def test_header_voi_reads_what_the_import_put_in_the_meta(tmp_path):
    """What an image opened from a project gets: its record keeps only the window."""
    table = _curve(4096, 12)
    p = _with(tmp_path, "again", photometric="MONOCHROME1", VOILUTSequence=[_lut_item(0, 12, table)])
    ds = pydicom.dcmread(p)
    ds.VOILUTFunction = "SIGMOID"
    ds.save_as(p, enforce_file_format=True)
    image = read_image(p)
    assert header_voi(p, image.meta.bits_stored) == (image.meta.voi_function, image.meta.voi_lut, ()) != (LINEAR, None, ())
    assert header_voi(tmp_path / "gone.dcm") == (LINEAR, None, ())
    (tmp_path / "notes.txt").write_text("not DICOM")
    assert header_voi(tmp_path / "notes.txt") == (LINEAR, None, ())
