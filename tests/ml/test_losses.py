"""Loss math on hand-computed cases (method sections 3-4)."""

import math

import numpy as np
import pytest
import torch

from mammo_annotator.ml.dataset import ImageRecord, RegionDataset
from mammo_annotator.ml.losses import (ObjectiveWeights, image_log_probs, masked_log_softmax, objective,
                                       topk_mask)
from mammo_annotator.ml.model import METHODS, DualBranchHead, RegionOutputs, method


def test_masked_softmax_ignores_masked_entries():
    logits = torch.tensor([[1.0, 2.0, 3.0, 50.0]])
    mask = torch.tensor([[True, True, True, False]])
    p = masked_log_softmax(logits, mask).exp()
    e = np.exp([1, 2, 3])
    np.testing.assert_allclose(p[0, :3].numpy(), e / e.sum(), rtol=1e-6)
    assert p[0, 3] == 0


def test_topk_mask_and_fewer_regions_than_k():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.7, 0.0], [0.3, 0.2, 0.0, 0.0, 0.0]])
    valid = torch.tensor([[True] * 5, [True, True, False, False, False]])
    sel = topk_mask(scores, valid, 2)
    assert sel[0].tolist() == [False, True, False, True, False]
    sel = topk_mask(scores, valid, 3)  # image 2 has 2 regions < k: take all, never padding
    assert sel[1].tolist() == [True, True, False, False, False]


def _outputs(cls_logits, det_logits, valid=None):
    cls_logits = torch.tensor(cls_logits, dtype=torch.float64)[None]
    det_logits = torch.tensor(det_logits, dtype=torch.float64)[None]
    valid = torch.ones(cls_logits.shape[:2], dtype=torch.bool) if valid is None else torch.tensor([valid])
    return RegionOutputs(cls_logits, det_logits, valid)


def test_image_probability_by_hand():
    cls = [[0.0, 1.0, 2.0], [1.0, 0.0, 0.5], [2.0, 0.0, -1.0]]  # (N, B, M) logits, 3 regions
    det = [[0.5, 1.0], [0.0, 0.0], [1.0, -1.0]]  # (B, M)
    out = _outputs(cls, det)
    pc = np.exp(cls) / np.exp(cls).sum(1, keepdims=True)
    for rs, k in ((False, 10), (True, 2), (True, 10)):
        cfg = method("cls_det_rs", region_selection=rs, k=k)
        ilp = image_log_probs(out, cfg)
        for j, c in ((0, 1), (1, 2)):  # (B col, cls index)
            d = np.array(det)[:, j]
            keep = np.ones(3, bool)
            if rs and k < 3:
                keep[np.argsort(-pc[:, c])[k:]] = False
            q = np.where(keep, np.exp(d), 0) / np.exp(d)[keep].sum()
            p = float((q * pc[:, c]).sum())
            assert math.isclose(ilp.logp[0, j].exp().item(), p, rel_tol=1e-9)
            assert math.isclose(ilp.log1mp[0, j].exp().item(), 1 - p, rel_tol=1e-9)


def test_max_region_and_db_baseline():
    cls = [[0.0, 1.0, 2.0], [1.0, 0.0, 0.5]]
    pc = np.exp(cls) / np.exp(cls).sum(1, keepdims=True)
    ilp = image_log_probs(_outputs(cls, [[0, 0], [0, 0]]), method("max_region"))
    assert math.isclose(ilp.logp[0, 1].exp().item(), pc[:, 2].max(), rel_tol=1e-9)
    assert math.isclose(ilp.log1mp[0, 1].exp().item(), 1 - pc[:, 2].max(), rel_tol=1e-9)
    cls2 = [[1.0, 2.0], [0.0, 0.5]]  # (B, M) only
    det = [[0.3, 0.1], [0.0, 0.9]]
    ilp = image_log_probs(_outputs(cls2, det), method("db_baseline"))
    p2 = np.exp(cls2) / np.exp(cls2).sum(1, keepdims=True)
    q = np.exp(np.array(det)[:, 1]) / np.exp(np.array(det)[:, 1]).sum()
    assert math.isclose(ilp.logp[0, 1].exp().item(), float((q * p2[:, 1]).sum()), rel_tol=1e-9)


def _semi_dataset():
    recs = [
        ImageRecord(np.zeros((3, 2), np.float32), np.zeros((3, 4)), 1.0, 0.0, np.array([1, 0, -1], np.int8), "a"),
        ImageRecord(np.zeros((2, 2), np.float32), np.zeros((2, 4)), 0.0, 1.0, None, "b"),
        ImageRecord(np.zeros((2, 2), np.float32), np.zeros((2, 4)), 1.0, 0.0, None, "c"),
    ]
    return RegionDataset.from_records(recs)


def test_semi_weights_lambda1_is_beta_over_mf():
    ds = _semi_dataset()
    w = ObjectiveWeights.from_dataset(ds, method("ss_cls_det_rs", beta=2.0, lambda2=0.5))
    assert w.w_full_cls == 0.5 * 2.0 / 2  # m_f = 2 labelled regions
    assert w.w_full_det == 0.5 / 1  # one fully labelled image with an M region
    assert w.w_weak_m == 1 / 2  # W = images b, c: the labelled image is not a weak M sample
    assert w.w_weak_b == 1 / 3  # B term over all images
    w = ObjectiveWeights.from_dataset(ds, method("cls_det_rs"))
    assert w.w_weak_m == 1 / 3 and w.w_full_cls == 0 and w.w_full_det == 0
    assert ObjectiveWeights.from_dataset(ds, method("ss_baseline_rs")).w_full_det == 0


def test_semi_objective_by_hand():
    ds = _semi_dataset()
    cfg = method("ss_cls_det_rs", k=10)
    data = ds.pack()
    torch.manual_seed(0)
    cls = torch.randn(3, 3, 3, dtype=torch.float64)
    det = torch.randn(3, 3, 2, dtype=torch.float64)
    out = RegionOutputs(cls, det, data.valid)
    w = ObjectiveWeights.from_dataset(ds, cfg)
    loss, parts = objective(out, data, cfg, w)
    pc = torch.softmax(cls, -1)
    ilp = image_log_probs(out, cfg)
    # weak: M over W = {b, c}, B over all
    wm = (ilp.log1mp[1, 1] + ilp.logp[2, 1]) / 2
    wb = (ilp.log1mp[0, 0] + ilp.logp[1, 0] + ilp.log1mp[2, 0]) / 3
    cls_term = (torch.log(pc[0, 0, 2]) + torch.log(1 - pc[0, 1, 2])) / 2
    pdet = torch.softmax(det[0, :3, 1], 0)  # unmasked detection softmax over image a's regions
    det_term = torch.log(pdet[0])
    expected = -(wm + wb + cls_term + det_term)
    assert torch.allclose(loss, expected, rtol=1e-9)
    assert torch.allclose(parts["full_cls"], cls_term) and torch.allclose(parts["full_det"], det_term)


def test_gradients_finite_with_padding_and_selection():
    ds = _semi_dataset()
    for name in ("ss_cls_det_rs", "cls_det_rs", "max_region", "db_baseline", "cls_det"):
        cfg = method(name, k=1, full_det_mask="union") if name.startswith("ss") else method(name, k=1)
        head = DualBranchHead(2, cfg)
        data = ds.pack()
        loss, _ = objective(head(data), data, cfg, ObjectiveWeights.from_dataset(ds, cfg))
        loss.backward()
        assert torch.isfinite(loss)
        assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)


def test_branch_init_std():
    head = DualBranchHead(64, method("cls_det_rs", hidden=256))
    assert abs(head.cls.weight.std().item() - 1e-4) < 2e-5
    assert abs(head.det.weight.std().item() - 1e-4) < 2e-5


def _rich_dataset():
    """a, d: fully labelled with an M region; e: fully labelled, all BN; b, c: weak only."""
    recs = [
        ImageRecord(np.zeros((3, 2), np.float32), np.zeros((3, 4)), 1.0, 0.0, np.array([1, 0, -1], np.int8), "a"),
        ImageRecord(np.zeros((2, 2), np.float32), np.zeros((2, 4)), 0.0, 1.0, None, "b"),
        ImageRecord(np.zeros((2, 2), np.float32), np.zeros((2, 4)), 1.0, 0.0, None, "c"),
        ImageRecord(np.zeros((2, 2), np.float32), np.zeros((2, 4)), 1.0, 0.0, np.array([0, 1], np.int8), "d"),
        ImageRecord(np.zeros((2, 2), np.float32), np.zeros((2, 4)), 0.0, 0.0, np.array([0, 0], np.int8), "e"),
    ]
    return RegionDataset.from_records(recs)


def test_weights_count_only_images_with_an_m_region_for_the_detection_term():
    ds = _rich_dataset()
    w = ObjectiveWeights.from_dataset(ds, method("ss_cls_det_rs", beta=2.0, lambda2=0.5))
    assert w.w_full_det == 0.5 / 2  # a and d; e has no M region to put detection mass on
    assert w.w_full_cls == 0.5 * 2.0 / 6  # every labelled (M or BN) region of a, d, e; the ignored one is not
    assert w.w_weak_m == 1 / 2 and w.w_weak_b == 1 / 5 and w.n_images == 5
    assert ObjectiveWeights.from_dataset(ds, method("ss_cls_det_rs", full_cls=False)).w_full_cls == 0
    # no known label: the weak terms are off, not divided by zero
    recs = [ImageRecord(np.zeros((2, 2), np.float32), np.zeros((2, 4)), float("nan"), float("nan"), None, "x")]
    w = ObjectiveWeights.from_dataset(RegionDataset.from_records(recs), method("cls_det_rs"))
    assert (w.w_weak_m, w.w_weak_b, w.n_images) == (0.0, 0.0, 1)


def _out(ds, seed=0):
    data = ds.pack()
    g = torch.Generator().manual_seed(seed)
    m = data.valid.shape[1]
    return RegionOutputs(torch.randn(len(ds), m, 3, generator=g, dtype=torch.float64),
                         torch.randn(len(ds), m, 2, generator=g, dtype=torch.float64), data.valid), data


def test_each_full_term_alone():
    ds = _rich_dataset()
    out, data = _out(ds)
    # SS-Baseline: the classification term only, and the fully labelled images leave the weak M term
    cfg = method("ss_baseline_rs", k=10)
    w = ObjectiveWeights.from_dataset(ds, cfg)
    loss, parts = objective(out, data, cfg, w)
    assert set(parts) == {"weak_m", "weak_b", "full_cls"}
    ilp = image_log_probs(out, cfg)
    wm = (ilp.log1mp[1, 1] + ilp.logp[2, 1]) / 2  # b and c only
    pc = torch.softmax(out.cls_logits, -1)[..., 2]
    cls_sum = (torch.log(pc[0, 0]) + torch.log(1 - pc[0, 1]) + torch.log(1 - pc[3, 0]) + torch.log(pc[3, 1])
               + torch.log(1 - pc[4, 0]) + torch.log(1 - pc[4, 1]))
    assert torch.allclose(parts["weak_m"], wm) and torch.allclose(parts["full_cls"], w.w_full_cls * cls_sum)
    # the detection term alone
    cfg = method("ss_cls_det_rs", k=10, full_cls=False)
    w = ObjectiveWeights.from_dataset(ds, cfg)
    loss, parts = objective(out, data, cfg, w)
    assert set(parts) == {"weak_m", "weak_b", "full_det"}
    det = out.det_logits[..., 1]
    want = (det[0, 0] - torch.logsumexp(det[0, :3], 0)) + (det[3, 1] - torch.logsumexp(det[3, :2], 0))
    assert torch.allclose(parts["full_det"], w.w_full_det * want)  # e (no M region) adds nothing
    assert torch.isfinite(loss)


def test_union_detection_mask_is_the_selection_plus_the_m_regions():
    ds = _rich_dataset()
    out, data = _out(ds, seed=3)
    # make region 2 (ignored) of image a the top p_cls(M) one, so the top-1 selection misses the M region 0
    out.cls_logits[0, :, 2] = torch.tensor([-5.0, -4.0, 5.0], dtype=torch.float64)
    out.cls_logits[3, :2, 2] = torch.tensor([5.0, -5.0], dtype=torch.float64)  # d: region 0 (BN) selected, M is 1
    cfg = method("ss_cls_det_rs", k=1, full_det_mask="union", full_cls=False)
    w = ObjectiveWeights.from_dataset(ds, cfg)
    _, parts = objective(out, data, cfg, w)
    det = out.det_logits[..., 1]
    want = (det[0, 0] - torch.logsumexp(det[0, [0, 2]], 0)) + (det[3, 1] - torch.logsumexp(det[3, [0, 1]], 0))
    assert torch.allclose(parts["full_det"], w.w_full_det * want)
    unmasked = objective(out, data, method("ss_cls_det_rs", k=1, full_cls=False), w)[1]["full_det"]
    assert not torch.allclose(unmasked, parts["full_det"])  # region 1 of a is outside the union


def test_max_region_exposes_its_per_region_probabilities_and_all_valid_regions():
    cls = [[0.0, 1.0, 2.0], [1.0, 0.0, 0.5], [0.0, 0.0, 0.0]]
    out = _outputs(cls, [[0, 0], [0, 0], [0, 0]], valid=[True, True, False])
    ilp = image_log_probs(out, method("max_region"))
    assert ilp.sel[0, :, 1].tolist() == [True, True, False]  # what scoring's detection softmax runs over
    pc = np.exp(cls) / np.exp(cls).sum(1, keepdims=True)
    np.testing.assert_allclose(ilp.log_pcls[0, :2, 1].exp().numpy(), pc[:2, 2], rtol=1e-9)
    np.testing.assert_allclose(ilp.log1m_pcls[0, :2, 1].exp().numpy(), 1 - pc[:2, 2], rtol=1e-9)
    # the padded third region never wins the max
    assert math.isclose(ilp.logp[0, 1].exp().item(), pc[:2, 2].max(), rel_tol=1e-9)


def test_with_both_full_terms_off_the_labelled_images_still_leave_the_weak_m_term():
    """The weights count W without the fully labelled images (a semi method on a set with local
    labels); the objective's weak M term must sum over the same images even when lambda2 = 0 or
    no full term is on, or its normaliser and its sum disagree."""
    ds = _rich_dataset()
    out, data = _out(ds, seed=1)
    for cfg in (method("ss_cls_det_rs", k=10, lambda2=0.0), method("ss_baseline_rs", k=10, full_cls=False)):
        w = ObjectiveWeights.from_dataset(ds, cfg)
        assert (w.w_full_cls, w.w_full_det, w.w_weak_m, w.w_weak_b) == (0.0, 0.0, 1 / 2, 1 / 5)
        loss, parts = objective(out, data, cfg, w)
        ilp = image_log_probs(out, cfg)
        wm = (ilp.log1mp[1, 1] + ilp.logp[2, 1]) / 2  # b (not M) and c (M); a and d are fully labelled
        wb = (ilp.log1mp[0, 0] + ilp.logp[1, 0] + ilp.log1mp[2, 0] + ilp.log1mp[3, 0] + ilp.log1mp[4, 0]) / 5
        assert set(parts) == {"weak_m", "weak_b"}
        assert torch.allclose(parts["weak_m"], wm) and torch.allclose(loss, -(wm + wb))


def test_objective_is_the_same_on_class_last_and_class_major_layouts():
    """The head hands the losses class-major planes (its fast layout); hand-built outputs are
    class-last. Loss and gradients must not depend on which."""
    torch.manual_seed(0)
    n, m = 4, 7
    cls = torch.randn(n, m, 3, dtype=torch.float64)
    det = torch.randn(n, m, 2, dtype=torch.float64)
    valid = torch.ones(n, m, dtype=torch.bool)
    valid[1, 5:] = False
    valid[3, 2:] = False
    labels = torch.full((n, m), -1, dtype=torch.int8)
    labels[0, :3] = torch.tensor([1, 0, 0], dtype=torch.int8)  # REGION_M, then BN
    data = type("D", (), {})()
    data.y_m = torch.tensor([1.0, 0.0, float("nan"), 1.0], dtype=torch.float64)
    data.y_b = torch.tensor([0.0, 1.0, 1.0, float("nan")], dtype=torch.float64)
    data.region_labels, data.has_local = labels, torch.tensor([True, False, False, False])
    cfg = method("ss_cls_det_rs", k=3)
    w = ObjectiveWeights(0.5, 0.25, 0.1, 1.0, n)
    results = []
    for major in (False, True):
        c = cls.permute(2, 0, 1).contiguous().permute(1, 2, 0) if major else cls.clone()
        d = det.permute(2, 0, 1).contiguous().permute(1, 2, 0) if major else det.clone()
        c.requires_grad_()
        d.requires_grad_()
        loss, parts = objective(RegionOutputs(c, d, valid), data, cfg, w)
        loss.backward()
        assert set(parts) == {"weak_m", "weak_b", "full_cls", "full_det"}
        results.append((loss.detach(), c.grad, d.grad))
    (l0, gc0, gd0), (l1, gc1, gd1) = results
    assert torch.isfinite(l0) and torch.allclose(l0, l1, rtol=1e-12)
    assert torch.allclose(gc0, gc1, rtol=1e-10, atol=1e-14) and torch.allclose(gd0, gd1, rtol=1e-10, atol=1e-14)
    assert gc0.abs().sum() > 0 and gd0.abs().sum() > 0


def test_head_forward_scatters_the_flat_logits_of_every_region():
    from mammo_annotator.ml.dataset import PackedData

    torch.manual_seed(0)
    head = DualBranchHead(6, method("cls_det_rs")).eval()
    with torch.no_grad():
        head.cls.weight.normal_()
        head.det.weight.normal_()
    counts = np.array([3, 1, 2])
    n, m_max = len(counts), int(counts.max())
    img = torch.from_numpy(np.repeat(np.arange(n), counts))
    pos = torch.from_numpy(np.concatenate([np.arange(c) for c in counts]))
    valid = torch.zeros(n, m_max, dtype=torch.bool)
    valid[img, pos] = True
    x = torch.randn(int(counts.sum()), 6)
    data = PackedData(x=x, img=img, pos=pos, counts=torch.from_numpy(counts), valid=valid,
                      y_m=torch.zeros(n), y_b=torch.zeros(n), region_labels=torch.full((n, m_max), -1, dtype=torch.int8),
                      has_local=torch.zeros(n, dtype=torch.bool), offsets=np.concatenate([[0], np.cumsum(counts)]))
    out = head(data)
    cls_flat, det_flat = head.region_logits(x)
    expect_cls = torch.nn.functional.linear(torch.relu(head.fc(x)), head.cls.weight, head.cls.bias)
    assert torch.allclose(cls_flat, expect_cls, atol=1e-6)
    assert torch.allclose(out.cls_logits[img, pos], cls_flat) and torch.allclose(out.det_logits[img, pos], det_flat)
    assert out.cls_logits.shape == (n, m_max, 3) and out.det_logits.shape == (n, m_max, 2)
    assert torch.all(out.cls_logits[~valid] == 0) and torch.all(out.det_logits[~valid] == 0)


@pytest.mark.parametrize("name", sorted(METHODS))
@pytest.mark.parametrize("full_det_mask", ["union", "unmasked"])
def test_every_objective_keeps_to_the_device(name, full_det_mask):
    """A training step of each method's heads, forward and backward, on the "meta" device: like
    a GPU it refuses host tensors, and like a GPU it cannot answer a data-dependent branch
    (``Tensor.item``) without a round trip, which the objective no longer takes."""
    from torch.fx.experimental import _config as fx_config

    from mammo_annotator.ml.cv import select_local
    from mammo_annotator.ml.simulate import sim_for_size

    ds = select_local(sim_for_size(20, regions=30, dim=16), 0.5, 0)
    cfg = method(name, full_det_mask=full_det_mask)
    meta = torch.device("meta")
    head = DualBranchHead(ds.dim, cfg).to(meta).train()
    data = ds.pack(meta).batch(np.arange(8))
    # the shared FC's backward gathers the rows with a gradient (nonzero): on meta, assume every row has one
    with fx_config.patch(meta_nonzero_assume_all_nonzero=True):
        loss, parts = objective(head(data), data, cfg, ObjectiveWeights.from_dataset(ds, cfg), 2.0)
        loss.backward()
    assert loss.device == meta and all(p.grad is not None and p.grad.device == meta for p in head.parameters())
    assert ("full_det" in parts) == (cfg.semi and cfg.full_det)
