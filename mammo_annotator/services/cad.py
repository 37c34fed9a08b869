"""CAD marks: which of the model's regions are worth showing a reader, and how current the model is.

The method's FROC classifies an image as class c when its p(c) reaches the operating point at
which the image-level sensitivity on the validation patients is 0.85; only those images get
detections, ranked by the region score d_c = p_cls(c | r) * p_det(r | c). The marks follow the
same rule: ``operating_point`` recomputes that threshold from the version's stored predictions
of the project's validation images (it is not stored with the version), and falls back to
``DEFAULT_THRESHOLD`` when the validation images lack a class. Inside an image, a mark is a
region among the ``k`` best by d_c whose d_c is at least ``MIN_RELATIVE`` of the image's best.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..store import models as model_store
from .project import Project
from .viewing import ImageBundle, Proposal, top_proposals

SENSITIVITY = 0.85
DEFAULT_THRESHOLD = 0.5  # without a usable validation set: an image is "c" when p(c) >= 0.5
MIN_RELATIVE = 0.25  # a mark's d_c is at least this fraction of the image's best d_c
# A validation threshold below this means the version hardly separates the class on its validation
# patients (a benign class trained on few images often gives 0.00): marks then need p(c) >= 0.05,
# or every image, normal ones included, would carry a mark at p = 0.00.
MIN_THRESHOLD = 0.05
DEFAULT_K = 3


@dataclass(frozen=True)
class OperatingPoint:
    """The p(c) threshold from which an image gets class-c marks, and where it came from."""

    cls: str
    threshold: float
    source: str  # "validation" | "default"
    n_positive: int = 0
    n_negative: int = 0

    def describe(self) -> str:
        if self.source == "validation":
            floor = " (raised to the minimum: the model hardly separates this class yet)" \
                if self.threshold <= MIN_THRESHOLD else ""
            return (f"p({self.cls}) ≥ {self.threshold:.2f}: sensitivity {SENSITIVITY:.2f} on the validation images "
                    f"({self.n_positive} with, {self.n_negative} without){floor}")
        return (f"p({self.cls}) ≥ {self.threshold:.2f} (default: the validation images lack a "
                f"{'malignant' if self.cls == 'M' else 'benign'} or a negative case)")


def operating_point(project: Project, version_id: int, cls: str = "M", sensitivity: float = SENSITIVITY) -> OperatingPoint:
    """The image-level threshold on p(cls) of ``version_id`` at ``sensitivity`` on the validation patients."""
    from sqlalchemy import select

    from ..store.schema import ImageRow, PatientRow, PredictionRow, StudyRow

    val = set(project.setting("validation_patients", []) or [])
    if not val:
        return OperatingPoint(cls, DEFAULT_THRESHOLD, "default")
    col = ImageRow.y_m if cls == "M" else ImageRow.y_b
    prob = PredictionRow.p_m if cls == "M" else PredictionRow.p_b
    with project.session() as s:
        rows = s.execute(
            select(col, prob)
            .join(PredictionRow, PredictionRow.image_id == ImageRow.id)
            .join(StudyRow, ImageRow.study_id == StudyRow.id)
            .join(PatientRow, StudyRow.patient_id == PatientRow.id)
            .where(PredictionRow.model_version_id == version_id, PatientRow.patient_key.in_(sorted(val)), col.is_not(None))
        ).all()
    y = np.asarray([r[0] for r in rows], dtype=float)
    p = np.asarray([r[1] for r in rows], dtype=float)
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    if n_pos == 0 or n_neg == 0:
        return OperatingPoint(cls, DEFAULT_THRESHOLD, "default", n_pos, n_neg)
    return OperatingPoint(cls, max(MIN_THRESHOLD, threshold_at_sensitivity(y, p, sensitivity)), "validation", n_pos, n_neg)


def threshold_at_sensitivity(y: np.ndarray, p: np.ndarray, sensitivity: float) -> float:
    """The highest score threshold whose sensitivity (TPR) reaches ``sensitivity``: the
    ceil(sensitivity x n_positive)-th highest positive score (what ``ml.metrics.operating_point``
    picks from the ROC; computed here without scikit-learn, which the app does not load at start)."""
    pos = np.sort(np.asarray(p, dtype=float)[np.asarray(y) == 1])[::-1]
    k = int(np.ceil(sensitivity * len(pos) - 1e-12))
    return float(pos[max(0, min(len(pos), k) - 1)])


def marks(bundle: ImageBundle | None, cls: str, threshold: float, k: int = DEFAULT_K,
          min_relative: float = MIN_RELATIVE) -> list[Proposal]:
    """The class-``cls`` marks of the image: none below the operating threshold on p(cls), else
    up to ``k`` distinct regions ranked by d_c with d_c >= ``min_relative`` x the best."""
    pred = bundle.prediction if bundle else None
    if pred is None or bundle.prediction_boxes is None or not len(pred.region_scores):
        return []
    p = pred.p_m if cls == "M" else pred.p_b
    if p < threshold:
        return []
    best = top_proposals(pred, bundle.prediction_boxes, cls, 1)
    if not best:
        return []
    return top_proposals(pred, bundle.prediction_boxes, cls, k, best[0].score * min_relative)


def annotated_since(project: Project, version_id: int) -> int:
    """How many images got a contour edit or a 'no malignant finding' after the version was
    trained: their new annotations are not in it yet."""
    from sqlalchemy import select

    from ..store.schema import AnnotationRevisionRow, AnnotationRow, ImageRow

    with project.session() as s:
        created = model_store.get_model_version(s, version_id).created_at
        edited = set(s.scalars(
            select(AnnotationRow.image_id).join(AnnotationRevisionRow, AnnotationRevisionRow.annotation_id == AnnotationRow.id)
            .where(AnnotationRevisionRow.at > created).group_by(AnnotationRow.image_id)
        ).all())
        confirmed = set(s.scalars(
            select(ImageRow.id).where(ImageRow.status == "no_malignant", ImageRow.updated_at > created)
        ).all())
    return len(edited | confirmed)
