"""Small builders shared by the tests: a project with images inserted without any pixel I/O."""

from __future__ import annotations

import numpy as np

from mammo_annotator.core.regions import region_grid
from mammo_annotator.core.types import GridSpec, ImageMeta, WeakLabel
from mammo_annotator.services.project import Project
from mammo_annotator.store import images as image_store
from mammo_annotator.store import regions as region_store


def add_blank_image(project: Project, patient: str = "P1", size: tuple[int, int] = (896, 672), weak=WeakLabel(1, 0),
                    laterality: str = "L", view: str = "MLO", sha: str | None = None) -> int:
    """Insert an image record with a full-frame breast mask and its default grid."""
    h, w = size
    meta = ImageMeta(source_path=f"/nonexistent/{patient}-{laterality}{view}.png", width=w, height=h, laterality=laterality, view=view)
    spec = project.grid_spec()
    regions = region_grid(np.ones((h, w), dtype=bool), spec)
    sha = sha or f"{patient}{laterality}{view}".ljust(64, "0")
    with project.session() as s:
        image_id = image_store.add_image(s, meta, sha, patient, f"{patient}-study", weak)
        region_store.add_grid(s, image_id, spec, None, regions)
    return image_id


def square(x0: float, y0: float, side: float) -> list[list[float]]:
    return [[x0, y0], [x0 + side, y0], [x0 + side, y0 + side], [x0, y0 + side]]


__all__ = ["add_blank_image", "square", "GridSpec"]


def synthetic_project_file(folder, n_patients: int, seed: int, size: tuple[int, int] = (512, 416)):
    """A closed project file with a synthetic cohort and its cached features (a template to copy)."""
    from mammo_annotator.services.features import ensure_features, project_extractor
    from mammo_annotator.services.project import open_project
    from mammo_annotator.services.synthetic_source import import_synthetic

    project = open_project(folder / "template.sqlite", create=True)
    project.set_grid_spec(GridSpec(size_mm=22.4, stride_mm=11.2))
    import_synthetic(project, n_patients=n_patients, seed=seed, size=size)
    ensure_features(project, project_extractor(project))
    project.close()
    return folder / "template.sqlite"


def open_copy(template, folder):
    """A fresh project opened from a copy of ``template``."""
    import shutil

    from mammo_annotator.services.project import open_project

    shutil.copy(template, folder / "p.sqlite")
    return open_project(folder / "p.sqlite")
