"""Leakage check of the fold-wise pipeline: every backbone is trained on its fold's training
images only, sees no lesion outline, and sees region labels only of the malignant images its
row may use (none for weak-only rows); both breasts of a patient share a fold."""

import copy

import numpy as np
import torch

from mammo_annotator.ml.cv import RunSpec, patient_folds, select_local
from mammo_annotator.ml.features.learned import BackboneConfig, LearnedExtractor, SmallConvNet
from mammo_annotator.ml.features.learned_train import ExtractorTrainConfig, ExtractorTrainResult, TrainImages
from mammo_annotator.ml.learned_cv import BackboneSpec, Variant, budget_for, learned_cv
from mammo_annotator.ml.model import method
from mammo_annotator.ml.train import TrainConfig

from .learned_helpers import WINDOW, cohort


class RecordingTrainer:
    """Stands in for train_extractor: records what it was given, returns a random small net."""

    def __init__(self):
        self.calls: list[TrainImages] = []
        self.configs: list[ExtractorTrainConfig] = []

    def __call__(self, images: TrainImages, cfg: ExtractorTrainConfig, patch: int) -> ExtractorTrainResult:
        assert not hasattr(images, "lesions")
        self.calls.append(images)
        self.configs.append(cfg)
        bcfg = BackboneConfig(widths=(4, 4, 8, 8))
        torch.manual_seed(len(self.calls))
        return ExtractorTrainResult("done", LearnedExtractor(SmallConvNet(bcfg), bcfg, cfg.mode), [0.0], 1, 0.0)


def test_budget_for_never_exceeds_the_row():
    budgets = (None, 0.5, 1.0)
    assert budget_for(None, budgets) is None
    assert budget_for(0.25, budgets) is None
    assert budget_for(0.5, budgets) == 0.5 and budget_for(0.75, budgets) == 0.5
    assert budget_for(1.0, budgets) == 1.0


def test_foldwise_pipeline_has_no_leakage():
    ds, work = cohort(6, 5)
    k, seed = 2, 0
    tcfg = TrainConfig(epochs=1, batch_size=None)
    runs = [RunSpec("cls_det_rs", method("cls_det_rs"), None, tcfg),
            RunSpec("ss_cls_det_rs_50", method("ss_cls_det_rs"), 0.5, tcfg),
            RunSpec("ss_cls_det_rs_100", method("ss_cls_det_rs"), 1.0, tcfg)]
    rec = RecordingTrainer()
    bbs = [BackboneSpec("supervised", ExtractorTrainConfig(steps=1), (None, 0.5, 1.0),
                        end_to_end=("cls_det_rs", "ss_cls_det_rs_100"), e2e_epochs=1)]
    res = learned_cv(ds, lambda i: work[i], runs, bbs, [Variant(), Variant("+bilateral", bilateral=True)], k=k,
                     seed=seed, patch=WINDOW, trainer=rec, log=lambda m: None)
    splits = patient_folds(ds, k, seed)
    # both breasts of a patient always in one fold
    for tr, te in splits:
        assert not set(ds.patient_ids[tr]) & set(ds.patient_ids[te])
    assert len(rec.calls) == k * 3
    lesion_images = {str(ds.image_ids[i]) for i in range(len(ds)) if (ds.region_labels[ds.region_slice(i)] == 1).any()}
    for view, images in zip(res.trained_views, rec.calls):
        tr, te = splits[view["fold"]]
        train_ids, test_ids = set(ds.image_ids[tr].astype(str)), set(ds.image_ids[te].astype(str))
        assert set(images.image_ids) == train_ids and not set(images.image_ids) & test_ids
        labelled = {i for i, lab in zip(images.image_ids, images.labels) if lab is not None}
        if view["budget"] is None:
            assert labelled == set()  # weak-only rows: no lesion location reaches the backbone
        else:
            allowed = select_local(ds.subset(tr), view["budget"], seed * 1000 + view["fold"])
            assert labelled == set(allowed.image_ids[allowed.has_local].astype(str))
            assert labelled <= lesion_images
            assert all(ds.y_m[list(ds.image_ids.astype(str)).index(i)] == 1 for i in labelled)
    # every row has one result per fold, scores aligned with the pooled test set
    for name, cv in res.rows.items():
        for r in cv.methods.values():
            assert len(r.fold_scores) == k
        assert len(cv.pooled_scores(next(iter(cv.methods)))) == len(ds)
    assert {"given", "given+bilateral", "supervised", "supervised+bilateral", "supervised+e2e"} <= set(res.rows)
    e2e = res.rows["supervised+e2e"].methods
    assert set(e2e) == {"cls_det_rs", "ss_cls_det_rs_100"}  # only the rows asked for, each on every fold
    assert all(len(r.fold_scores) == k and r.statuses == ["done"] * k for r in e2e.values())


def test_learned_cv_seeds_differ_by_fold_and_budget():
    ds, work = cohort(8, 5)
    rec = RecordingTrainer()
    runs = [RunSpec("cls_det_rs", method("cls_det_rs"), None, TrainConfig(epochs=1, batch_size=None))]
    res = learned_cv(ds, lambda i: work[i], runs, [BackboneSpec("simclr", ExtractorTrainConfig(mode="simclr", steps=1, seed=7))],
                     include_given=False, k=2, patch=WINDOW, trainer=rec, log=lambda m: None)
    assert list(res.rows) == ["simclr"] and len(rec.calls) == 2
    assert all(lab is None for c in rec.calls for lab in c.labels)  # self-supervised: never a label
    assert [c.seed for c in rec.configs] == [7, 8]  # the backbone's seed moves with the fold
    assert all(c.mode == "simclr" and c.steps == 1 for c in rec.configs)
    # the two folds' backbones are different nets, so the pooled scores are not one constant
    pooled = res.rows["simclr"].pooled_scores("cls_det_rs").p_m
    assert len(pooled) == len(ds) and np.unique(np.round(pooled, 6)).size > 1
    # the labelled subsets a budgeted row hands its backbone follow the fold's seed: seed * 1000 + fold
    from mammo_annotator.ml.learned_cv import backbone_view

    tr = ds.subset(np.arange(len(ds)))
    a, b = backbone_view(tr, 0.5, 3 * 1000 + 0), backbone_view(tr, 0.5, 3 * 1000 + 0)
    assert np.array_equal(a.has_local, b.has_local)
    assert np.array_equal(a.has_local, select_local(tr, 0.5, 3000).has_local)
    assert backbone_view(tr, None, 1).has_local.sum() == 0


def test_an_unchanged_backbone_is_extracted_once_and_scores_like_a_fresh_extraction():
    ds, work = cohort(6, 5)
    tcfg = TrainConfig(epochs=1, batch_size=None)
    runs = [RunSpec("cls_det_rs", method("cls_det_rs"), None, tcfg),
            RunSpec("ss_cls_det_rs_100", method("ss_cls_det_rs"), 1.0, tcfg)]
    bcfg = BackboneConfig(widths=(4, 4, 8, 8))
    torch.manual_seed(0)
    same = LearnedExtractor(SmallConvNet(bcfg), bcfg, "supervised")

    def unchanged(images, cfg, patch):  # what 0 steps of training return: the start, every time
        return ExtractorTrainResult("done", same, [], 0, 0.0)

    bbs = [BackboneSpec("start", ExtractorTrainConfig(steps=0), (None, 1.0), end_to_end=("ss_cls_det_rs_100",),
                        e2e_epochs=1, e2e_init="heads")]
    res = learned_cv(ds, lambda i: work[i], runs, bbs, k=2, seed=0, patch=WINDOW, trainer=unchanged,
                     include_given=False, log=lambda m: None)
    assert len(res.extract_seconds_per_image["start"]) == 1  # 2 folds x 2 budgets, one extraction
    calls = []

    def copies(images, cfg, patch):  # the same weights under a new key each time: extracted every time
        calls.append(1)
        return ExtractorTrainResult("done", LearnedExtractor(copy.deepcopy(same.net), bcfg, f"copy{len(calls)}"),
                                    [], 0, 0.0)

    fresh = learned_cv(ds, lambda i: work[i], runs, bbs, k=2, seed=0, patch=WINDOW, trainer=copies,
                       include_given=False, log=lambda m: None)
    assert len(fresh.extract_seconds_per_image["start"]) == 4
    for row in ("start", "start+e2e"):
        for name, r in res.rows[row].methods.items():
            for a, b in zip(r.fold_scores, fresh.rows[row].methods[name].fold_scores):
                np.testing.assert_allclose(a.p_m, b.p_m, rtol=1e-5, atol=1e-6)
