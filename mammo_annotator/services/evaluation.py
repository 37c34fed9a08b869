"""Evaluate the paper's methods on a project: patient-wise CV (or train on one project, test on
another) and a Table-2-shaped report with ROC, FROC and probability-plane plots."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import MammoError
from ..core.progress import CancelToken, ProgressFn, no_progress
from ..ml.features.learned import LearnedExtractor
from ..ml.features.registry import build_extractor
from ..ml.cv import cross_validate, default_runs, folds_problem, train_test
from ..ml.metrics import has_both_classes, task_labels
from ..ml.report import write_report
from ..ml.train import TrainConfig
from .features import ensure_features, project_extractor
from .project import Project
from .training import augmented_view
from .training_data import load_repaired, repaired, with_unreadable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationRequest:
    out_dir: Path
    folds: int = 5
    seed: int = 0
    epochs: int = 60
    methods: list[str] | None = None  # run names of ml.cv.default_runs; None = all
    title: str = "Results"
    num_threads: int | None = 1  # small heads train fastest on one thread; more threads thrash on a busy machine
    augment: tuple[str, ...] = ()  # image views added to the training images (the app trains with none)
    extractor: str | None = None  # a fixed extractor by registry name instead of the project's (e.g. "handcrafted")
    extractor_options: dict | None = None


class LeakageError(MammoError):
    """Cross-validation would test on images that trained the features."""


class EvaluationError(MammoError):
    """A request this project cannot answer: unknown methods, or fewer patients than folds."""


def _dataset(project: Project, progress: ProgressFn, cancel: CancelToken | None, augment: tuple[str, ...] = (),
             request: EvaluationRequest | None = None, cross_validating: bool = False):
    """(dataset, its augmented views row for row) on the evaluated extractor, computing what is missing.

    A backbone learned from this project has seen every image a CV fold would test on (and the
    contours of images a weak-only row must not use), so cross-validating on it is refused;
    ``learned_cv`` (scripts/eval_learned_features.py) trains one backbone per fold instead."""
    if request is not None and request.extractor:
        extractor = build_extractor(request.extractor, **(request.extractor_options or {}))
    else:
        extractor = project_extractor(project)
    if cross_validating and isinstance(extractor, LearnedExtractor):
        raise LeakageError(
            f"{project.path}: the project's extractor {extractor.key} was trained on this project's images and "
            "contours, so every cross-validation test fold has already been seen. Evaluate a fixed extractor "
            "(--extractor efficientnet-lite1 or handcrafted), test on another project (--test-db), or measure the "
            "learned backbone with scripts/eval_learned_features.py, which trains it per fold.")
    _, failures = ensure_features(project, extractor, progress, cancel)
    for view in augment:
        ensure_features(project, extractor, progress, cancel, view=view)
    pd, left_out = with_unreadable(project, failures, lambda: load_repaired(project, extractor, progress, cancel))
    if left_out:  # the report is of fewer images than the project holds: said where the user looks
        log.warning("%s: %s", project.location, left_out)
    return pd.data, [repaired(project, extractor, lambda v=view: augmented_view(project, pd, extractor.key, v),
                              progress, cancel, view=view) for view in augment]


def _check_out_dir(out: Path) -> None:
    """The report folder can be written (it is created only with the report, so a refused request
    leaves nothing behind)."""
    if out.exists() and not out.is_dir():
        raise EvaluationError(f"{out} is a file; --out names the folder of the report")
    existing = out.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise EvaluationError(f"{out}: {existing} is a file, so the report folder cannot be made")
    if not os.access(existing, os.W_OK):
        raise EvaluationError(f"{out}: {existing} is not writable, so the report cannot be written")


def unmeasurable(ds, what: str) -> str | None:
    """Why no AUROC of either task can be measured on ``ds`` (neither M vs BN nor MB vs N has
    images of both classes), or None: a report of hours of training that says only "n/a"
    must be refused up front, naming the class counts."""
    labels = task_labels(ds.y_m, ds.y_b)
    if any(has_both_classes(y) for y in labels.values()):
        return None
    count = lambda y, v: int(np.sum(y == v))  # noqa: E731
    m, mb = labels["M_vs_BN"], labels["MB_vs_N"]
    return (f"no AUROC can be measured on {what}: of {len(ds)} images, {count(m, 1)} are malignant and "
            f"{count(m, 0)} not (M vs BN), {count(mb, 1)} abnormal and {count(mb, 0)} normal (MB vs N); "
            "each task needs labelled images of both classes")


def run_evaluation(project: Project, request: EvaluationRequest, test_project: Project | None = None,
                   progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> dict[str, Path]:
    """Run every requested method and write results.md / results.json / plots to ``out_dir``."""
    runs = default_runs(TrainConfig(epochs=request.epochs, seed=request.seed, num_threads=request.num_threads))
    if request.methods:
        unknown = set(request.methods) - {r.name for r in runs}
        if unknown:
            raise EvaluationError(f"unknown methods {sorted(unknown)}; known: {[r.name for r in runs]}")
        runs = [r for r in runs if r.name in request.methods]
    if test_project is None and request.folds < 2:
        raise EvaluationError(f"cross-validation needs at least 2 folds, not {request.folds}")
    _check_out_dir(Path(request.out_dir))  # before the hours of work, not after them
    ds, views = _dataset(project, progress, cancel, request.augment, request, cross_validating=test_project is None)
    why = unmeasurable(ds, "its images") if test_project is None else None
    if why:
        raise EvaluationError(f"{project.path}: {why}")
    problem = folds_problem(ds, request.folds) if test_project is None else None
    if problem:
        raise EvaluationError(f"{project.path}: {problem}. Use fewer folds (--folds), or test on another "
                              "project (--test-db)")
    total = len(runs) * (1 if test_project else request.folds)
    count = {"n": 0}

    def cv_progress(name: str, fold: int, n_folds: int) -> None:
        progress(count["n"], total, f"{name} fold {fold + 1}/{n_folds}")
        count["n"] += 1

    if test_project is not None:
        if same_database(project, test_project):
            raise EvaluationError(f"{test_project.location}: --test-db is the project trained on (--db); "
                                  "name another project, or leave --test-db out to cross-validate")
        test_ds, _ = _dataset(test_project, progress, cancel, request=request)
        problem = unmeasurable(test_ds, "the test images") or shared_patients(ds, test_ds)
        if problem:
            raise EvaluationError(f"{test_project.location}: {problem}")
        result = train_test(ds, test_ds, runs, request.seed, cv_progress, cancel, views=views)
    else:
        result = cross_validate(ds, runs, request.folds, request.seed, cv_progress, cancel, views=views)
    progress(total, total, "writing the report")
    return write_staged(result, Path(request.out_dir), request.title)


def same_database(a: Project, b: Project) -> bool:
    """Whether two opened projects are one database (the same file by any path, or the same URL)."""
    if a.is_server or b.is_server:
        return a.location == b.location
    try:
        return os.path.samefile(a.path, b.path)
    except OSError:
        return False


def shared_patients(train_ds, test_ds) -> str | None:
    """Why ``test_ds`` cannot test a model trained on ``train_ds`` (patients in both), or None."""
    shared = sorted(set(train_ds.patient_ids.tolist()) & set(test_ds.patient_ids.tolist()))
    if not shared:
        return None
    return (f"{len(shared)} of its patients are also in the training project (e.g. {', '.join(map(str, shared[:3]))}), "
            "so the test would score images the model was trained on")


def write_staged(result, out: Path, title: str) -> dict[str, Path]:
    """``write_report`` into a hidden folder beside ``out`` (or in its nearest existing parent), then each
    file moved into ``out``.

    The report takes seconds to minutes (bootstrap intervals, plots): a Ctrl-C or an error then
    left a folder with results.md but no plots, or a new results.md beside the last run's plots.
    Now ``out`` holds the whole report or is as it was."""
    existing = out.absolute().parent
    while not existing.exists():  # no folder is made before the report is whole
        existing = existing.parent
    staging = Path(tempfile.mkdtemp(dir=existing, prefix=f".{out.name}.", suffix=".part"))
    try:
        written = write_report(result, staging, title)
        out.mkdir(parents=True, exist_ok=True)
        for path in written.values():
            os.replace(path, out / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {name: out / path.name for name, path in written.items()}
