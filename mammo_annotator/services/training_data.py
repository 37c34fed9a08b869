"""What a training or an evaluation checks of its data before and after the work: damaged cached
features are computed again, a training with nothing to learn from is refused, and validation
metrics that cannot be measured are left out with the reason (never stored as NaN)."""

from __future__ import annotations

from typing import Callable, TypeVar

import numpy as np

from ..core.progress import CancelToken
from ..ml.losses import ObjectiveWeights
from ..ml.metrics import task_labels
from .datasets import NoTrainingDataError, ProjectDataset, load_dataset
from .features import repair_features
from .project import Project

T = TypeVar("T")


def load_repaired(project: Project, extractor, progress=lambda d, t, m: None,
                  cancel: CancelToken | None = None) -> ProjectDataset:
    """``load_dataset`` on ``extractor``'s features, repaired where a cached matrix is damaged."""
    return repaired(project, extractor, lambda: load_dataset(project, extractor.key), progress, cancel)


def repaired(project: Project, extractor, load: Callable[[], T], progress=lambda d, t, m: None,
             cancel: CancelToken | None = None, view: str = "identity") -> T:
    """``load()``; when a damaged cached matrix of ``view`` (NaN values, a wrong shape, bytes that
    do not make their matrix) makes it fail, those images are computed again (``repair_features``)
    and it is read once more."""
    try:
        return load()
    except NoTrainingDataError:
        raise
    except ValueError:
        if not repair_features(project, extractor, progress, cancel, view=view):
            raise
    return load()


def unreadable(failures: list[tuple[int, str]], limit: int = 3) -> str:
    """'the pixels of N images could not be read: image 3 (file: why); ...': the images a training
    or an evaluation leaves out, named, so that a moved image folder is not a silent smaller cohort."""
    shown = "; ".join(f"image {image_id} ({why})" for image_id, why in failures[:limit])
    more = f"; and {len(failures) - limit} more" if len(failures) > limit else ""
    return f"the pixels of {len(failures)} images could not be read: {shown}{more}"


def with_unreadable(project: Project, failures: list[tuple[int, str]], load: Callable[[], T]) -> tuple[T, str]:
    """``load()`` and the note naming the images ``ensure_features`` could not read (empty when none);
    when no image is left, the error names those images and why, not just "no cached features"."""
    try:
        out = load()
    except NoTrainingDataError:
        if not failures:
            raise
        raise NoTrainingDataError(f"{project.location}: no image has features to work on: {unreadable(failures)}") from None
    return out, f"{len(failures)} images left out: {unreadable(failures)}" if failures else ""


def require_labels(project: Project, train_ds, cfg, n_held_out: int) -> None:
    """Refuse a training with nothing to learn from (no known weak label and no labelled region
    among the training images): its loss is 0 at every step, and the version it would store and
    activate would propose images from its random initialisation."""
    w = ObjectiveWeights.from_dataset(train_ds, cfg)
    if w.w_weak_m or w.w_weak_b or w.w_full_cls or w.w_full_det:
        return
    held = f" ({n_held_out} images of the validation patients are held out)" if n_held_out else ""
    raise NoTrainingDataError(
        f"{project.path}: none of the {len(train_ds)} training images{held} has a weak label (malignant, benign or "
        "normal) or a malignant contour, so there is nothing to train on; label images first")


def finite_metrics(metrics: dict, val_ds) -> tuple[dict, str]:
    """The validation metrics that could be measured, and a note why the others could not: a
    validation set without both classes of a task has no AUROC, and a NaN stored with the version
    would be printed and plotted as if it were a result."""
    kept = {k: v for k, v in metrics.items() if v is None or np.isfinite(v)}
    if len(kept) == len(metrics):
        return kept, ""
    labels = task_labels(val_ds.y_m, val_ds.y_b)
    why = []
    for task, (pos, neg) in {"M_vs_BN": ("malignant", "non-malignant"), "MB_vs_N": ("abnormal", "normal")}.items():
        y = labels[task]
        if f"{task}/auroc" not in kept:
            why.append(f"{task} ({int(np.sum(y == 1))} {pos}, {int(np.sum(y == 0))} {neg})")
    note = f"validation AUROC not measured for {', '.join(why)}: the {len(val_ds)} validation images need both classes"
    return kept, note if why else "some validation metrics could not be measured"
