"""The mini-MIAS importer record by record on a crafted Info.txt (no real data needed): patient,
side and view from the reference number, the bottom-left origin, lesion circles, the weak label of
mixed rows, the notes and pathology text, and where each problem points; plus the circle rule at
its boundaries. Expected values are worked out by hand from the rows below."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mammo_annotator.core.datasets.minimias import implausible_circle, load_minimias
from mammo_annotator.core.errors import LabelFileError
from mammo_annotator.core.types import LesionClass, WeakLabel

W, H = 200, 300  # every image: 200 columns, 300 rows

INFO = """MIAS crafted: the origin is the bottom-left corner
mdb001 G CIRC B 50 100 20
mdb002 F SPIC M 60 250 10 see-text
mdb002 G CALC B *NOTE 3*
mdb003 D NORM
mdb003 D CIRC B 100 150 30
mdb004 F CALC
mdb004 F SPIC M 100 100 15
mdb005 F CIRC B
mdb123 G ABCD B 1 2 3
mdb123 G CIRC M 100 150 1
mdb009 F NORM
mdb009 F CIRC B 10 10 5
mdb010 F CALC
"""


@pytest.fixture
def loaded(tmp_path):
    # per test, not per module: mutmut credits a function to the tests that call it, and a cached
    # fixture would credit the loader to the first test alone
    folder = tmp_path
    (folder / "Info.txt").write_text(INFO)
    for ref in ("mdb000", "mdb001", "mdb002", "mdb003", "mdb004", "mdb005", "mdb123"):
        Image.fromarray(np.zeros((H, W), np.uint8)).save(folder / f"{ref}.png")
    records, problems = load_minimias(folder)
    return folder, {r.refnum: r for r in records}, problems


def _circle(lesion):
    x0, y0, x1, y1 = lesion.polygon.bounds
    return (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2


def test_every_image_with_rows_is_a_record_and_a_rowless_one_does_not_stop_the_rest(loaded):
    folder, by, _ = loaded
    # mdb000.png (sorted first) has no row: skipped, the images after it still read
    assert sorted(by) == ["mdb001", "mdb002", "mdb003", "mdb004", "mdb005", "mdb123"]
    assert all(by[ref].image_path == folder / f"{ref}.png" for ref in by)


def test_patient_side_and_view_from_the_reference_number(loaded):
    _, by, _ = loaded
    # consecutive pairs are one patient; odd numbers the right breast, even the left; all MLO
    expect = {"mdb001": ("mias001", "R"), "mdb002": ("mias001", "L"), "mdb003": ("mias002", "R"),
              "mdb004": ("mias002", "L"), "mdb005": ("mias003", "R"), "mdb123": ("mias062", "R")}
    assert {ref: (r.patient_id, r.laterality) for ref, r in by.items()} == expect
    assert {r.view for r in by.values()} == {"MLO"}


def test_circles_are_measured_from_the_bottom_left_corner(loaded):
    _, by, _ = loaded
    (les,) = by["mdb001"].lesions
    assert les.cls is LesionClass.BENIGN
    cx, cy, r = _circle(les)
    assert (cx, cy, r) == pytest.approx((50, H - 100, 20), abs=0.5)  # row 200 of a 300-row image
    (les,) = by["mdb002"].lesions  # a word after the three numbers does not lose the location
    assert les.cls is LesionClass.MALIGNANT and _circle(les) == pytest.approx((60, 50, 10), abs=0.5)
    (les,) = by["mdb123"].lesions  # a 1 px radius is a (tiny) circle, not a refused one
    assert les.cls is LesionClass.MALIGNANT and _circle(les) == pytest.approx((100, 150, 1), abs=0.1)
    assert by["mdb002"].lesion_codes == ("SPIC",) and by["mdb123"].lesion_codes == ("CIRC",)
    assert by["mdb004"].lesion_codes == ("SPIC",) and by["mdb005"].lesion_codes == ()


def test_weak_labels_of_mixed_rows(loaded):
    _, by, _ = loaded
    assert by["mdb001"].weak_label == WeakLabel(0, 1)
    assert by["mdb002"].weak_label == WeakLabel(1, 1)  # a located M and an unlocated B
    assert by["mdb003"].weak_label == WeakLabel(0, 1)  # NORM then an abnormal row: the abnormal row wins
    assert by["mdb004"].weak_label == WeakLabel(1, None)  # a row of unreadable severity, then an M row
    assert by["mdb005"].weak_label == WeakLabel(0, 1)
    assert by["mdb123"].weak_label == WeakLabel(1, None)  # the row of unknown class is dropped


def test_pathology_background_and_notes(loaded):
    _, by, _ = loaded
    assert by["mdb002"].pathology == "SPIC M; CALC B" and by["mdb002"].background_tissue == "FG"
    assert by["mdb003"].pathology == "NORM; CIRC B" and by["mdb003"].background_tissue == "D"
    assert by["mdb004"].pathology == "CALC ?; SPIC M"
    assert by["mdb001"].notes == () and by["mdb004"].notes == ()
    (note,) = by["mdb002"].notes
    assert note.startswith("CALC B") and "no location" in note and "(*NOTE 3*)" in note
    assert by["mdb002"].unlocated == ("CALC B",)
    (note,) = by["mdb005"].notes  # no location and no stated reason: nothing in brackets
    assert note.startswith("CIRC B") and note.endswith("no location")
    (note,) = by["mdb003"].notes
    assert "NORM" in note and "abnormal rows win" in note


def test_each_problem_names_info_txt_and_its_line(loaded):
    _, _, problems = loaded
    assert [(Path(p.path).name, p.line) for p in problems] == [
        ("Info.txt", 7),  # mdb004 CALC without severity
        ("Info.txt", 10),  # unknown class ABCD
        ("Info.txt", 14),  # mdb010 CALC without severity
        ("Info.txt", 12),  # rows for mdb009 but no image: its first row (a NORM row)
        ("Info.txt", 14),  # rows for mdb010 but no image: its only row (no severity)
        ("Info.txt", None),  # mdb000.png without any row
    ]
    reasons = [p.reason for p in problems]
    assert "mdb004" in reasons[0] and "label is unknown" in reasons[0]
    assert "'ABCD'" in reasons[1]
    assert "mdb009" in reasons[3] and "no image" in reasons[3] and "mdb010" in reasons[4]
    assert "mdb000.png" in reasons[5]


def test_missing_or_unreadable_info_txt_is_named(tmp_path):
    with pytest.raises(LabelFileError) as err:
        load_minimias(tmp_path)
    assert Path(err.value.path).name == "Info.txt" and "Info.txt" in err.value.reason
    (tmp_path / "Info.txt").mkdir()
    with pytest.raises(LabelFileError) as err:
        load_minimias(tmp_path)
    assert "label file" in err.value.reason


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_info_txt_of_either_byte_order_is_refused(tmp_path, codec):
    bom = "\ufeff".encode(codec)
    (tmp_path / "Info.txt").write_bytes(bom + "mdb001 G NORM\n".encode(codec))
    with pytest.raises(LabelFileError, match="UTF-16") as err:
        load_minimias(tmp_path)
    assert Path(err.value.path).name == "Info.txt"


def test_bad_location_fields_are_echoed_as_read(tmp_path):
    (tmp_path / "Info.txt").write_bytes(b"mdb001 G CIRC B 4x 133 30\n")
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "mdb001.png")
    _, (problem,) = load_minimias(tmp_path)
    assert "'4x 133 30'" in problem.reason and "without a location" in problem.reason


def test_circle_rule_at_its_boundaries():
    assert implausible_circle(500, 500, 1, 1024, 1024) is None  # the smallest positive radius
    assert implausible_circle(512, 512, 400, 1024, 1024) is None  # 2r = 800 of 1024
    assert implausible_circle(512, 512, 512, 1024, 1024) is None  # exactly half the side: inscribed
    why = implausible_circle(512, 256, 300, 1024, 512)
    assert why is not None and "(256 px)" in why  # half of the shorter side, 512
    # a centre just right of the image (the row is inside) is refused for its centre
    assert "centre" in implausible_circle(1025, 500, 100, 1024, 1024)
    # a centre on the border is not outside the image (half the circle is in it)
    for x, y in ((0, 500), (1024, 500), (500, 0), (500, 1024)):
        assert "centre" not in (implausible_circle(x, y, 20, 1024, 1024) or "")


def test_an_unreadable_image_or_row_is_one_problem_and_the_rest_is_read(tmp_path):
    (tmp_path / "Info.txt").write_bytes(b"mdb001 G NORM\nMDB002 G NORM\nmdb003 F CIRC B 20 20 5\n")
    (tmp_path / "mdb001.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")  # sorted first, cannot be read
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "mdb003.png")
    records, problems = load_minimias(tmp_path)
    assert [r.refnum for r in records] == ["mdb003"]
    assert [(Path(p.path).name, p.line) for p in problems] == [("Info.txt", 2), ("mdb001.png", None)]
