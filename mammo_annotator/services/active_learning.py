"""Which image to annotate next: pluggable strategies that see the datastore, never the GUI.

A strategy ranks candidate images and says why for each suggestion, so the annotator can judge
it ("p(M)=0.48, branches disagree"). The default is the paper's cost-effective setting: only
malignant images are contoured, so weakly labelled malignant images without contours come
first, the ones the model understands least at the top.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from ..core.records import ImageRecord
from ..core.types import AnnotationStatus
from ..store import images as image_store
from ..store import models as model_store
from .project import Project


@dataclass(frozen=True)
class Suggestion:
    image_id: int
    score: float  # higher = annotate sooner
    reason: str


@dataclass(frozen=True)
class Candidate:
    """What a strategy may look at for one image."""

    image: ImageRecord
    p_m: float | None  # active model's p(y_M); None when no model scored it
    p_b: float | None
    disagree: bool | None  # classification's top M region differs from detection's top M region


class Strategy(Protocol):
    name: str
    description: str

    def rank(self, candidates: list[Candidate]) -> list[Suggestion]: ...


def _entropy(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def _todo(c: Candidate) -> bool:
    return c.image.status is AnnotationStatus.NOT_ANNOTATED


def _pm(c: Candidate) -> str:
    return "no model yet" if c.p_m is None else f"p(M)={c.p_m:.2f}"


class RandomStrategy:
    name, description = "random", "not yet annotated images in a fixed random order"

    def __init__(self, seed: int = 0):
        self.seed = seed

    def rank(self, candidates: list[Candidate]) -> list[Suggestion]:
        todo = [c for c in candidates if _todo(c)]
        order = np.random.default_rng(self.seed).permutation(len(todo))
        return [Suggestion(todo[k].image.id, float(len(todo) - r), "random pick") for r, k in enumerate(order)]


class UncertaintyStrategy:
    name, description = "uncertainty", "not yet annotated images whose p(y_M) is closest to 0.5 (entropy)"

    def rank(self, candidates: list[Candidate]) -> list[Suggestion]:
        out = [Suggestion(c.image.id, _entropy(c.p_m), f"{_pm(c)}, entropy {_entropy(c.p_m):.2f}")
               for c in candidates if _todo(c) and c.p_m is not None]
        return sorted(out, key=lambda s: -s.score)


class DisagreementStrategy:
    name = "disagreement"
    description = "malignant images not yet contoured whose branches disagree or whose p(y_M) is least certain"

    def rank(self, candidates: list[Candidate]) -> list[Suggestion]:
        out = []
        for c in candidates:
            if not (_todo(c) and c.image.weak.y_m == 1 and c.p_m is not None):
                continue
            score = _entropy(c.p_m) + (1.0 if c.disagree else 0.0)
            why = f"{_pm(c)}, " + ("branches disagree" if c.disagree else "branches agree")
            out.append(Suggestion(c.image.id, score, why))
        return sorted(out, key=lambda s: -s.score)


class CostEffectiveStrategy:
    name = "cost-effective"
    description = "weakly labelled malignant images not yet contoured, those the model finds least malignant first"

    def rank(self, candidates: list[Candidate]) -> list[Suggestion]:
        out = []
        for c in candidates:
            if not (_todo(c) and c.image.weak.y_m == 1):
                continue
            # a known-malignant image the model scores low teaches it most; unscored ones first
            miss = 1.0 if c.p_m is None else 1.0 - c.p_m
            why = f"malignant, no contour, {_pm(c)}" + (", branches disagree" if c.disagree else "")
            out.append(Suggestion(c.image.id, miss + (0.25 if c.disagree else 0.0), why))
        return sorted(out, key=lambda s: -s.score)


STRATEGIES: dict[str, Callable[[], Strategy]] = {
    "cost-effective": CostEffectiveStrategy,
    "disagreement": DisagreementStrategy,
    "uncertainty": UncertaintyStrategy,
    "random": RandomStrategy,
}
DEFAULT_STRATEGY = "cost-effective"


def candidates(project: Project) -> list[Candidate]:
    """Every image with the active model's view of it (regions read only for the disagreement flag)."""
    with project.session() as s:
        images = image_store.list_images(s)
        version = model_store.active_model_id(s)
        probs = model_store.image_probabilities(s, version) if version else {}
        out = []
        for im in images:
            pm_pb = probs.get(im.id)
            disagree = None
            if version and pm_pb is not None and im.weak.y_m == 1 and im.status is AnnotationStatus.NOT_ANNOTATED:
                pred = model_store.prediction(s, version, im.id)
                if pred is not None and len(pred.region_scores):
                    # columns: p_cls N, B, M; p_det B, M; d_B, d_M
                    disagree = int(np.argmax(pred.region_scores[:, 2])) != int(np.argmax(pred.region_scores[:, 4]))
            out.append(Candidate(im, pm_pb[0] if pm_pb else None, pm_pb[1] if pm_pb else None, disagree))
    return out


def suggest(project: Project, strategy: str = DEFAULT_STRATEGY, limit: int | None = None) -> list[Suggestion]:
    """The ranked queue of images to annotate next."""
    if strategy not in STRATEGIES:
        raise KeyError(f"unknown strategy {strategy!r}; known: {sorted(STRATEGIES)}")
    ranked = STRATEGIES[strategy]().rank(candidates(project))
    return ranked[:limit] if limit else ranked


def why_empty(project: Project, strategy: str = DEFAULT_STRATEGY) -> str:
    """Why ``strategy`` suggests nothing: every image done, or none scored by a model yet (the
    uncertainty strategies rank only images the model has seen; "nothing left" would mislead)."""
    todo = [c for c in candidates(project) if _todo(c)]
    if not todo:
        return "every image is annotated"
    if strategy in ("disagreement", "cost-effective"):  # they rank known-malignant images only
        todo = [c for c in todo if c.image.weak.y_m == 1]
        if not todo:
            return "no weakly labelled malignant image is left without a contour"
    if all(c.p_m is None for c in todo):
        return f"{len(todo)} images wait, but no model has scored them yet: train one (Model > Retrain now)"
    return "no image fits this strategy"


def next_image(project: Project, strategy: str = DEFAULT_STRATEGY, exclude: int | None = None) -> Suggestion | None:
    for s in suggest(project, strategy):
        if s.image_id != exclude:
            return s
    return None
