"""Every model version scored on the same validation images, so the history's numbers compare.

A version's stored ``val_loss`` was measured on the validation patients of its day; patients
imported later join the split, so two stored numbers may come from different images. This
re-scores each version (on the features it was trained on) on the images that all of them can
be scored on today, and says when that set is too small for its AUROC to mean anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.errors import MammoError
from ..store import models as model_store
from .project import Project

MIN_PER_CLASS = 5  # fewer malignant (or other) validation images than this: the AUROC is noise


@dataclass(frozen=True)
class Comparison:
    """Validation loss and AUROC (malignant vs rest) per version on one common image set."""

    image_ids: tuple[int, ...]
    n_patients: int
    n_malignant: int
    n_other: int
    loss: dict[int, float] = field(default_factory=dict)
    auroc: dict[int, float] = field(default_factory=dict)
    missing: dict[int, str] = field(default_factory=dict)  # version -> why it could not be scored

    @property
    def auroc_meaningful(self) -> bool:
        return self.n_malignant >= MIN_PER_CLASS and self.n_other >= MIN_PER_CLASS

    def caveat(self) -> str:
        if not self.image_ids:
            return "no validation images can be scored by every version"
        if self.auroc_meaningful:
            return ""
        return (f"only {self.n_malignant} malignant and {self.n_other} other validation images: "
                f"too few for the AUROC to mean much (at least {MIN_PER_CLASS} of each)")

    def describe(self) -> str:
        return f"on the same {len(self.image_ids)} validation images of {self.n_patients} patients"


def _validation_images(project: Project) -> dict[int, tuple[str, float | None]]:
    """image id -> (patient, y_M) of the project's validation patients."""
    from ..store import images as image_store

    val = set(project.setting("validation_patients", []) or [])
    with project.session() as s:
        images = image_store.list_images(s)
    return {im.id: (im.patient_key, None if im.weak.y_m is None else float(im.weak.y_m))
            for im in images if im.patient_key in val}


def compare_versions(project: Project, version_ids: list[int] | None = None) -> Comparison:
    """Score the versions (default: all but the diverged) on their common validation images."""
    from ..ml import modelio
    from ..ml.metrics import auroc
    from ..ml.scoring import score
    from .datasets import load_dataset
    from .training import _val_loss

    val = _validation_images(project)
    with project.session() as s:
        versions = [v for v in model_store.list_model_versions(s) if v.state != "diverged"]
        if version_ids is not None:
            versions = [v for v in versions if v.id in set(version_ids)]
        blobs = {v.id: model_store.model_weights(s, v.id) for v in versions}
    models, data, missing = {}, {}, {}
    for v in versions:
        try:
            model = modelio.from_bytes(blobs[v.id], f"model version {v.id}")
            pd = load_dataset(project, model.feature_key, image_ids=sorted(val))
        except (MammoError, ValueError, KeyError) as exc:
            missing[v.id] = str(exc)
            continue
        if not pd.image_ids:
            missing[v.id] = "its features are no longer cached"
            continue
        models[v.id], data[v.id] = model, pd
    common = sorted(set.intersection(*(set(pd.image_ids) for pd in data.values()))) if data else []
    common = [i for i in common if val[i][1] is not None]
    y = np.asarray([val[i][1] for i in common], dtype=float)
    out = Comparison(tuple(common), len({val[i][0] for i in common}), int((y == 1).sum()), int((y == 0).sum()),
                     missing=missing)
    if not common:
        return out
    for vid, pd in data.items():
        idx = [pd.image_ids.index(i) for i in common]
        ds = pd.data.subset(np.asarray(idx))
        model = models[vid]
        out.loss[vid] = float(_val_loss(model, ds))
        sc = score(model, ds, num_threads=1)
        out.auroc[vid] = float(auroc(y, np.asarray(sc.p_m, dtype=float))) if out.n_malignant and out.n_other else float("nan")
    return out
