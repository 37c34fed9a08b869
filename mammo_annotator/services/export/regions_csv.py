"""Region-label CSV: the provenance of every training label, streamed row by row.

One row per region of every grid: its box, the fraction inside the breast, its label (M / BN /
ignored, empty when the image is not annotated), the IoM and alpha that gave it, the annotation
that produced it and the grid settings.
"""

from __future__ import annotations

import csv
import os

from ...core.progress import CancelToken, ProgressFn, check_cancel, no_progress
from ...store import batches
from ..project import Project
from .paths import atomic_open, out_file
from .pseudonyms import Identities

COLUMNS = [
    "image", "patient", "image_file", "grid", "size_px", "stride_px", "min_inside", "region",
    "x0", "y0", "x1", "y1", "inside_fraction", "label", "iom", "alpha", "annotation_id",
]


def export_regions_csv(
    project: Project,
    out: str | os.PathLike,
    progress: ProgressFn = no_progress,
    keep_ids: bool = False,
    cancel: CancelToken | None = None,
) -> int:
    """Write one row per region; returns the row count. ``image_file`` is empty unless ``keep_ids``.

    Written to a temporary file and renamed, so an interrupted export never leaves a torn CSV.
    """
    path = out_file(out, "regions.csv")
    ids = Identities(project, keep_ids)
    n, last_image, ident = 0, None, None
    with project.session() as s, atomic_open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for (image_id, sha, patient, source, grid_key, size, stride, min_inside,
             idx, x0, y0, x1, y1, inside, label, iom, alpha, ann_id) in batches.region_label_rows(s):
            if image_id != last_image:
                check_cancel(cancel)
                ident, last_image = ids.of_parts(image_id, sha, patient, source), image_id
            writer.writerow([
                ident.image, ident.patient, ident.file, grid_key, size, stride, min_inside, idx,
                x0, y0, x1, y1, f"{inside:.4f}",
                label or "", f"{iom:.4f}" if label else "", alpha if label else "", ann_id or "",
            ])
            n += 1
            if n % 10000 == 0:
                progress(n, 0, f"{n} regions written")
    progress(n, n, f"{n} regions written")
    return n
