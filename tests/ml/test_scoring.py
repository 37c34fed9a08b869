"""Scoring (method sections 3 and 7) on a head with known weights: image probabilities
p(y_c | x) = sum_i p_maskdet^c(i | x) p_cls(c | r_i) (max_i p_cls for Max-Region), region scores
d_c = p_cls(c | r_i) p_det^c(i | x), chunking, and the model / dataset checks, all against a
numpy computation written out here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mammo_annotator.ml.dataset import ImageRecord, RegionDataset
from mammo_annotator.ml.model import DualBranchHead, TrainedModel, method
from mammo_annotator.ml.scoring import Scores, score

COUNTS = (3, 12, 1, 5)  # one image with more regions than k = 10, one with a single region
DIM = 3


def _dataset(feature_key: str = "f:1") -> RegionDataset:
    rng = np.random.default_rng(3)
    recs = [ImageRecord(rng.normal(size=(m, DIM)).astype(np.float32), np.zeros((m, 4)), float(i % 2), float(i == 1),
                        image_id=f"im{i}") for i, m in enumerate(COUNTS)]
    return RegionDataset.from_records(recs, feature_key=feature_key)


def _model(name: str, feature_key: str = "f:1", **kw) -> TrainedModel:
    torch.manual_seed(2)
    cfg = method(name, hidden=5, **kw)
    head = DualBranchHead(DIM, cfg)
    with torch.no_grad():
        for p in head.parameters():
            p.normal_()
    head.set_normaliser(torch.tensor([0.1, -0.2, 0.3]), torch.tensor([1.5, 0.8, 1.0]))
    return TrainedModel(head, cfg, feature_key, {}, {}, {})


def _softmax(a: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _expected(model: TrainedModel, ds: RegionDataset) -> dict[str, list[np.ndarray]]:
    """Per image, in float64: p_cls over (N, B, M), p_det, p_maskdet, d and (p_b, p_m)."""
    head, cfg = model.head, model.config
    w1, b1 = head.fc.weight.detach().double().numpy(), head.fc.bias.detach().double().numpy()
    wc, bc = head.cls.weight.detach().double().numpy(), head.cls.bias.detach().double().numpy()
    wd, bd = head.det.weight.detach().double().numpy(), head.det.bias.detach().double().numpy()
    mean, std = head.feat_mean.double().numpy(), head.feat_std.double().numpy()
    out = {k: [] for k in ("p_cls", "p_det", "p_maskdet", "d", "p_img")}
    for i in range(len(ds)):
        x = ds.features[ds.offsets[i]:ds.offsets[i + 1]].astype(np.float64)
        h = np.maximum((x - mean) / std @ w1.T + b1, 0)
        pc_own = _softmax(h @ wc.T + bc, 1)
        pc = np.zeros((len(x), 3))
        pc[:, [("NBM".index(c)) for c in cfg.classes]] = pc_own
        det = h @ wd.T + bd
        pdet = _softmax(det, 0)  # over the image's regions, per class (B, M)
        pmask = np.zeros_like(pdet)
        p_img = np.zeros(2)
        for j, c in enumerate("BM"):
            keep = np.ones(len(x), bool)
            if cfg.region_selection and len(x) > cfg.k:
                keep[:] = False
                keep[np.argsort(-pc[:, 1 + j])[:cfg.k]] = True
            e = np.where(keep, np.exp(det[:, j] - det[keep, j].max()), 0)
            pmask[:, j] = e / e.sum()
            p_img[j] = pc[:, 1 + j].max() if cfg.aggregation == "max" else (pmask[:, j] * pc[:, 1 + j]).sum()
        out["p_cls"].append(pc)
        out["p_det"].append(pdet)
        out["p_maskdet"].append(pmask)
        out["d"].append(pc[:, 1:] if cfg.aggregation == "max" else pc[:, 1:] * pdet)
        out["p_img"].append(p_img)
    return out


def _check(sc: Scores, want: dict[str, list[np.ndarray]]) -> None:
    assert len(sc) == len(want["p_img"])
    for i in range(len(sc)):
        r = sc.regions(i)
        for key in ("p_cls", "p_det", "p_maskdet", "d"):
            np.testing.assert_allclose(r[key], want[key][i], rtol=1e-4, atol=1e-6, err_msg=f"{key} of image {i}")
        assert sc.p_b[i] == pytest.approx(want["p_img"][i][0], rel=1e-4)
        assert sc.p_m[i] == pytest.approx(want["p_img"][i][1], rel=1e-4)


@pytest.mark.parametrize("name", ["cls_det_rs", "cls_det", "db_baseline"])
def test_scores_of_the_dual_branch_methods_by_hand(name):
    ds = _dataset()
    model = _model(name)
    sc = score(model, ds, device="cpu", num_threads=1)
    _check(sc, _expected(model, ds))
    # region arrays (every region of a project) in float32, image probabilities in float64
    assert all(a.dtype == np.float32 for a in (sc.p_cls, sc.p_det, sc.p_maskdet, sc.d))
    assert sc.p_m.dtype == sc.p_b.dtype == np.float64 and sc.p_cls.shape == (len(ds.features), 3)
    assert list(sc.image_ids) == ["im0", "im1", "im2", "im3"] and list(sc.offsets) == [0, 3, 15, 16, 21]


def test_region_selection_changes_the_image_probability_only_where_an_image_has_more_than_k_regions():
    ds = _dataset()
    rs = score(_model("cls_det_rs", k=2), ds, device="cpu")
    _check(rs, _expected(_model("cls_det_rs", k=2), ds))
    plain = score(_model("cls_det"), ds, device="cpu")
    # the top-2 mask: two regions hold all the masked detection mass, the unmasked softmax is the same
    for i, m in enumerate(COUNTS):
        r = rs.regions(i)
        assert ((r["p_maskdet"] > 0).sum(0) == min(2, m)).all()
        np.testing.assert_allclose(r["p_det"], plain.regions(i)["p_det"], rtol=1e-5)
    assert rs.p_m[2] == pytest.approx(plain.p_m[2]) and rs.p_m[1] != pytest.approx(plain.p_m[1])


def test_max_region_takes_the_best_region_and_localises_by_p_cls_alone():
    ds = _dataset()
    model = _model("max_region")
    sc = score(model, ds, device="cpu")
    _check(sc, _expected(model, ds))  # no region selection: p_maskdet is p_det
    np.testing.assert_array_equal(sc.d, sc.p_cls[:, 1:])
    assert not np.shares_memory(sc.d, sc.p_cls)


def test_chunks_give_the_same_scores_as_one_pass():
    ds = _dataset()
    model = _model("cls_det_rs", k=2)
    whole = score(model, ds, device="cpu")
    for chunk in (1, 2, 3):
        part = score(model, ds, device="cpu", chunk_images=chunk)
        for key in ("p_m", "p_b", "p_cls", "p_det", "p_maskdet", "d", "offsets"):
            np.testing.assert_allclose(getattr(part, key), getattr(whole, key), rtol=1e-6, atol=1e-7, err_msg=key)


def test_scoring_is_in_eval_mode_and_leaves_the_dataset_alone():
    ds = _dataset()
    model = _model("cls_det_rs", dropout=0.5)
    model.head.train()
    a = score(model, ds, device="cpu")
    b = score(model, ds, device="cpu")
    np.testing.assert_array_equal(a.p_m, b.p_m)
    _check(a, _expected(model, ds))
    a.offsets[1] = 99
    a.image_ids[0] = "x"
    assert ds.offsets[1] == 3 and ds.image_ids[0] == "im0"


def test_model_and_dataset_must_share_the_features():
    ds = _dataset("f:1")
    with pytest.raises(ValueError, match="3-d"):
        score(_model("cls_det_rs"), RegionDataset.from_records(
            [ImageRecord(np.zeros((2, 4), np.float32), np.zeros((2, 4)), 0.0, 0.0)], feature_key="f:1"))
    with pytest.raises(ValueError, match="f:2"):
        score(_model("cls_det_rs", feature_key="f:2"), ds)
    # a model or a dataset without a feature key is not checked
    assert len(score(_model("cls_det_rs", feature_key=""), ds, device="cpu")) == 4
    assert len(score(_model("cls_det_rs"), _dataset(""), device="cpu")) == 4


def test_scores_accessors():
    d = np.array([[0.125, 0.75], [0.25, 0.375], [0.5, 0.0]], np.float32)
    z = np.zeros((3, 3), np.float32)
    sc = Scores(np.array(["a", "b"]), np.array([0.2, 0.9]), np.array([0.6, 0.1]), z, d * 0, d * 0, d,
                np.array([0, 2, 3]))
    np.testing.assert_array_equal(sc.p_mb, [0.6, 0.9])
    np.testing.assert_array_equal(sc.d_of("B"), [0.125, 0.25, 0.5])
    np.testing.assert_array_equal(sc.d_of("M"), [0.75, 0.375, 0.0])
    assert len(sc) == 2
    np.testing.assert_array_equal(sc.regions(0)["d"], d[:2])
    np.testing.assert_array_equal(sc.regions(1)["d"], d[2:])
    assert set(sc.regions(1)) == {"p_cls", "p_det", "p_maskdet", "d"} and len(sc.regions(1)["p_cls"]) == 1
