"""Several annotators per image: the project's label rule, and their agreement (Dice) per image.

The rule itself (union / majority / reference annotator) is stated in ``core.consensus``; this
module stores it, relabels every image when it changes, and computes / exports the agreement.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

from ..core.consensus import LabelRule, pairwise_dice
from ..core.types import Lesion
from ..store import annotations as ann_store
from ..store import images as image_store
from .annotations import LABEL_RULE_SETTING, relabel_image
from .export.paths import atomic_open, out_file
from .export.pseudonyms import Identities
from .project import Project


def label_rule(project: Project) -> LabelRule:
    return LabelRule.from_setting(project.setting(LABEL_RULE_SETTING))


def set_label_rule(project: Project, rule: LabelRule) -> int:
    """Store the rule and relabel every image under it (one transaction per image); returns
    the number of images relabelled."""
    project.set_setting(LABEL_RULE_SETTING, {"rule": rule.rule, "reference": rule.reference})
    alpha = project.alpha()
    with project.session() as s:
        ids = [im.id for im in image_store.list_images(s)]
    for image_id in ids:
        with project.session() as s:
            image_store.lock_image(s, image_id)  # a concurrent edit on another machine waits, then sees these labels
            relabel_image(s, image_id, alpha)
    for image_id in ids:
        project.events.emit("image_changed", image_id=image_id)
    return len(ids)


@dataclass(frozen=True)
class Agreement:
    image_id: int
    annotators: tuple[str, ...]
    pairs: tuple[tuple[str, str, float], ...]  # (annotator, annotator, Dice of malignant outlines)

    @property
    def mean_dice(self) -> float | None:
        return sum(d for _, _, d in self.pairs) / len(self.pairs) if self.pairs else None


def _by_annotator(records) -> dict[str, list[Lesion]]:
    out: dict[str, list[Lesion]] = {}
    for a in records:
        out.setdefault(a.annotator, []).append(Lesion(a.cls, a.polygon, a.id))
    return out


def image_agreement(project: Project, image_id: int) -> Agreement:
    with project.session() as s:
        lesions = _by_annotator(ann_store.list_annotations(s, image_id))
    return Agreement(image_id, tuple(sorted(lesions)), tuple(pairwise_dice(lesions)))


def agreement(project: Project) -> list[Agreement]:
    """Every image that at least two annotators outlined (and some outlined a malignant finding)."""
    with project.session() as s:
        per_image: dict[int, list] = {}
        for a in ann_store.list_annotations(s):
            per_image.setdefault(a.image_id, []).append(a)
    out = []
    for image_id, records in sorted(per_image.items()):
        lesions = _by_annotator(records)
        if len(lesions) >= 2:
            pairs = pairwise_dice(lesions)
            if pairs:
                out.append(Agreement(image_id, tuple(sorted(lesions)), tuple(pairs)))
    return out


def export_agreement_csv(project: Project, out: str | os.PathLike, keep_ids: bool = False) -> tuple[str, int]:
    """One row per image and annotator pair; image and patient ids pseudonymised unless ``keep_ids``."""
    path = out_file(out, "agreement.csv")
    ids = Identities(project, keep_ids)
    rows = agreement(project)
    with project.session() as s:
        images = {im.id: im for im in image_store.list_images(s)}
    rule = label_rule(project)
    with atomic_open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "patient", "side", "annotator_1", "annotator_2", "dice_malignant", "label_rule"])
        n = 0
        for row in rows:
            im = images[row.image_id]
            ident = ids.of(im)
            for x, y, d in row.pairs:
                w.writerow([ident.image, ident.patient, f"{im.laterality or ''}-{im.view or ''}", x, y, f"{d:.4f}", rule.describe()])
                n += 1
    return str(path), n


def rule_from_text(text: str) -> LabelRule:
    """'union', 'majority' or 'reference:NAME' (the CLI's and the settings dialog's spelling)."""
    name, _, ref = text.partition(":")
    return LabelRule(name.strip(), ref.strip() or None)


__all__ = ["LabelRule", "label_rule", "set_label_rule", "image_agreement", "agreement", "export_agreement_csv",
           "rule_from_text"]
