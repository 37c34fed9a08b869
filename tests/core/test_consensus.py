"""The label rule for several annotators and their Dice agreement."""

import pytest

from mammo_annotator.core.consensus import LabelRule, consensus_labels, dice, pairwise_dice
from mammo_annotator.core.types import Box, Lesion, LesionClass, Polygon, Region, RegionLabel

M, B = LesionClass.MALIGNANT, LesionClass.BENIGN


def sq(x, y, side, cls=M):
    return Lesion(cls, Polygon.from_array([[x, y], [x + side, y], [x + side, y + side], [x, y + side]]))


REGIONS = [Region(0, Box(0, 0, 10, 10), 1.0), Region(1, Box(20, 0, 30, 10), 1.0), Region(2, Box(40, 0, 50, 10), 1.0)]


def labels(lesions, rule):
    return [r.label for r in consensus_labels(REGIONS, lesions, rule, 0.5)]


def test_union_majority_and_reference():
    lesions = {"a": [sq(0, 0, 10)], "b": [sq(0, 0, 10), sq(20, 0, 10)], "c": [sq(0, 0, 10), sq(38, 0, 4, B)]}
    assert labels(lesions, LabelRule("union")) == [RegionLabel.M, RegionLabel.M, RegionLabel.BN]
    # region 1: only b of three says M -> a majority says BN; region 0: all three say M
    assert labels(lesions, LabelRule("majority")) == [RegionLabel.M, RegionLabel.BN, RegionLabel.BN]
    assert labels(lesions, LabelRule("reference", "b")) == [RegionLabel.M, RegionLabel.M, RegionLabel.BN]
    assert labels(lesions, LabelRule("reference", "a")) == [RegionLabel.M, RegionLabel.BN, RegionLabel.BN]
    # the reference did not outline this image: the others' union is used
    assert labels({"b": [sq(20, 0, 10)]}, LabelRule("reference", "a")) == [RegionLabel.BN, RegionLabel.M, RegionLabel.BN]


def test_majority_tie_is_ignored_not_a_label():
    lesions = {"a": [sq(0, 0, 10)], "b": [sq(40, 0, 10)]}
    assert labels(lesions, LabelRule("majority")) == [RegionLabel.IGNORED, RegionLabel.BN, RegionLabel.IGNORED]


def test_rule_validation():
    with pytest.raises(ValueError, match="unknown label rule"):
        LabelRule("vote")
    for rule in ("majority", "union"):
        with pytest.raises(ValueError, match=f"only the reference rule names an annotator, not '{rule}'"):
            LabelRule(rule, "bob")
    with pytest.raises(ValueError, match="reference annotator"):
        LabelRule("reference")
    assert LabelRule.from_setting(None) == LabelRule("union")
    assert LabelRule.from_setting({"rule": "majority", "reference": "bob"}) == LabelRule("majority")
    assert LabelRule.from_setting({"rule": "reference", "reference": "bob"}) == LabelRule("reference", "bob")


def test_dice():
    assert dice([sq(0, 0, 10)], [sq(0, 0, 10)]) == pytest.approx(1.0)
    assert dice([sq(0, 0, 10)], [sq(5, 0, 10)]) == pytest.approx(0.5)  # 2*50/(100+100)
    assert dice([sq(0, 0, 10)], [sq(0, 0, 10, B)]) == 0.0  # only one outlined a malignant finding
    assert dice([sq(0, 0, 10, B)], []) is None
    # overlapping polygons of one annotator count once
    assert dice([sq(0, 0, 10), sq(0, 0, 10)], [sq(0, 0, 10)]) == pytest.approx(1.0)
    assert pairwise_dice({"b": [sq(0, 0, 10)], "a": [sq(5, 0, 10)], "c": []}) == [("a", "b", pytest.approx(0.5)), ("a", "c", 0.0), ("b", "c", 0.0)]
