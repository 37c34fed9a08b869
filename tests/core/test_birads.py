"""core.birads: parsing and the paper / INbreast mappings (method section 1)."""

from __future__ import annotations

import pytest

from mammo_annotator.core.birads import INBREAST, PAPER, BiradsMapping, birads_to_weak_label, parse_birads
from mammo_annotator.core.types import WeakLabel


@pytest.mark.parametrize("text,expected", [("4", (4, "")), ("4a", (4, "a")), ("4C", (4, "c")), (" 5 ", (5, "")),
                                           (5, (5, "")), (2.0, (2, "")), ("BI-RADS 3", (3, "")), ("birads4b", (4, "b"))])
def test_parse(text, expected):
    assert parse_birads(text) == expected


@pytest.mark.parametrize("bad", ["7", "", "4d", "5a", "x", None, True, "-1"])
def test_parse_rejects(bad):
    with pytest.raises(ValueError):
        parse_birads(bad)


def test_paper_mapping():
    # a malignant assessment says nothing about benign findings: y_B unknown, not 0
    assert birads_to_weak_label("4a") == WeakLabel(1, None)
    assert birads_to_weak_label("5") == birads_to_weak_label(6) == WeakLabel(1, None)
    assert WeakLabel(1, None).name == "M" and WeakLabel(0, None).name == "unknown"
    assert birads_to_weak_label("2") == WeakLabel(0, 1)
    assert birads_to_weak_label("1") == WeakLabel(0, 0)
    assert birads_to_weak_label("3") is None and birads_to_weak_label("0") is None


def test_inbreast_mapping():
    assert INBREAST.weak_label("4c") == WeakLabel(1, None)
    for cat in ("1", "2", "3"):
        assert INBREAST.weak_label(cat) == WeakLabel(0, None)
    assert INBREAST.weak_label("0") is None


def test_custom_mapping_includes_3_as_benign():
    m = BiradsMapping(benign=frozenset({2, 3}), name="with-3")
    assert m.weak_label("3") == WeakLabel(0, 1) and PAPER.weak_label("3") is None
