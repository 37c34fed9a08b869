"""SharedFC must be exactly FC3 -> ReLU -> dropout -> FC4/FC5 built from separate torch ops."""

import pytest
import torch

from mammo_annotator.ml import shared_fc
from mammo_annotator.ml.model import DualBranchHead, method
from mammo_annotator.ml.shared_fc import SharedFC, dropout_mask


def _inputs(dtype, n=40, d=16, hid=24, c=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=dtype, requires_grad=True)
    w1 = torch.randn(hid, d, generator=g, dtype=dtype, requires_grad=True)
    b1 = torch.randn(hid, generator=g, dtype=dtype, requires_grad=True)
    w2 = torch.randn(c, hid, generator=g, dtype=dtype, requires_grad=True)
    b2 = torch.randn(c, generator=g, dtype=dtype, requires_grad=True)
    return x, w1, b1, w2, b2


def _reference(x, w1, b1, w2, b2, mask):
    h = torch.relu(x @ w1.t() + b1)
    if mask is not None:
        h = h * mask
    return w2 @ h.t() + b2.unsqueeze(1)


@pytest.mark.parametrize("p", [0.5, 0.25, None])
def test_gradients_match_finite_differences(p):
    args = _inputs(torch.float64)
    torch.manual_seed(1)
    mask = None if p is None else dropout_mask((40, 24), p, torch.float64, torch.device("cpu"))
    scale = 1.0 if p is None else 1.0 / (1.0 - p)
    assert torch.autograd.gradcheck(lambda *a: SharedFC.apply(*a, mask, scale), args)


@pytest.mark.parametrize("with_mask", [True, False])
def test_float32_output_and_gradients_equal_the_separate_ops(with_mask):
    a = _inputs(torch.float32)
    b = [t.detach().clone().requires_grad_(True) for t in a]
    torch.manual_seed(2)
    mask = dropout_mask((40, 24), 0.5, torch.float32, torch.device("cpu")) if with_mask else None
    out = SharedFC.apply(*a, mask, 2.0)
    ref = _reference(*b, mask)
    torch.testing.assert_close(out, ref)
    weights = torch.randn_like(ref)
    (out * weights).sum().backward()
    (ref * weights).sum().backward()
    for got, want in zip(a, b):
        torch.testing.assert_close(got.grad, want.grad, rtol=1e-5, atol=1e-5)


def test_bfloat16_rows_give_float32_logits_and_gradients_near_float32():
    x32, *params = _inputs(torch.float32, n=400, d=32, hid=64)
    x16 = x32.detach().bfloat16()
    out = SharedFC.apply(x16, *params, None, 1.0)
    assert out.dtype == torch.float32
    ref = _reference(x16.float(), *[p.detach() for p in params], None)
    assert ((out - ref).abs().max() / ref.abs().max()).item() < 0.02
    out.sum().backward()
    assert all(p.grad.dtype == torch.float32 for p in params)
    assert x16.grad is None  # rows without requires_grad get none


def test_rows_get_a_gradient_when_only_they_require_one():
    """End-to-end training back-propagates into the backbone's rows, also past a frozen head."""
    x, *params = _inputs(torch.float64)
    frozen = [p.detach() for p in params]
    torch.manual_seed(3)
    mask = dropout_mask((40, 24), 0.5, torch.float64, torch.device("cpu"))
    assert torch.autograd.gradcheck(lambda x: SharedFC.apply(x, *frozen, mask, 2.0), (x,))


def _grads(g, monkeypatch, sparse_below):
    monkeypatch.setattr(shared_fc, "SPARSE_BELOW", sparse_below)
    a = _inputs(torch.float64, n=200)
    torch.manual_seed(4)
    mask = dropout_mask((200, 24), 0.5, torch.float64, torch.device("cpu"))
    SharedFC.apply(*a, mask, 2.0).backward(g)
    return [t.grad for t in a]


@pytest.mark.parametrize("live_share", [0.0, 0.1, 0.6, 1.0])
def test_the_backward_on_the_rows_with_a_gradient_equals_the_full_backward(live_share, monkeypatch):
    """Region selection leaves most rows without a gradient; the backward skips them, exactly."""
    gen = torch.Generator().manual_seed(5)
    g = torch.randn(5, 200, generator=gen, dtype=torch.float64)
    g[:, torch.rand(200, generator=gen) >= live_share] = 0.0
    g[3, 7] = 1.5  # a row whose gradient comes from one output only
    sparse = _grads(g, monkeypatch, 0.75)
    dense = _grads(g, monkeypatch, 0.0)  # never gathers
    for got, want in zip(sparse, dense):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert torch.all(sparse[0][(g == 0).all(0)] == 0)  # rows without a gradient get zeros


def test_a_region_selection_step_gives_the_same_head_gradients_with_and_without_the_gather(monkeypatch):
    from mammo_annotator.ml.losses import ObjectiveWeights, objective
    from mammo_annotator.ml.simulate import sim_for_size

    ds = sim_for_size(60, seed=3)
    cfg = method("cls_det_rs")
    grads = []
    for below in (0.75, 0.0):
        monkeypatch.setattr(shared_fc, "SPARSE_BELOW", below)
        torch.manual_seed(0)
        head = DualBranchHead(ds.dim, cfg).double()
        with torch.no_grad():
            head.cls.weight.normal_()
            head.det.weight.normal_()
        data = ds.pack()
        data.x = data.x.double()
        objective(head(data), data, cfg, ObjectiveWeights.from_dataset(ds, cfg))[0].backward()
        grads.append([p.grad.clone() for p in head.parameters()])
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("p", [0.5, 0.3])
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_dropout_mask_values_dtype_and_rate_for_any_width(p, dtype):
    torch.manual_seed(0)
    for width in (16, 13):  # a multiple of 8 entries (one random byte per 8 units) or not
        m = dropout_mask((20001, width), p, dtype, torch.device("cpu"))
        assert m.dtype == dtype and m.shape == (20001, width)
        values = torch.unique(m.float()).tolist()
        assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(1 / (1 - p), rel=1e-2)
        kept = (m > 0).float()
        assert kept.mean(0).sub(1 - p).abs().max().item() < 0.02


def test_head_logits_follow_its_dropout_mode():
    head = DualBranchHead(16, method("cls_det_rs"))
    with torch.no_grad():
        head.cls.weight.normal_()
        head.det.weight.normal_()
    x = torch.randn(200, 16)
    head.eval()
    first = head.region_logits(x)[0]
    assert torch.equal(first, head.region_logits(x)[0])  # eval: nothing dropped, deterministic
    head.train()
    torch.manual_seed(0)
    a = head.region_logits(x)[0]
    assert not torch.equal(a, first) and not torch.equal(a, head.region_logits(x)[0])


def test_a_head_config_refuses_a_dropout_that_keeps_nothing():
    for p in (1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="dropout"):
            method("cls_det_rs", dropout=p)
    assert method("cls_det_rs", dropout=0.0).dropout == 0.0
