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


@pytest.mark.parametrize("bad,named", [(True, "True"), ("4d", "'4d'"), ("x", "'x'"), ("5a", "'5a'")])
def test_a_refused_assessment_names_the_value(bad, named):
    """The message is the import problem a user reads for that row: it must show what was found."""
    with pytest.raises(ValueError) as err:
        parse_birads(bad)
    assert named in str(err.value)


def test_only_category_4_has_subcategories_and_the_message_says_so():
    with pytest.raises(ValueError, match="subcategor"):
        parse_birads("2b")


def test_binary_mapping_excludes_a_category_it_does_not_name():
    # INbreast style, but 3 listed nowhere: excluded, not "not malignant"
    m = BiradsMapping(malignant=frozenset({4, 5, 6}), benign=frozenset({2}), normal=frozenset({1}), binary=True)
    assert m.weak_label("3") is None
    assert m.weak_label("2") == m.weak_label("1") == WeakLabel(0, None)
    assert m.weak_label("5") == WeakLabel(1, None)
