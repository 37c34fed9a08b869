"""Image-level labels CSV and model predictions CSV, one image at a time."""

from __future__ import annotations

import csv
import os

import numpy as np

from ...core.errors import MammoError
from ...core.progress import CancelToken, ProgressFn, check_cancel, no_progress
from ...store import batches
from ...store import models as model_store
from ..project import Project
from .common import PAGE, ExportOptions, ExportResult, iter_images
from .paths import atomic_open, out_file
from .pseudonyms import Identities

LABEL_COLUMNS = [
    "image", "patient", "image_file", "laterality", "view", "width", "height", "spacing_row_mm", "spacing_col_mm",
    "y_M", "y_B", "weak_label", "birads", "pathology", "label_source", "status", "contours_M", "contours_B",
]
SCORE_NAMES = ["p_cls_N", "p_cls_B", "p_cls_M", "p_det_B", "p_det_M", "d_B", "d_M"]  # store.models column order
PREDICTION_COLUMNS = [
    "image", "patient", "model_version", "model_name", "extractor", "grid", "p_M", "p_B",
    "rank", "region", "x0", "y0", "x1", "y1", *SCORE_NAMES,
]


def _blank(value) -> object:
    return "" if value is None else value


def export_labels_csv(project: Project, out: str | os.PathLike, options: ExportOptions = ExportOptions(),
                      progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> ExportResult:
    """One row per image: its weak label (y_M, y_B), BI-RADS / pathology and annotation status."""
    path = out_file(out, "labels.csv")
    ids = Identities(project, options.keep_ids)
    result = ExportResult("labels", path, files=1)
    with atomic_open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(LABEL_COLUMNS)
        for image, anns in iter_images(project, progress, cancel, "labels"):
            ident = ids.of(image)
            sp = image.pixel_spacing_mm or (None, None)
            writer.writerow([
                ident.image, ident.patient, ident.file, _blank(image.laterality), _blank(image.view),
                image.width, image.height, _blank(sp[0]), _blank(sp[1]),
                _blank(image.weak.y_m), _blank(image.weak.y_b), image.weak.name,
                _blank(image.birads), _blank(image.pathology), _blank(image.label_source), image.status.value,
                sum(a.cls.value == "M" for a in anns), sum(a.cls.value == "B" for a in anns),
            ])
            result.items += 1
    return result


class NoModelError(MammoError):
    """The project has no model version yet, so it has no predictions."""


def _version(project: Project, wanted: int | None):
    with project.session() as s:
        if wanted is not None:
            try:
                return model_store.get_model_version(s, wanted)
            except KeyError:
                raise NoModelError(f"{project.path}: no model version {wanted} "
                                   "(`mammo-annotator models` lists them)") from None
        active = model_store.active_model_id(s)
        if active is not None:
            return model_store.get_model_version(s, active)
        versions = model_store.list_model_versions(s)
    if not versions:
        raise NoModelError("the project has no trained model version, so there are no predictions to export")
    return versions[-1]


def export_predictions_csv(project: Project, out: str | os.PathLike, options: ExportOptions = ExportOptions(),
                           progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> ExportResult:
    """Image probabilities and the ``top_regions`` regions by d_M, one row per (image, region);
    an image with no region scores gets one row with empty region fields."""
    version = _version(project, options.model_version)
    path = out_file(out, "predictions.csv")
    ids = Identities(project, options.keep_ids)
    result = ExportResult("predictions", path, files=1)
    with project.session() as s:
        total = batches.image_count(s)
    done, after = 0, 0
    with atomic_open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(PREDICTION_COLUMNS)
        while True:
            with project.session() as s:
                page = batches.images_after(s, after, PAGE)
                preds = batches.predictions_of(s, version.id, [im.id for im in page])
                boxes = {p.grid_id: batches.region_boxes(s, p.grid_id) for p in preds.values()}
            if not page:
                break
            for image in page:
                check_cancel(cancel)
                done += 1
                progress(done, total, "predictions")
                pred = preds.get(image.id)
                if pred is None:
                    continue
                ident = ids.of(image)
                head = [ident.image, ident.patient, version.id, version.name, version.extractor_key, version.grid_key,
                        f"{pred.p_m:.6f}", f"{pred.p_b:.6f}"]
                scores = pred.region_scores
                order = np.argsort(-scores[:, 6], kind="stable")[: options.top_regions] if len(scores) else []
                if len(order) == 0:
                    writer.writerow(head + [""] * 12)
                for rank, i in enumerate(order, start=1):
                    box = boxes[pred.grid_id].get(int(i), ("", "", "", ""))
                    writer.writerow(head + [rank, int(i), *box, *(f"{v:.6f}" for v in scores[i])])
                result.items += 1
            after = page[-1].id
    return result
