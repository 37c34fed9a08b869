"""ml.cv without training: patient-wise folds, the semi-supervised label selection, the runs of
Table 2, pooling and the fold loop (with a stand-in trainer), on small hand-made datasets whose
expected results are worked out by hand."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import mammo_annotator.ml.cv as cv_mod
from mammo_annotator.ml.cv import (MethodResult, RunSpec, concat_scores, cross_validate, default_runs,
                                   folds_problem, patient_folds, same_selection, select_local, split_aurocs, train_test)
from mammo_annotator.ml.dataset import REGION_IGNORED, ImageRecord, RegionDataset
from mammo_annotator.ml.froc import froc
from mammo_annotator.ml.model import method
from mammo_annotator.ml.scoring import Scores
from mammo_annotator.ml.train import TrainConfig

LABELS = {"N": (0.0, 0.0), "B": (0.0, 1.0), "M": (1.0, 0.0), "MB": (1.0, 1.0)}


def make_ds(rows) -> RegionDataset:
    """rows: (patient, class, has local labels) per image; two regions each (labels M, BN)."""
    recs = []
    for i, (pid, cls, local) in enumerate(rows):
        y_m, y_b = LABELS[cls]
        recs.append(ImageRecord(np.full((2, 3), i, np.float32), np.array([[0, 0, 10, 10], [10, 0, 20, 10]]), y_m, y_b,
                                np.array([1, 0], np.int8) if local else None, pid, "LR"[i % 2], "CC", f"i{i}"))
    return RegionDataset.from_records(recs)


@pytest.fixture(scope="module")
def twelve():
    """12 patients, two images each (both of the patient's class): N, B, M, MB three times each."""
    return make_ds([(f"p{p:02d}", ("N", "B", "M", "MB")[p % 4], True) for p in range(12) for _ in range(2)])


def fake_scores(ds: RegionDataset) -> Scores:
    """p_M, p_B: the labels themselves (a perfect model); region outputs zero."""
    n_reg = len(ds.features)
    z = lambda c: np.zeros((n_reg, c), np.float32)  # noqa: E731
    return Scores(ds.image_ids.copy(), np.nan_to_num(ds.y_m).astype(float), np.nan_to_num(ds.y_b).astype(float),
                  z(3), z(2), z(2), z(2), ds.offsets.copy())


# ---------------------------------------------------------------- folds


def test_folds_keep_each_patient_on_one_side_and_test_every_image_once(twelve):
    folds = patient_folds(twelve, 3, seed=0)
    assert len(folds) == 3
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(24))
    for tr, te in folds:
        assert sorted(np.concatenate([tr, te]).tolist()) == list(range(24))  # train: every other image
        assert not set(twelve.patient_ids[tr]) & set(twelve.patient_ids[te])
        assert len(te) == 8 and sorted(twelve.class_names()[te]) == sorted(["N", "B", "M", "MB"] * 2)


def test_folds_are_fixed_by_the_seed_and_move_with_it(twelve):
    as_sets = lambda folds: sorted(tuple(sorted(te.tolist())) for _, te in folds)  # noqa: E731
    assert as_sets(patient_folds(twelve, 3, 4)) == as_sets(patient_folds(twelve, 3, 4))
    assert len({tuple(as_sets(patient_folds(twelve, 3, s))) for s in range(6)}) > 1
    assert len(patient_folds(twelve, k=5)) == 5  # the paper's five folds by default (5 patients needed)


def test_fold_refusal_boundaries(twelve):
    two = make_ds([("a", "N", True), ("b", "N", True)])
    assert folds_problem(two, 2) is None  # two patients, two images of the class: two folds
    assert [sorted(te.tolist()) for _, te in sorted(patient_folds(two, 2), key=lambda f: f[1][0])] == [[0], [1]]
    assert "not 1" in folds_problem(two, 1)
    assert "needs 3 patients with regions; there are 2" in folds_problem(two, 3)
    three = make_ds([("a", "N", True), ("b", "B", True), ("c", "M", True)])
    assert "need 2 images of the most common class" in folds_problem(three, 2)
    assert "the largest has 1" in folds_problem(three, 2)
    assert folds_problem(twelve, 6) is None  # 12 patients, 6 images of each class: exactly enough
    assert "the largest has 6" in folds_problem(twelve, 7)


# ---------------------------------------------------------------- local label selection


@pytest.fixture(scope="module")
def mixed():
    """10 malignant images with contours, 3 malignant without, 5 benign with contours."""
    return make_ds([(f"m{i}", "M", True) for i in range(10)] + [(f"u{i}", "M", False) for i in range(3)]
                   + [(f"b{i}", "B", True) for i in range(5)])


def test_select_local_keeps_a_rounded_share_of_the_contoured_malignant_images(mixed):
    for fraction, n in ((0.26, 3), (0.34, 3), (0.36, 4), (1.0, 10), (0.04, 0)):
        sel = select_local(mixed, fraction, 7)
        assert sel.has_local.sum() == n, fraction
        assert set(np.flatnonzero(sel.has_local)) <= set(range(10))  # never benign, never without contours
    for fraction in (None, 0.0, -0.5):
        assert not select_local(mixed, fraction, 0).has_local.any()
    sel = select_local(mixed, 0.5, 3)
    rows = np.repeat(sel.has_local, sel.n_regions)
    assert np.all(sel.region_labels[~rows] == REGION_IGNORED) and np.array_equal(sel.region_labels[rows], [1, 0] * 5)


def test_select_local_is_seeded(mixed):
    pick = lambda seed: tuple(np.flatnonzero(select_local(mixed, 0.5, seed).has_local))  # noqa: E731
    assert pick(5) == pick(5)
    assert len({pick(s) for s in range(8)}) > 1


def test_same_selection_gives_a_view_only_the_contours_its_row_keeps(mixed):
    chosen = select_local(mixed, 0.5, 0)
    view = mixed.with_local_labels(np.arange(len(mixed)) % 2 == 0)  # the view itself lacks odd images' labels
    out = same_selection(view, chosen)
    want = chosen.has_local & (np.arange(len(mixed)) % 2 == 0)
    assert np.array_equal(out.has_local, want)
    rows = np.repeat(want, mixed.n_regions)
    assert np.all(out.region_labels[~rows] == REGION_IGNORED)
    assert np.array_equal(out.region_labels[rows], np.tile([1, 0], want.sum()))
    assert out.region_labels.dtype == np.int8 and np.array_equal(out.features, view.features)


# ---------------------------------------------------------------- runs, scores, results


def test_default_runs_are_table_2():
    tc = TrainConfig(epochs=2)
    runs = {r.name: r for r in default_runs(tc)}
    fractions = {"db_baseline": None, "max_region": None, "cls_det": None, "cls_det_rs": None,
                 "ss_baseline_rs_50": 0.5, "ss_baseline_rs_100": 1.0, "ss_cls_det_rs_25": 0.25,
                 "ss_cls_det_rs_50": 0.5, "ss_cls_det_rs_75": 0.75, "ss_cls_det_rs_100": 1.0}
    assert {n: r.local_fraction for n, r in runs.items()} == fractions
    for name, r in runs.items():
        base = next((b for b in ("ss_baseline_rs", "ss_cls_det_rs") if name.startswith(b)), name)
        assert r.head == method(base) and r.train is tc, name


def test_concat_scores_chains_the_region_offsets():
    a = Scores(np.array(["x", "y"], object), np.array([0.1, 0.2]), np.array([0.3, 0.4]), np.arange(9.).reshape(3, 3),
               np.arange(6.).reshape(3, 2), np.arange(6.).reshape(3, 2) + 10, np.arange(6.).reshape(3, 2) + 20,
               np.array([0, 1, 3]))
    b = Scores(np.array(["z"], object), np.array([0.5]), np.array([0.6]), np.full((2, 3), 9.), np.full((2, 2), 7.),
               np.full((2, 2), 17.), np.full((2, 2), 27.), np.array([0, 2]))
    c = concat_scores([a, b])
    assert c.offsets.tolist() == [0, 1, 3, 5] and c.image_ids.tolist() == ["x", "y", "z"]
    assert c.p_m.tolist() == [0.1, 0.2, 0.5] and c.p_b.tolist() == [0.3, 0.4, 0.6]
    assert c.p_cls[3:].tolist() == [[9.] * 3] * 2 and c.p_det[3:].tolist() == [[7.] * 2] * 2
    assert c.p_maskdet[3:].tolist() == [[17.] * 2] * 2 and c.d[3:].tolist() == [[27.] * 2] * 2
    assert c.d[0].tolist() == [20., 21.] and c.p_maskdet[0].tolist() == [10., 11.]


def test_mean_std_over_folds_skips_nan():
    r = MethodResult("x", fold_metrics=[{"a": 1.0, "b": np.nan, "c": np.nan}, {"a": 3.0, "b": 2.0, "c": np.nan},
                                        {"a": 5.0, "b": np.nan, "c": np.nan}])
    out = r.mean_std()
    assert out["a"] == pytest.approx((3.0, 2.0))  # sample std of 1, 3, 5
    assert out["b"] == (2.0, 0.0)  # one fold with a value: no spread
    assert np.isnan(out["c"][0]) and np.isnan(out["c"][1])
    assert MethodResult("empty").mean_std() == {}


# ---------------------------------------------------------------- the fold loop (stand-in trainer)


@pytest.fixture
def fake_training(monkeypatch):
    calls = []

    def train(data, head, tcfg, cancel=None, extra_views=None):
        calls.append(SimpleNamespace(data=data, head=head, tcfg=tcfg, views=extra_views))
        return SimpleNamespace(model=("model", len(calls)), status=f"done{len(calls)}")

    monkeypatch.setattr(cv_mod, "train", train)
    monkeypatch.setattr(cv_mod, "score", lambda model, ds: fake_scores(ds))
    return calls


def test_cross_validate_trains_on_each_folds_training_images_and_pools_the_test_images(twelve, fake_training):
    tc = TrainConfig(epochs=1)
    runs = [RunSpec("weak", method("cls_det_rs"), 0.5, tc), RunSpec("semi", method("ss_cls_det_rs"), 0.5, tc)]
    progress = []
    res = cross_validate(twelve, runs, k=3, seed=2, progress=lambda *a: progress.append(a))
    folds = patient_folds(twelve, 3, 2)
    assert res.mode == "cv" and [te.tolist() for _, te in res.folds] == [te.tolist() for _, te in folds]
    assert res.dataset.image_ids.tolist() == twelve.image_ids[np.concatenate([te for _, te in folds])].tolist()
    assert progress == [("weak", 0, 3), ("weak", 1, 3), ("weak", 2, 3), ("semi", 0, 3), ("semi", 1, 3), ("semi", 2, 3)]
    assert len(fake_training) == 6
    for call, (tr, _) in zip(fake_training, folds * 2):
        assert call.data.image_ids.tolist() == twelve.image_ids[tr].tolist() and call.tcfg is tc
    # a weak head never sees contours, even with a fraction; a semi-supervised one gets the fold's selection
    for f, (tr, _) in enumerate(folds):
        assert not fake_training[f].data.has_local.any()
        want = select_local(twelve.subset(tr), 0.5, 2 * 1000 + f).has_local
        assert np.array_equal(fake_training[3 + f].data.has_local, want)
    for name in ("weak", "semi"):
        m = res.methods[name]
        assert len(m.fold_scores) == len(m.fold_metrics) == len(m.train_seconds) == 3
        assert m.fold_metrics[0]["M_vs_BN/auroc"] == 1.0 and "froc_MB/sens@1fppi" in m.fold_metrics[0]
        assert "breast/MB_vs_N/auroc" in m.fold_metrics[0]
    assert res.methods["semi"].statuses == ["done4", "done5", "done6"]
    assert all(0.0 <= t < 5.0 for t in res.methods["semi"].train_seconds)  # a duration (the stand-in is instant)
    # the fold's FROC summaries are carried as numbers, those of the fold's own test images and scores
    test0, sc0 = twelve.subset(folds[0][1]), res.methods["semi"].fold_scores[0]
    for c in ("M", "B", "MB"):
        for key, v in froc(test0, sc0, c).summary().items():
            got = res.methods["semi"].fold_metrics[0][f"froc_{c}/{key}"]
            assert isinstance(got, float) and (got == v or (np.isnan(got) and np.isnan(v)))
    pooled = res.pooled_scores("semi")
    assert pooled.image_ids.tolist() == res.dataset.image_ids.tolist()
    ci = res.pooled("semi", n_boot=20)
    assert set(ci) == {"M_vs_BN/auroc", "MB_vs_N/auroc"} and ci["M_vs_BN/auroc"][0] == 1.0


def test_split_aurocs_uses_the_split_as_the_fold_seed(twelve):
    seen = []

    def record(split, fold, train, test):
        seen.append((split, fold, tuple(test.image_ids)))
        return np.nan_to_num(test.y_m), np.nan_to_num(test.y_b)

    split_aurocs(twelve, [3, 8], record, k=3)
    want = [(s, f, tuple(twelve.image_ids[te]))
            for s in (3, 8) for f, (_, te) in enumerate(patient_folds(twelve, 3, s))]
    assert seen == want


def test_cancel_stops_before_the_next_fold(twelve, fake_training):
    class Token:
        def __init__(self):
            self.n = 0

        def is_set(self):
            self.n += 1
            return self.n > 2  # two folds run, then cancelled

    res = cross_validate(twelve, [RunSpec("weak", method("cls_det_rs"))], k=3, cancel=Token())
    assert len(fake_training) == 2 and len(res.methods["weak"].fold_scores) == 2


def test_views_are_checked_row_for_row(twelve, fake_training):
    runs = [RunSpec("weak", method("cls_det_rs"))]
    reordered = twelve.subset(np.r_[1, 0, np.arange(2, 24)])
    for bad in (twelve.subset(np.arange(23)), reordered):
        with pytest.raises(ValueError, match="row for row"):
            cross_validate(twelve, runs, k=3, views=[bad])
    uneven = make_ds([(f"p{p:02d}", ("N", "B", "M", "MB")[p % 4], True) for p in range(12) for _ in range(2)])
    uneven.offsets = np.r_[0, 3, np.arange(4, 49, 2)].astype(np.int64)  # same count, rows split differently
    with pytest.raises(ValueError, match="row for row"):
        cross_validate(twelve, runs, k=3, views=[uneven])
    cross_validate(twelve, runs, k=3, views=[twelve])
    assert len(fake_training[-1].views) == 1 and len(fake_training[-1].views[0]) == len(fake_training[-1].data)


def test_train_test_keeps_the_sets_apart(twelve, fake_training):
    tr, te = twelve.subset(np.arange(12)), twelve.subset(np.arange(12, 24))
    res = train_test(tr, te, [RunSpec("weak", method("cls_det_rs"))])
    assert res.mode == "train_test" and res.dataset is te and len(fake_training) == 1
    assert fake_training[0].data.image_ids.tolist() == tr.image_ids.tolist()
    assert [a.tolist() for a in res.folds[0]] == [list(range(12)), list(range(12))]
    with pytest.raises(ValueError, match="1 patients are in both"):
        train_test(twelve.subset(np.arange(13)), te, [])
