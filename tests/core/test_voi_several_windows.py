"""A header with several windows (WindowCenter / WindowWidth multi-valued, with
WindowCenterWidthExplanation, as mammography units write NORMAL, HARDER and SOFTER): the first is
the DICOM window, the others are offered beside it under their names, and the DICOM key steps
through them.

Before, only the first window was kept and a warning said "the others are not offered".
"""

from __future__ import annotations

import numpy as np

from mammo_annotator.core.imageio import header_voi, read_image
from mammo_annotator.core.types import VoiWindow
from mammo_annotator.core.windowing import (AUTO, DENSE, DICOM, FULL, READING_PRESETS, SIGMOID, dicom_family,
                                            next_preset, reading_presets, render)

from .factories import make_dicom

PIXELS = np.array([[0, 500, 1500, 1900, 2000, 2048],
                   [2100, 2200, 2600, 3000, 3500, 4095]], dtype=np.uint16)
THREE = dict(WindowCenter=["2048", "1800", "2600"], WindowWidth=["4000", "1200", "2400"],
             WindowCenterWidthExplanation=["NORMAL", "HARDER", "SOFTER"])


def _linear(x, c, w):
    """PS3.3 C.11.2.1.2.1 on 0..255."""
    y = ((np.asarray(x, float) - (c - 0.5)) / (w - 1) + 0.5) * 255
    return np.clip(np.rint(y), 0, 255)


def test_the_first_window_is_the_dicom_window_and_the_others_are_kept_in_order(tmp_path):
    image = read_image(make_dicom(tmp_path / "three.dcm", PIXELS, **THREE))
    assert (image.meta.window_center, image.meta.window_width) == (2048.0, 4000.0)
    assert image.meta.voi_others == (VoiWindow(1800.0, 1200.0, "HARDER"), VoiWindow(2600.0, 2400.0, "SOFTER"))
    assert "not offered" not in " | ".join(image.meta.warnings)
    presets = reading_presets(image.pixels, image.meta)
    assert list(presets) == [AUTO, DICOM, DENSE, FULL, f"{DICOM} 2: HARDER", f"{DICOM} 3: SOFTER"]
    for name, (c, w) in ((DICOM, (2048, 4000)), (f"{DICOM} 2: HARDER", (1800, 1200)), (f"{DICOM} 3: SOFTER", (2600, 2400))):
        assert np.array_equal(render(image.pixels, presets[name]), _linear(PIXELS, c, w)), name


def test_the_others_follow_the_voi_function(tmp_path):
    image = read_image(make_dicom(tmp_path / "sig.dcm", PIXELS, VOILUTFunction="SIGMOID", **THREE))
    presets = reading_presets(image.pixels, image.meta)
    assert presets[DICOM].function == presets[f"{DICOM} 2: HARDER"].function == SIGMOID


def test_monochrome1_mirrors_every_window_with_the_pixels(tmp_path):
    image = read_image(make_dicom(tmp_path / "m1.dcm", PIXELS, photometric="MONOCHROME1", **THREE))
    assert np.array_equal(image.pixels, 4095 - PIXELS)
    # LINEAR's mirror is M - c + 1 (it is not symmetric about its centre)
    assert image.meta.window_center == 4095 - 2048 + 1
    assert [w.center for w in image.meta.voi_others] == [4095 - 1800 + 1, 4095 - 2600 + 1]
    presets = reading_presets(image.pixels, image.meta)
    # the inverted image under the mirrored window shows each pixel as the original under the original, inverted
    shown = render(image.pixels, presets[f"{DICOM} 2: HARDER"]).astype(int)
    assert np.abs(shown - (255 - _linear(PIXELS, 1800, 1200))).max() <= 1  # rounding at .5 may differ


def test_an_unusable_pair_is_left_out_by_name_and_the_rest_kept(tmp_path):
    image = read_image(make_dicom(tmp_path / "bad.dcm", PIXELS, WindowCenter=["2048", "1800", "2600"],
                                  WindowWidth=["4000", "0", "2400"]))
    said = " | ".join(image.meta.warnings)
    assert "WindowWidth is 0, not positive; window 2 is ignored" in said
    assert image.meta.voi_others == (VoiWindow(2600.0, 2400.0, None),)
    assert list(reading_presets(image.pixels, image.meta))[4:] == [f"{DICOM} 2"]  # numbered as offered


def test_a_first_pair_that_is_unusable_gives_way_to_the_next(tmp_path):
    image = read_image(make_dicom(tmp_path / "first.dcm", PIXELS, WindowCenter=["2048", "1800"],
                                  WindowWidth=["-5", "1200"]))
    assert "WindowWidth is -5, not positive; the DICOM window is ignored" in " | ".join(image.meta.warnings)
    assert (image.meta.window_center, image.meta.window_width) == (1800.0, 1200.0)
    assert image.meta.voi_others == ()


def test_more_centres_than_widths_pairs_what_it_can_and_says_so(tmp_path):
    image = read_image(make_dicom(tmp_path / "odd.dcm", PIXELS, WindowCenter=["2048", "1800", "2600"],
                                  WindowWidth=["4000", "1200"]))
    assert "the header gives 3 window centres and 2 widths; the first 2 are paired" in " | ".join(image.meta.warnings)
    assert image.meta.voi_others == (VoiWindow(1800.0, 1200.0, None),)


def test_header_voi_gives_the_others_to_an_image_opened_from_a_project(tmp_path):
    p = make_dicom(tmp_path / "m1.dcm", PIXELS, photometric="MONOCHROME1", **THREE)
    image = read_image(p)
    assert header_voi(p, image.meta.bits_stored) == ("LINEAR", None, image.meta.voi_others)


def test_the_dicom_key_steps_through_the_header_windows_and_back():
    names = [AUTO, DICOM, DENSE, FULL, f"{DICOM} 2: HARDER", f"{DICOM} 3: SOFTER"]
    assert dicom_family(names) == [DICOM, f"{DICOM} 2: HARDER", f"{DICOM} 3: SOFTER"]
    f2 = READING_PRESETS.index(DICOM)
    assert next_preset(names, f2, AUTO) == DICOM
    assert next_preset(names, f2, "custom") == DICOM
    assert next_preset(names, f2, DICOM) == f"{DICOM} 2: HARDER"
    assert next_preset(names, f2, f"{DICOM} 2: HARDER") == f"{DICOM} 3: SOFTER"
    assert next_preset(names, f2, f"{DICOM} 3: SOFTER") == DICOM
    assert next_preset(names, READING_PRESETS.index(DENSE), f"{DICOM} 2: HARDER") == DENSE
    assert next_preset(names[:4], f2, DICOM) == DICOM  # one window: F2 stays on it
    assert next_preset(names, 4, AUTO) is None  # only F1..F4 are keys
    assert next_preset(names[:2], 2, AUTO) is None


def test_a_header_without_a_window_offers_no_others(tmp_path):
    image = read_image(make_dicom(tmp_path / "none.dcm", PIXELS))
    assert image.meta.voi_others == ()
    assert list(reading_presets(image.pixels, image.meta)) == list(READING_PRESETS)


def test_a_header_with_hundreds_of_windows_offers_a_reading_list(tmp_path):
    from mammo_annotator.core.dicom_lut import MAX_DISPLAYS

    n = 500
    image = read_image(make_dicom(tmp_path / "many.dcm", PIXELS, WindowCenter=[str(1000 + k) for k in range(n)],
                                  WindowWidth=["800"] * n))
    assert len(image.meta.voi_others) == MAX_DISPLAYS - 1  # the DICOM window and the next 15
    assert f"the header gives {n} windows; only the first {MAX_DISPLAYS} are read" in image.meta.warnings
    assert image.meta.voi_others[-1].center == 1000 + MAX_DISPLAYS - 1


def test_odd_explanations_are_kept_short_and_never_break_the_read(tmp_path):
    image = read_image(make_dicom(tmp_path / "odd.dcm", PIXELS, WindowCenter=["2048", "1800", "2600"],
                                  WindowWidth=["4000", "1200", "2400"],
                                  WindowCenterWidthExplanation=["", "X" * 64, "  "]))
    assert [w.explanation for w in image.meta.voi_others] == ["X" * 64, None]
    assert list(reading_presets(image.pixels, image.meta))[4:] == [f"{DICOM} 2: {'X' * 64}", f"{DICOM} 3"]


def test_a_sequence_of_many_voi_tables_offers_the_first_sixteen(tmp_path):
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from mammo_annotator.core.dicom_lut import MAX_DISPLAYS

    def item(k: int) -> Dataset:
        it = Dataset()
        it.LUTDescriptor = [4096, 0, 12]
        it.add_new(0x00283006, "OW", np.minimum(np.arange(4096) + 10 * k, 4095).astype("<u2").tobytes())
        it.LUTExplanation = f"curve {k}"
        return it

    src = make_dicom(tmp_path / "src.dcm", PIXELS)
    ds = pydicom.dcmread(src)
    ds.VOILUTSequence = Sequence([item(k) for k in range(20)])
    ds.save_as(tmp_path / "tables.dcm", enforce_file_format=True)
    image = read_image(tmp_path / "tables.dcm")
    assert image.meta.voi_lut.explanation == "curve 0"
    assert [t.explanation for t in image.meta.voi_others] == [f"curve {k}" for k in range(1, MAX_DISPLAYS)]
    assert f"the VOI LUT Sequence holds 20 tables; only the first {MAX_DISPLAYS} are read" in image.meta.warnings


def test_thousands_of_bad_windows_give_a_bounded_number_of_warnings(tmp_path):
    """Before, each of them was read and warned of: 5,000 warnings for one hostile header."""
    n = 5000
    image = read_image(make_dicom(tmp_path / "bad.dcm", PIXELS, WindowCenter=["2048"] * n, WindowWidth=["-1"] * n))
    assert image.meta.window_center is None and image.meta.voi_others == ()
    assert sum("not positive" in w for w in image.meta.warnings) <= 16
    assert f"the header gives {n} windows; only the first 16 are read" in image.meta.warnings
