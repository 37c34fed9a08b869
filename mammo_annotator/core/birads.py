"""BI-RADS assessment -> weak label (method section 1), configurable per dataset.

Paper (private FFDM set): 4, 5 -> malignant, 2 -> benign, 1 -> normal, 3 excluded; 6 (known
biopsy-proven cancer) is treated as malignant. A malignant assessment says nothing about
benign findings, so its y_B is unknown (masked out of the loss), not 0. INbreast convention used in the paper's INbreast
experiment: positive (malignant) = 4, 5, 6; negative = 1, 2, 3 (benign findings are not
separated, so y_B is unknown there). 0 (incomplete) is always excluded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .types import WeakLabel

_BIRADS_RE = re.compile(r"^\s*(?:bi-?rads\s*)?([0-6])\s*([abc])?\s*$", re.IGNORECASE)


def parse_birads(text: object) -> tuple[int, str]:
    """('4', '4a', 'BI-RADS 4C', 5) -> (category, subcategory letter or ''); ValueError otherwise."""
    if isinstance(text, bool):
        raise ValueError(f"not a BI-RADS category: {text!r}")
    if isinstance(text, int):
        text = str(text)
    if isinstance(text, float) and text.is_integer():
        text = str(int(text))
    m = _BIRADS_RE.match(str(text))
    if not m:
        raise ValueError(f"not a BI-RADS category: {text!r} (expected 0-6, optionally 4a/4b/4c)")
    cat, sub = int(m.group(1)), (m.group(2) or "").lower()
    if sub and cat != 4:
        raise ValueError(f"only BI-RADS 4 has subcategories a/b/c, got {text!r}")
    return cat, sub


@dataclass(frozen=True)
class BiradsMapping:
    """Which categories mean malignant / benign / normal; anything else is excluded (None)."""

    malignant: frozenset[int] = frozenset({4, 5, 6})
    benign: frozenset[int] = frozenset({2})
    normal: frozenset[int] = frozenset({1})
    # when True, categories outside malignant count as y_M = 0 with y_B unknown (INbreast style)
    binary: bool = False
    name: str = "paper"

    def weak_label(self, birads: object) -> WeakLabel | None:
        """The weak label for one image's assessment, or None when the image is excluded."""
        cat, _ = parse_birads(birads)
        if cat == 0:
            return None
        if cat in self.malignant:
            return WeakLabel(1, None)  # y_B unknown: see WeakLabel
        if self.binary:
            return WeakLabel(0, None) if cat in self.benign | self.normal else None
        if cat in self.benign:
            return WeakLabel(0, 1)
        if cat in self.normal:
            return WeakLabel(0, 0)
        return None


PAPER = BiradsMapping()
INBREAST = BiradsMapping(malignant=frozenset({4, 5, 6}), benign=frozenset({2, 3}), normal=frozenset({1}),
                         binary=True, name="inbreast")


def birads_to_weak_label(birads: object, mapping: BiradsMapping = PAPER) -> WeakLabel | None:
    """Convenience wrapper: weak label (or None = excluded) under ``mapping``."""
    return mapping.weak_label(birads)
