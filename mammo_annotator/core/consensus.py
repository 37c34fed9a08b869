"""Several annotators per image: which contours make the region labels, and how far they agree.

The label rule is a project setting, stated here once:

* ``union`` (the default; with one annotator the only rule): every live contour counts, so a
  region is M when any annotator's malignant outline covers it by IoM >= alpha.
* ``majority``: each annotator who outlined anything on the image labels the regions alone
  (the same IoM rule); a region is M when more than half of them say M, BN when more than half
  say BN, ignored otherwise (a tie is never turned into a training label).
* ``reference``: only the named reference annotator's contours count; on an image that
  annotator has not outlined, the other annotators' union is used (so nothing drawn is lost).

Agreement is the Dice coefficient of two annotators' malignant outlines (the union of each
one's malignant polygons) per image: 2|A∩B| / (|A| + |B|); an image where one outlined a
malignant finding and the other did not scores 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from shapely.geometry import Polygon as ShapelyPolygon
from shapely.ops import unary_union
from shapely.validation import make_valid

from .iom import label_regions
from .types import Lesion, LesionClass, Region, RegionLabel, RegionLabelling

RULES = ("union", "majority", "reference")


@dataclass(frozen=True)
class LabelRule:
    rule: str = "union"
    reference: str | None = None

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown label rule {self.rule!r}; choose one of {', '.join(RULES)}")
        if self.rule == "reference" and not self.reference:
            raise ValueError("the reference rule needs the reference annotator's name")
        if self.rule != "reference" and self.reference:  # "majority:bob" is a typo, not a rule
            raise ValueError(f"only the reference rule names an annotator, not {self.rule!r}")

    def describe(self) -> str:
        return f"reference annotator {self.reference}" if self.rule == "reference" else self.rule

    @classmethod
    def from_setting(cls, value: dict | None) -> "LabelRule":
        if not value:
            return cls()
        rule = value.get("rule", "union")  # a stray name beside another rule (stored before it was refused) is dropped
        return cls(rule, value.get("reference") if rule == "reference" else None)


def consensus_labels(regions: list[Region], lesions: dict[str, list[Lesion]], rule: LabelRule,
                     alpha: float) -> list[RegionLabelling]:
    """Region labels from the contours of each annotator (``lesions``: annotator -> lesions)."""
    everyone = [les for group in lesions.values() for les in group]
    if rule.rule == "reference" and lesions.get(rule.reference or ""):
        return label_regions(regions, lesions[rule.reference], alpha)
    if rule.rule != "majority" or len(lesions) < 2:
        return label_regions(regions, everyone, alpha)
    votes = [label_regions(regions, group, alpha) for group in lesions.values()]
    n = len(votes)
    out = []
    for k, region in enumerate(regions):
        column = [v[k] for v in votes]
        m = [c for c in column if c.label is RegionLabel.M]
        bn = sum(c.label is RegionLabel.BN for c in column)
        if 2 * len(m) > n:
            best = max(m, key=lambda c: c.iom)
            out.append(RegionLabelling(region.index, RegionLabel.M, best.iom, best.annotation_id))
        else:
            label = RegionLabel.BN if 2 * bn > n else RegionLabel.IGNORED
            best = max(column, key=lambda c: c.iom)
            out.append(RegionLabelling(region.index, label, best.iom, best.annotation_id if best.iom > 0 else None))
    return out


def _malignant_area(lesions: list[Lesion]):
    shapes = [make_valid(ShapelyPolygon(les.polygon.points)) for les in lesions if les.cls is LesionClass.MALIGNANT]
    return unary_union(shapes) if shapes else None


def dice(a: list[Lesion], b: list[Lesion]) -> float | None:
    """Dice of two annotators' malignant outlines; None when neither outlined a malignant finding."""
    sa, sb = _malignant_area(a), _malignant_area(b)
    if sa is None and sb is None:
        return None
    if sa is None or sb is None:
        return 0.0
    total = sa.area + sb.area
    return 2.0 * sa.intersection(sb).area / total if total > 0 else None


def pairwise_dice(lesions: dict[str, list[Lesion]]) -> list[tuple[str, str, float]]:
    """(annotator, annotator, Dice) for every pair, names sorted; pairs with no malignant outline skipped."""
    out = []
    for x, y in combinations(sorted(lesions), 2):
        d = dice(lesions[x], lesions[y])
        if d is not None:
            out.append((x, y, d))
    return out
