"""The training use case: features -> dataset -> train -> validate -> store -> score -> activate.

One call is one model version. A fixed patient-wise validation split (stored in the project so
every version is judged on the same patients) decides whether the new version may replace the
active one: a version that diverged or validates worse is kept in the history, not activated.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..core.errors import MammoError
from ..core.progress import CancelToken, Cancelled
from ..core.iom import iom_matrix
from ..core.types import LesionClass
from ..ml import modelio
from ..ml.dataset import REGION_BN, REGION_IGNORED, REGION_M
from ..ml.features.learned import LearnedExtractor
from ..ml.metrics import image_and_breast_metrics
from ..ml.model import METHODS, TrainedModel, method
from ..ml.scoring import Scores, score
from ..ml.train import TrainConfig, train
from ..ml.warm import changed_images, warm_config
from ..store import models as model_store
from .datasets import ProjectDataset, load_dataset
from .features import ensure_features, project_extractor, shift_of, view_key
from .end_to_end import refresh_end_to_end
from .learned_features import refresh_backbone
from .project import Project
from .training_data import finite_metrics, load_repaired, repaired, require_labels, with_unreadable

StageProgress = Callable[[str, int, int, str], None]  # (stage, done, total, message)
VAL_FRACTION = 0.2
WORSE_TOLERANCE = 0.02  # relative validation-loss increase tolerated before a version counts as worse
ACTIVATION_POLICIES = ("if_better", "always", "never")


@dataclass(frozen=True)
class TrainingRequest:
    method: str | None = None  # None: semi-supervised when contours exist, else weak Cls-Det-RS
    epochs: int | None = None  # None: enough epochs for about 250 optimiser steps (10 to 60)
    seed: int = 0
    warm_start: bool = False
    activate: str = "if_better"  # "if_better" | "always" | "never"
    num_threads: int | None = None  # None: all cores; the app's background job uses 1 to keep the GUI fluid
    # image views whose features are added as training samples; none by default: with the pretrained
    # features the mirror view did not help in CV (docs/results.md) and costs a second feature pass
    augment: tuple[str, ...] = ()
    backbone: str = "keep"  # "keep": train the heads only (seconds); "refresh": retrain the learned backbone first (minutes)
    backbone_mode: str | None = None  # refresh: supervised | simclr | e2e (default: the current backbone's mode)
    backbone_steps: int | None = None  # refresh: optimiser steps of the backbone (default 300)

    def __post_init__(self) -> None:
        if self.activate not in ACTIVATION_POLICIES:
            raise ValueError(f"activate must be one of {', '.join(ACTIVATION_POLICIES)}, got {self.activate!r}")
        if self.backbone not in ("keep", "refresh"):
            raise ValueError(f"backbone must be 'keep' or 'refresh', got {self.backbone!r}")


@dataclass
class TrainingOutcome:
    version_id: int | None
    activated: bool
    state: str  # done / worse / diverged / cancelled
    message: str
    metrics: dict = field(default_factory=dict)
    seconds: float = 0.0


def _quiet(stage: str, done: int, total: int, message: str) -> None:
    pass


def validation_patients(project: Project, pd: ProjectDataset) -> set[str]:
    """The project's held-out patients: chosen once, extended for patients imported later."""
    stored = project.setting("validation_patients")
    known = project.setting("split_patients_seen", [])
    patients = sorted(set(pd.data.patient_ids.tolist()))
    new = [p for p in patients if p not in set(known)]
    val = set(stored or [])
    if new:
        rng = np.random.default_rng(len(known))
        pick = rng.random(len(new)) < VAL_FRACTION
        val |= {p for p, k in zip(new, pick) if k}
        project.set_setting("validation_patients", sorted(val))
        project.set_setting("split_patients_seen", sorted(set(known) | set(new)))
    return val


def _metrics(ds, sc: Scores) -> dict:
    return image_and_breast_metrics(ds.y_m, ds.y_b, sc.p_m, sc.p_b, ds.patient_ids, ds.laterality)


def _val_loss(model: TrainedModel, val_ds) -> float:
    from ..ml.train import evaluate_loss, resolve_device

    return float(evaluate_loss(model.head, val_ds, model.config, resolve_device("cpu")))


class TrainingRequestError(MammoError, KeyError):
    """A request naming a method or model version that does not exist (a KeyError too, as before)."""

    def __str__(self) -> str:  # a KeyError quotes its message
        return str(self.args[0]) if self.args else ""


def run_training(project: Project, request: TrainingRequest = TrainingRequest(), progress: StageProgress = _quiet,
                 cancel: CancelToken | None = None) -> TrainingOutcome:
    t0 = time.perf_counter()
    if request.method is not None and request.method not in METHODS:  # before minutes of feature extraction
        raise TrainingRequestError(f"unknown method {request.method!r}; known: {', '.join(sorted(METHODS))}")
    backbone_note = "heads only"
    if request.backbone == "refresh":
        # the backbone never sees the validation patients, or the version comparison is biased
        base = project_extractor(project)
        try:
            _, failures = ensure_features(project, base, lambda d, t, m: progress("features", d, t, m), cancel)
        except Cancelled:
            return TrainingOutcome(None, False, "cancelled", "stopped while computing features",
                                   seconds=time.perf_counter() - t0)
        base_ds, _ = with_unreadable(project, failures, lambda: load_dataset(project, base.key))
        held_out = validation_patients(project, base_ds)
        mode = request.backbone_mode or ("e2e" if isinstance(base, LearnedExtractor) and base.mode == "e2e" else None)
        if mode == "e2e":
            done = refresh_end_to_end(project, None, request.num_threads, progress, cancel, exclude_patients=held_out)
        else:
            done = refresh_backbone(project, mode, request.backbone_steps, request.num_threads,
                                    progress, cancel, exclude_patients=held_out)
        if done.state != "done":
            return TrainingOutcome(None, False, "cancelled", f"stopped while refreshing the backbone: {done.message}",
                                   seconds=time.perf_counter() - t0)
        backbone_note = f"backbone refreshed ({done.key}, {done.message}, {done.seconds:.0f} s) + heads"
    extractor = project_extractor(project)
    try:
        computed, failures = ensure_features(project, extractor, lambda d, t, m: progress("features", d, t, m), cancel)
        augment = augment_now(computed, request.augment)
        if augment != request.augment:
            backbone_note += f"; views {', '.join(request.augment)} deferred to the next training ({computed} new images)"
        for view in augment:
            ensure_features(project, extractor, lambda d, t, m: progress("features", d, t, m), cancel, view=view)
        pd, left_out = with_unreadable(project, failures, lambda: load_repaired(
            project, extractor, lambda d, t, m: progress("features", d, t, m), cancel))
    except Cancelled:
        return TrainingOutcome(None, False, "cancelled", "stopped while computing features", seconds=time.perf_counter() - t0)
    if left_out:
        backbone_note += f"; {left_out}"
    ds = pd.data
    name = request.method or ("ss_cls_det_rs" if ds.has_local.any() else "cls_det_rs")
    cfg = method(name)
    val_patients = validation_patients(project, pd)
    is_val = np.isin(ds.patient_ids.astype(str), sorted(val_patients))
    train_idx, val_idx = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    if len(train_idx) == 0:
        train_idx, val_idx = np.arange(len(ds)), np.zeros(0, dtype=int)
    train_ds = ds.subset(train_idx)
    require_labels(project, train_ds, cfg, len(val_idx))
    extra = [repaired(project, extractor, lambda v=view: augmented_view(project, pd, extractor.key, v), view=view)
             .subset(train_idx) for view in augment]
    with project.session() as s:
        active_id = model_store.active_model_id(s)
        active_blob = model_store.model_weights(s, active_id) if active_id else None
    active = modelio.from_bytes(active_blob, f"model version {active_id}") if active_blob else None
    current = active
    if current is not None and (current.feature_key != extractor.key or current.in_dim != ds.dim):
        current = None  # another extractor: nothing to warm-start from (compared below on its own features)
    init = current if request.warm_start and current is not None and current.config == cfg else None
    epochs = request.epochs or auto_epochs(len(train_ds))
    if init is None:
        tcfg, focus = TrainConfig(epochs=epochs, seed=request.seed, num_threads=request.num_threads), None
    else:  # the images whose labels changed since the active model join every batch (ml/warm.py)
        tcfg = warm_config(epochs, seed=request.seed, num_threads=request.num_threads)
        focus = changed_images(train_ds, init)
    result = train(train_ds, cfg, tcfg, init=init, cancel=cancel, extra_views=extra or None, focus=focus,
                   progress=lambda e, n, loss, el: progress("train", e, n, f"epoch {e}/{n}  loss {loss:.4f}  {el:.1f} s"))
    if result.status == "cancelled":
        return TrainingOutcome(None, False, "cancelled", result.message, seconds=time.perf_counter() - t0)
    model = result.model
    progress("validate", 0, 1, "validating")
    metrics: dict = {"train_seconds": round(result.elapsed_s, 3), "epochs": result.epochs_run, "method": name,
                     "backbone": request.backbone, "extractor": extractor.key,
                     "warm_start": init is not None, "n_val_images": int(len(val_idx))}
    if focus is not None:
        metrics["warm_focus_images"] = int(len(focus))
    state = "done" if result.status == "done" else "diverged"
    if len(val_idx):
        val_ds = ds.subset(val_idx)
        val_metrics, unmeasured = finite_metrics(_metrics(val_ds, score(model, val_ds, num_threads=request.num_threads)), val_ds)
        metrics.update({f"val_{k}": v for k, v in val_metrics.items()})
        if unmeasured:
            backbone_note += f"; {unmeasured}"
        metrics["val_loss"] = _val_loss(model, val_ds)
        active_val = val_ds if current is not None else _on_own_features(project, active, pd, val_idx)
        if active_val is not None and state == "done":
            current_loss = _val_loss(active, active_val)
            metrics["active_val_loss"] = current_loss
            if validates_worse(metrics["val_loss"], current_loss):
                state = "worse"
        elif active is not None:
            backbone_note += "; the active version's features are gone, so it was not compared"
    # the label digests travel in the model file, where the next warm retrain reads them, not in the table row
    summary = {k: v for k, v in train_ds.summary().items() if k != "label_digests"}
    summary |= {"n_val_images": int(len(val_idx)), "method": name, "augment": list(augment)}
    model.metrics.update(metrics)
    progress("store", 0, 1, "scoring all images")
    scores = score(model, ds, num_threads=request.num_threads)
    activate = should_activate(request.activate, state)
    message = {"done": "trained", "worse": "validates worse than the active model: kept, not activated",
               "diverged": f"diverged ({result.message}): kept, not activated"}[state] + f"; {backbone_note}"
    with project.session() as s:
        version = model_store.add_model_version(
            s, name, extractor.key, ds_grid_key(project), cfg.to_json() | {"train": tcfg.to_json()}, summary, metrics,
            modelio.to_bytes(model), state=state, note=message,
        )
        store_predictions(s, version, pd, scores)
        if activate:
            model_store.activate(s, version)
    project.events.emit("model_added", version_id=version)
    if activate:
        project.events.emit("model_activated", version_id=version)
    return TrainingOutcome(version, activate, state, message, metrics, time.perf_counter() - t0)


def augment_now(computed: int, augment: tuple[str, ...]) -> tuple[str, ...]:
    """The augmented views a training adds: none when it had to compute plain features first.

    Each view costs a second feature pass per image, so the first training of a project (or the
    first after an import) extracts the plain view only and its proposals arrive in half the
    time; the next training, with every plain feature cached, adds the views.
    """
    return () if computed else tuple(augment)


def validates_worse(val_loss: float, active_loss: float) -> bool:
    """A new version is worse when its validation loss exceeds the active one's by more than
    WORSE_TOLERANCE (relative): noise between equally good versions must not block a retrain."""
    return val_loss > active_loss * (1 + WORSE_TOLERANCE)


def should_activate(policy: str, state: str) -> bool:
    """Policy "if_better" activates only a version that trained to the end and does not validate worse
    (state "done"); "always" and "never" ignore the state."""
    if policy == "if_better":
        return state == "done"
    return policy == "always"


def _on_own_features(project: Project, model: TrainedModel | None, pd: ProjectDataset, idx: np.ndarray):
    """The images ``idx`` of ``pd`` with the features ``model`` was trained on (another extractor's
    cache), so a version on new features is judged against the active one on the same patients
    and labels; None when there is no such model or its features are no longer complete."""
    if model is None or not model.feature_key:
        return None
    wanted = [pd.image_ids[i] for i in idx]
    try:
        other = load_dataset(project, model.feature_key, image_ids=wanted)
    except ValueError:
        return None
    if other.image_ids != wanted or other.data.dim != model.in_dim:
        return None
    return other.data


def augmented_view(project: Project, pd: ProjectDataset, extractor_key: str, view: str):
    """The dataset's images seen through ``view``, row for row (same boxes; the labels of the
    windows' new content for ``shift``)."""
    other = load_dataset(project, view_key(extractor_key, view), image_ids=pd.image_ids)
    if other.image_ids != pd.image_ids:
        raise ValueError(f"features of view {view} are missing for some images")
    out = dataclasses.replace(other.data, feature_key=pd.data.feature_key)
    if view == "shift":
        out = dataclasses.replace(out, region_labels=shifted_content_labels(out, project.alpha()))
    return out


def shifted_content_labels(ds, alpha: float):
    """Region labels of the ``shift`` view: window i shows the content of its box moved back by
    the shift, so IoM is taken between that box and the image's malignant contours."""
    labels = ds.region_labels.copy()
    for i in np.flatnonzero(ds.has_local):
        sl = ds.region_slice(int(i))
        boxes = ds.boxes[sl] - shift_of(ds.boxes[sl])
        malignant = [les for les in ds.lesions[i] if les.cls is LesionClass.MALIGNANT]
        best = iom_matrix(boxes, malignant).max(axis=1) if malignant else np.zeros(len(boxes))
        labels[sl] = np.where(best >= alpha, REGION_M, np.where(best <= 0.0, REGION_BN, REGION_IGNORED))
    return labels


def auto_epochs(n_images: int, batch: int = TrainConfig.batch_size or 128, steps: int = 250) -> int:
    """Small projects need more passes than large ones for the same number of updates."""
    per_epoch = max(1, -(-n_images // batch))
    return int(min(60, max(10, -(-steps // per_epoch))))


def ds_grid_key(project: Project) -> str:
    return project.grid_spec().key()


def store_predictions(session, version_id: int, pd: ProjectDataset, sc: Scores) -> None:
    """Write every image's probabilities and region scores (p_cls N,B,M; p_det B,M; d_B, d_M)."""
    for i, (image_id, grid_id) in enumerate(zip(pd.image_ids, pd.grid_ids)):
        r = sc.regions(i)
        cols = np.concatenate([r["p_cls"], r["p_det"], r["d"]], axis=1).astype(np.float32)
        model_store.put_prediction(session, version_id, image_id, grid_id, float(sc.p_m[i]), float(sc.p_b[i]), cols)


def activate_version(project: Project, version_id: int) -> None:
    """Switch the proposals to another stored version (the user's choice overrides 'worse')."""
    with project.session() as s:
        try:
            model_store.activate(s, version_id)
        except KeyError:
            raise TrainingRequestError(f"{project.path}: no model version {version_id} "
                                       "(`mammo-annotator models` lists them)") from None
    project.events.emit("model_activated", version_id=version_id)
