"""Region-label CSV: the provenance of every training label, streamed row by row."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from sqlalchemy import select

from ..core.progress import ProgressFn, no_progress
from ..store.schema import ImageRow, RegionGridRow, RegionLabelRow, RegionRow
from .project import Project

COLUMNS = ["image_file", "image_id", "grid", "region", "x0", "y0", "x1", "y1", "inside_fraction", "label", "iom", "alpha", "annotation_id"]


def export_regions_csv(project: Project, out: str | os.PathLike, progress: ProgressFn = no_progress) -> int:
    """Write one row per region (unlabelled regions have an empty label); returns the row count.

    Written to a temporary file and renamed, so an interrupted export never leaves a torn CSV.
    """
    out = Path(out)
    tmp = out.with_name(out.name + ".part")
    n = 0
    query = (
        select(ImageRow.source_path, ImageRow.id, RegionGridRow.grid_key, RegionRow, RegionLabelRow)
        .join(RegionGridRow, RegionGridRow.image_id == ImageRow.id)
        .join(RegionRow, RegionRow.grid_id == RegionGridRow.id)
        .outerjoin(RegionLabelRow, RegionLabelRow.region_id == RegionRow.id)
        .order_by(ImageRow.id, RegionGridRow.id, RegionRow.idx)
        .execution_options(yield_per=2000)
    )
    with project.session() as s, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for path, image_id, grid_key, region, label in s.execute(query):
            writer.writerow(
                [
                    Path(path).name, image_id, grid_key, region.idx, region.x0, region.y0, region.x1, region.y1,
                    f"{region.inside_fraction:.4f}",
                    label.label if label else "",
                    f"{label.iom:.4f}" if label else "",
                    label.alpha if label else "",
                    label.annotation_id if label and label.annotation_id else "",
                ]
            )
            n += 1
            if n % 10000 == 0:
                progress(n, 0, f"{n} regions written")
    os.replace(tmp, out)
    return n
