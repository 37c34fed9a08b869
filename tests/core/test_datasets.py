"""core.datasets: mini-MIAS (real + crafted quirks), INbreast-like fixtures, label CSVs."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from PIL import Image

from mammo_annotator.core.datasets.csvlabels import load_label_csv, parse_pathology
from mammo_annotator.core.datasets.inbreast import load_inbreast, parse_point
from mammo_annotator.core.datasets.minimias import load_minimias
from mammo_annotator.core.errors import LabelFileError
from mammo_annotator.core.types import LesionClass, WeakLabel

from .factories import make_inbreast

# ---------------------------------------------------------------- mini-MIAS, real subset


def _reparse(info):
    """Independent, naive re-parse of Info.txt: severities and located/unlocated rows per image."""
    sev, located, unlocated = {}, Counter(), Counter()
    for line in info.read_text(encoding="latin-1").splitlines():
        f = line.split()
        if not f or not (f[0].startswith("mdb") and len(f[0]) == 6):
            continue
        sev.setdefault(f[0], set())
        if f[2] == "NORM":
            continue
        sev[f[0]].add(f[3])
        if len(f) == 7:
            located[f[0]] += 1
        else:
            unlocated[f[0]] += 1
    return sev, located, unlocated


def test_real_mini_mias(mini_mias_dir):
    records, problems = load_minimias(mini_mias_dir)
    assert problems == []
    assert len(records) == 214 and len({r.patient_id for r in records}) == 107
    sev, located, unlocated = _reparse(mini_mias_dir / "Info.txt")
    expect = Counter({(): "N", ("B",): "B", ("M",): "M", ("B", "M"): "MB"}[tuple(sorted(s))] for s in sev.values())
    assert Counter(r.weak_label.name for r in records) == expect
    assert sum(len(r.lesions) for r in records) == sum(located.values())
    assert sum(len(r.unlocated) for r in records) == sum(unlocated.values())
    by_ref = {r.refnum: r for r in records}
    # hard facts checked by hand in Info.txt
    assert by_ref["mdb144"].weak_label == WeakLabel(1, 1)
    assert by_ref["mdb059"].lesions == () and by_ref["mdb059"].weak_label == WeakLabel(0, 1)
    assert by_ref["mdb216"].weak_label == WeakLabel(1, None) and by_ref["mdb216"].unlocated == ("CALC M",)
    assert len(by_ref["mdb005"].lesions) == 2
    assert by_ref["mdb003"].weak_label == WeakLabel(0, 0) and by_ref["mdb003"].pathology == "NORM"
    r = by_ref["mdb028"]  # CIRC M 338 314 56, even -> left breast of patient 14
    assert (r.laterality, r.view, r.patient_id) == ("L", "MLO", "mias014")
    x0, y0, x1, y1 = r.lesions[0].polygon.bounds
    assert abs((x0 + x1) / 2 - 338) < 1 and abs((y0 + y1) / 2 - (1024 - 314)) < 1 and abs((x1 - x0) / 2 - 56) < 1
    assert r.lesions[0].cls is LesionClass.MALIGNANT
    assert by_ref["mdb003"].laterality == "R" and by_ref["mdb004"].laterality == "L" and by_ref["mdb004"].patient_id == by_ref["mdb003"].patient_id


# ---------------------------------------------------------------- mini-MIAS, crafted quirks

INFO = """      MAMMOGRAPHIC IMAGE ANALYSIS SOCIETY
1st column: MIAS database reference number.
mdb is the prefix of every file.
=====
mdb001 G CIRC B 535 425 197
mdb002 G CIRC B 522 280 69
mdb002 G SPIC M 100 50 10
mdb003 D NORM 
mdb004 D CALC M *NOTE 3*
mdb005 F CIRC B
mdb006 F CIRC X 1 2 3
mdb007 F CIRC B 1 2
"""


def test_crafted_info(tmp_path):
    (tmp_path / "Info.txt").write_text(INFO)
    for n in range(1, 10):
        h = 512 if n == 2 else 1024
        Image.fromarray(np.zeros((h, 1024), np.uint8)).save(tmp_path / f"mdb{n:03d}.png")  # circles must fit
    records, problems = load_minimias(tmp_path)
    by_ref = {r.refnum: r for r in records}
    assert by_ref["mdb002"].weak_label == WeakLabel(1, 1)
    spic = [les for les in by_ref["mdb002"].lesions if les.cls is LesionClass.MALIGNANT][0]
    assert abs(spic.polygon.bounds[1] - (512 - 50 - 10)) < 1e-6  # the image's own height, not 1024
    assert by_ref["mdb003"].weak_label == WeakLabel(0, 0)
    assert by_ref["mdb004"].lesions == () and by_ref["mdb004"].weak_label == WeakLabel(1, None)
    assert "NOTE 3" in by_ref["mdb004"].notes[0]
    assert by_ref["mdb005"].unlocated == ("CIRC B",)
    assert by_ref["mdb001"].patient_id == by_ref["mdb002"].patient_id != by_ref["mdb003"].patient_id
    reasons = " | ".join(p.reason for p in problems)
    assert "mdb006" in reasons and "mdb007" in reasons  # bad severity, short location
    assert "mdb008.png has no row" in reasons and "mdb009.png has no row" in reasons
    assert "mdb008" not in by_ref and all(p.line or "no row" in p.reason for p in problems)


def test_missing_info(tmp_path):
    with pytest.raises(LabelFileError):
        load_minimias(tmp_path)


# ---------------------------------------------------------------- INbreast-like

SQUARE = [(10, 10), (30, 10), (30, 30), (10, 30)]


def test_inbreast_fixture(tmp_path):
    rows = [dict(name="1001", pid="aaaa", lat="R", view="CC", birads="4c"),
            dict(name="1002", pid="aaaa", lat="R", view="MLO", birads="5"),
            dict(name="1003", pid="bbbb", lat="L", view="CC", birads="2"),
            dict(name="1004", pid="bbbb", lat="L", view="MLO", birads="1"),
            dict(name="1005", pid="cccc", lat="L", view="CC", birads="9"),
            dict(name="1006", pid="cccc", lat="X", view="CC", birads="2"),
            dict(name="1007", pid="dddd", lat="L", view="CC", birads="3", dicom=False)]
    rois = {"1001": [("Mass", SQUARE), ("Calcification", [(5, 5)]), ("Calcification", [(6, 6), (7, 7)]),
                     ("Cluster", [(40, 40), (44, 40), (44, 44)])],
            "1002": [("Spiculated Region", SQUARE), ("Pectoral Muscle", SQUARE)],
            "1003": [("Mass", SQUARE)]}
    make_inbreast(tmp_path, rows, rois)
    records, problems = load_inbreast(tmp_path)
    by = {r.file_name: r for r in records}
    assert set(by) == {"1001", "1002", "1003", "1004"}
    assert [p.line for p in problems] == [6, 7, 8]
    r = by["1001"]
    assert r.patient_id == "aaaa" and (r.laterality, r.view, r.birads) == ("R", "CC", "4c")
    assert r.weak_label == WeakLabel(1, None) and r.lesion_names == ("Mass", "Cluster")
    assert all(les.cls is LesionClass.MALIGNANT for les in r.lesions)
    assert any("2 point ROI" in n for n in r.notes)
    assert by["1002"].lesion_names == ("Spiculated Region",) and any("Pectoral" in n for n in by["1002"].notes)
    assert by["1003"].lesions[0].cls is LesionClass.BENIGN and by["1003"].weak_label == WeakLabel(0, None)
    assert by["1004"].lesions == ()
    kept, _ = load_inbreast(tmp_path, point_radius=3.0)
    assert {r.file_name: r for r in kept}["1001"].lesion_names == ("Mass", "Calcification", "Calcification", "Cluster")


def test_inbreast_bad_xml_and_missing_csv(tmp_path):
    make_inbreast(tmp_path, [dict(name="2001", pid="p", lat="L", view="CC", birads="4a")], {})
    (tmp_path / "AllXML" / "2001.xml").write_text("<plist><dict><key>Images")
    records, problems = load_inbreast(tmp_path)
    assert len(records) == 1 and "plist" in problems[0].reason
    with pytest.raises(LabelFileError):
        load_inbreast(tmp_path / "AllXML")


def test_parse_point():
    assert parse_point("(1467.5, 2345.25)") == (1467.5, 2345.25)
    assert parse_point("(1, 2, 0)") == (1.0, 2.0)


# ---------------------------------------------------------------- label CSV


def _images(tmp_path, names):
    for n in names:
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / n)


def test_csv_birads(tmp_path):
    _images(tmp_path, ["a.png", "b.png", "c.png"])
    (tmp_path / "labels.csv").write_text(
        "Image,Patient_ID,BIRADS,laterality,view\n"
        "a.png,p1,4a,L,CC\n"
        "b.png,p1,3,R,mlo\n"
        "c.png,p2,banana,L,CC\n"
        "missing.png,p3,2,,\n"
        "a.png,,1,L,CC\n"
        "c.png,p2,1,Q,CC\n"
        f"{tmp_path / 'c.png'},p4,2,right,\n")
    records, problems = load_label_csv(tmp_path / "labels.csv")
    assert [r.line for r in records] == [2, 3, 8]
    assert records[0].weak_label == WeakLabel(1, None) and records[0].image_path == (tmp_path / "a.png").resolve()
    assert records[1].weak_label is None and records[1].view == "MLO"  # BI-RADS 3 excluded
    assert records[2].laterality == "R" and records[2].weak_label == WeakLabel(0, 1)
    assert [p.line for p in problems] == [4, 5, 6, 7]
    assert "not found" in problems[1].reason and "patient_id" in problems[2].reason


def test_csv_pathology_and_flags(tmp_path):
    _images(tmp_path, ["a.tif", "b.tif"])
    (tmp_path / "p.csv").write_text("image;patient_id;pathology\na.tif;1;benign+malignant\nb.tif;2;Normal\n"
                                    "a.tif;3;weird\n")
    records, problems = load_label_csv(tmp_path / "p.csv")
    assert [r.weak_label for r in records] == [WeakLabel(1, 1), WeakLabel(0, 0)] and len(problems) == 1
    (tmp_path / "f.csv").write_text("image\tpatient_id\ty_m\ty_b\na.tif\t1\t1\t0\nb.tif\t2\t2\t0\n")
    records, problems = load_label_csv(tmp_path / "f.csv")
    assert records[0].weak_label == WeakLabel(1, 0) and problems[0].line == 3  # stated explicitly: kept


@pytest.mark.parametrize("content", ["", "image,birads\na.png,2\n", "image,patient_id,score\na.png,1,0.3\n"])
def test_csv_file_level_errors(tmp_path, content):
    (tmp_path / "bad.csv").write_text(content)
    with pytest.raises(LabelFileError):
        load_label_csv(tmp_path / "bad.csv")
    with pytest.raises(LabelFileError):
        load_label_csv(tmp_path / "absent.csv")


def test_parse_pathology():
    assert parse_pathology("Malignant") == WeakLabel(1, None)
    assert parse_pathology("MB") == WeakLabel(1, 1)
    assert parse_pathology("benign and malignant") == WeakLabel(1, 1)
    with pytest.raises(ValueError):
        parse_pathology("normal+benign")
