"""Each active-learning strategy's order on cases whose right answer is known, and the model's
view of each image (p(M), the branches' disagreement) read from the store."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from mammo_annotator.core.records import ImageRecord
from mammo_annotator.core.types import AnnotationStatus, WeakLabel
from mammo_annotator.services import active_learning as al
from mammo_annotator.services import annotations as ann_svc
from mammo_annotator.store import models as model_store
from mammo_annotator.store import regions as region_store
from tests.helpers import add_blank_image, square

BASE = ImageRecord(0, "P", "S", "x.png", "0" * 64, 100, 100, 16, None, "L", "CC", "MONOCHROME2", "MG", None, None,
                   WeakLabel(1, 0), None, None, None, AnnotationStatus.NOT_ANNOTATED, 1)


def cand(image_id, p_m, disagree=None, y_m=1, status=AnnotationStatus.NOT_ANNOTATED):
    im = dataclasses.replace(BASE, id=image_id, weak=WeakLabel(y_m, 0), status=status)
    return al.Candidate(im, p_m, None if p_m is None else 0.1, disagree)


def entropy(p):
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def test_uncertainty_ranks_the_least_certain_first():
    cands = [cand(1, 0.9), cand(2, 0.5), cand(3, 0.02), cand(4, 0.45), cand(5, None), cand(6, 0.55, y_m=0),
             cand(7, 0.5, status=AnnotationStatus.CONTOURED), cand(8, 0.0), cand(9, 1.0)]
    ranked = al.UncertaintyStrategy().rank(cands)
    # any weak label counts; unscored and already annotated images are left out
    assert [s.image_id for s in ranked][:5] == [2, 4, 6, 1, 3] and {s.image_id for s in ranked[5:]} == {8, 9}
    assert ranked[0].score == pytest.approx(1.0) and ranked[3].score == pytest.approx(entropy(0.9))
    assert ranked[-1].score == pytest.approx(ranked[-2].score) and 0 < ranked[-1].score < 1e-4  # p clipped: finite
    assert ranked[0].reason == "p(M)=0.50, entropy 1.00"


def test_disagreement_puts_disagreeing_branches_first_then_uncertainty():
    cands = [cand(1, 0.9, True), cand(2, 0.5, False), cand(3, 0.6, True), cand(4, 0.5, True, y_m=0), cand(5, None, True),
             cand(6, 0.5, True, status=AnnotationStatus.NO_MALIGNANT), cand(7, 0.7, None)]
    ranked = al.DisagreementStrategy().rank(cands)
    assert [s.image_id for s in ranked] == [3, 1, 2, 7]  # malignant, to do, scored only
    assert ranked[0].score == pytest.approx(1 + entropy(0.6)) and ranked[2].score == pytest.approx(1.0)
    assert ranked[0].reason == "p(M)=0.60, branches disagree" and ranked[2].reason == "p(M)=0.50, branches agree"


def test_cost_effective_puts_the_least_understood_malignant_first():
    cands = [cand(1, 0.9), cand(2, 0.2), cand(3, None), cand(4, 0.3, True), cand(5, 0.1, status=AnnotationStatus.CONTOURED),
             cand(6, 0.0, y_m=0), cand(7, 0.95, True)]
    ranked = al.CostEffectiveStrategy().rank(cands)
    assert [s.image_id for s in ranked] == [3, 4, 2, 7, 1]
    assert [round(s.score, 6) for s in ranked] == [1.0, 0.95, 0.8, 0.3, 0.1]
    assert ranked[0].reason == "malignant, no contour, no model yet"
    assert ranked[1].reason == "malignant, no contour, p(M)=0.30, branches disagree"


def test_random_is_a_fixed_permutation_of_the_images_to_do():
    cands = [cand(i, None, y_m=i % 2) for i in range(1, 21)] + [cand(99, 0.5, status=AnnotationStatus.CONTOURED)]
    a, b = al.RandomStrategy(0).rank(cands), al.RandomStrategy(0).rank(cands)
    assert a == b and sorted(s.image_id for s in a) == list(range(1, 21))
    assert [s.score for s in a] == sorted((s.score for s in a), reverse=True)
    assert [s.image_id for s in al.RandomStrategy(1).rank(cands)] != [s.image_id for s in a]
    assert [s.image_id for s in a] != list(range(1, 21))
    assert {s.reason for s in a} == {"random pick"}


def _store_version(project, regions_by_image, probs):
    """A model version whose predictions put the top p_cls(M) and top p_det(M) regions where told."""
    with project.session() as s:
        vid = model_store.add_model_version(s, "cls_det_rs", "x", project.grid_spec().key(), {}, {}, {}, b"w")
        for image_id, (cls_top, det_top) in regions_by_image.items():
            grid = region_store.grid_id_for(s, image_id)
            n = len(region_store.regions_of(s, grid))
            cols = np.full((n, 7), 0.1, np.float32)
            cols[cls_top, 2] = 0.9
            cols[det_top, 4] = 0.8
            model_store.put_prediction(s, vid, image_id, grid, probs[image_id], 0.2, cols)
        model_store.activate(s, vid)
    return vid


def test_candidates_read_the_active_models_view(project):
    agree = add_blank_image(project, "P1")
    disagree = add_blank_image(project, "P2")
    normal = add_blank_image(project, "P3", weak=WeakLabel(0, 0))
    unscored = add_blank_image(project, "P4")
    contoured = add_blank_image(project, "P5")
    ann_svc.save_contour(project, contoured, square(100, 100, 60), "dr.a")
    before = {c.image.id: c for c in al.candidates(project)}
    assert all(c.p_m is None and c.disagree is None for c in before.values())
    assert [s.image_id for s in al.suggest(project, "cost-effective")] == [agree, disagree, unscored]
    _store_version(project, {agree: (3, 3), disagree: (1, 4), normal: (0, 2), contoured: (0, 2)},
                   {agree: 0.8, disagree: 0.3, normal: 0.6, contoured: 0.7})
    by_id = {c.image.id: c for c in al.candidates(project)}
    assert by_id[agree].p_m == pytest.approx(0.8) and by_id[agree].p_b == pytest.approx(0.2)
    assert by_id[agree].disagree is False and by_id[disagree].disagree is True
    assert by_id[normal].disagree is None and by_id[contoured].disagree is None  # only malignant images to do
    assert by_id[unscored].p_m is None
    ranked = al.suggest(project, "cost-effective")
    assert [s.image_id for s in ranked] == [unscored, disagree, agree]
    assert al.suggest(project, "cost-effective", limit=2) == ranked[:2]
    assert al.next_image(project).image_id == unscored
    assert al.next_image(project, exclude=unscored).image_id == disagree
    assert [s.image_id for s in al.suggest(project, "disagreement")] == [disagree, agree]
    with pytest.raises(KeyError, match="unknown strategy"):
        al.suggest(project, "smartest")
    assert al.DEFAULT_STRATEGY == "cost-effective" and set(al.STRATEGIES) == {"cost-effective", "disagreement",
                                                                           "uncertainty", "random"}


def test_next_image_is_none_when_nothing_is_left(project):
    only = add_blank_image(project, "P1")
    assert al.next_image(project).image_id == only
    assert al.next_image(project, exclude=only) is None


def test_next_image_follows_the_strategy_it_is_given(project):
    low = add_blank_image(project, "P1")  # malignant, p(M) 0.1: what cost-effective wants first
    mid = add_blank_image(project, "P2")  # malignant, p(M) 0.5: what uncertainty and disagreement want first
    _store_version(project, {low: (0, 0), mid: (1, 2)}, {low: 0.1, mid: 0.5})
    assert al.next_image(project).image_id == low
    assert al.next_image(project, "cost-effective").image_id == low
    assert al.next_image(project, "uncertainty").image_id == mid
    assert al.next_image(project, "disagreement").image_id == mid
    assert al.next_image(project, "uncertainty", exclude=mid).image_id == low


def test_a_prediction_without_regions_has_no_disagreement_flag(project):
    empty = add_blank_image(project, "P1")
    with project.session() as s:
        vid = model_store.add_model_version(s, "cls_det_rs", "x", project.grid_spec().key(), {}, {}, {}, b"w")
        model_store.put_prediction(s, vid, empty, region_store.grid_id_for(s, empty), 0.4, 0.2, np.zeros((0, 7), np.float32))
        model_store.activate(s, vid)
    (only,) = al.candidates(project)
    assert only.p_m == pytest.approx(0.4) and only.disagree is None
    assert [s.reason for s in al.suggest(project, "disagreement")] == ["p(M)=0.40, branches agree"]


def test_an_empty_queue_says_why(project):
    """'nothing left to suggest' was said when no model had scored the images yet."""
    from mammo_annotator.core.types import AnnotationStatus as St
    from mammo_annotator.store import images as image_store

    malignant = add_blank_image(project, "P1")
    normal = add_blank_image(project, "P2", weak=WeakLabel(0, 0))
    assert al.suggest(project, "uncertainty") == []
    assert "2 images wait, but no model has scored them yet" in al.why_empty(project, "uncertainty")
    assert "1 images wait, but no model has scored them yet" in al.why_empty(project, "disagreement")
    with project.session() as s:
        image_store.set_status(s, malignant, St.CONTOURED)
    assert al.why_empty(project, "cost-effective") == "no weakly labelled malignant image is left without a contour"
    with project.session() as s:
        image_store.set_status(s, normal, St.NO_MALIGNANT)
    assert al.why_empty(project, "random") == "every image is annotated"
