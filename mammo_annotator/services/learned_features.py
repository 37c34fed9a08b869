"""Train the project's own feature backbone (issue 7) and make it the project's extractor.

Weights are stored as a file named by their digest in ``<project>.extractors/`` beside the
database; the extractor key (``learned-<mode>:1:<digest>``) recorded with cached features and
with every model version is therefore the reference to the exact weights. Training is
resumable (a checkpoint per mode in the same folder) and stoppable (cancel token).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..ml.features.base import block_downsample, normalise_image
from ..ml.features.learned_train import ExtractorTrainConfig, train_extractor, training_images
from ..store import images as image_store
from .datasets import load_dataset
from .features import ensure_features, project_extractor
from .pixels import load_pixels
from .project import Project

StageProgress = Callable[[str, int, int, str], None]


@dataclass(frozen=True)
class LearnedOutcome:
    state: str  # done / cancelled
    key: str | None
    weights: Path | None
    seconds: float
    message: str


def extractor_folder(project: Project) -> Path:
    return project.path.with_name(project.path.stem + ".extractors")


def train_project_extractor(project: Project, config: ExtractorTrainConfig = ExtractorTrainConfig(),
                            make_default: bool = True, progress: StageProgress | None = None,
                            cancel=None) -> LearnedOutcome:
    """Train on every image of the project (its weak labels and, in supervised mode, the region
    labels its contours give), save the weights, and optionally switch the project to them."""
    t0 = time.perf_counter()
    base = project_extractor(project)
    ensure_features(project, base)
    ds = load_dataset(project, base.key).data
    ds = dataclasses.replace(ds, lesions=[()] * len(ds))  # the backbone learns from region labels only
    with project.session() as s:
        records = {str(im.id): im for im in image_store.list_images(s)}

    def work_of(image_id: str) -> tuple[np.ndarray, int]:
        im = records[image_id]
        f = max(1, int(round(0.2 / im.mean_spacing_mm))) if im.mean_spacing_mm else 1
        return block_downsample(normalise_image(load_pixels(im)), f), f

    data = training_images(ds, work_of)
    folder = extractor_folder(project)
    step_cb = None
    if progress is not None:
        step_cb = lambda step, total, loss, el: progress("backbone", step, total,  # noqa: E731
                                                         f"step {step}/{total}  loss {loss:.3f}  {el:.0f} s")
    res = train_extractor(data, config, progress=step_cb, cancel=cancel, checkpoint=folder / f"{config.mode}.ckpt")
    if res.status == "cancelled":
        return LearnedOutcome("cancelled", None, None, time.perf_counter() - t0,
                              f"stopped at step {res.steps_run}; the next run resumes from there")
    path = res.extractor.save(folder)
    (folder / f"{config.mode}.ckpt").unlink(missing_ok=True)
    if make_default:
        project.set_setting("extractor", {"name": "learned",
                                          "options": {"weights": str(path), "expect_digest": res.extractor.digest}})
    return LearnedOutcome("done", res.extractor.key, path, time.perf_counter() - t0,
                          f"trained {res.steps_run} steps on {len(data)} images")
