"""The dual-branch heads (method section 3) and the paper's Table 2 methods (section 6): config
validation, the named configurations, initialisation, the feature normaliser, dropout and the
logits, each checked against a computation written out here (FC3 -> ReLU -> FC4 / FC5)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from mammo_annotator.ml.dataset import ImageRecord, RegionDataset
from mammo_annotator.ml.model import (ABNORMAL, METHODS, DualBranchHead, FastDropout, HeadConfig, TrainedModel,
                                      method, new_head)

# --- HeadConfig -------------------------------------------------------------------------------


@pytest.mark.parametrize("fields", [
    {"classes": "BM"}, {"classes": "NBM"}, {"aggregation": "max"}, {"aggregation": "cls_det"},
    {"full_det_mask": "union"}, {"full_det_mask": "unmasked"}, {"semi": True}, {"k": 1},
    {"dropout": 0.0}, {"dropout": 0.99}, {"semi": False, "aggregation": "max"},
])
def test_a_head_config_accepts_every_documented_value(fields):
    cfg = HeadConfig(**fields)
    for key, value in fields.items():
        assert getattr(cfg, key) == value


@pytest.mark.parametrize("fields, word", [
    ({"classes": "NB"}, "classes"), ({"classes": "MBN"}, "classes"), ({"classes": ""}, "classes"),
    ({"aggregation": "mean"}, "aggregation"), ({"aggregation": "MAX"}, "aggregation"),
    ({"full_det_mask": "masked"}, "full_det_mask"),
    ({"semi": True, "aggregation": "max"}, "semi-supervised"),
    ({"k": 0}, "k must"), ({"k": -3}, "k must"),
    ({"dropout": 1.0}, "dropout"), ({"dropout": -0.01}, "dropout"),
])
def test_a_head_config_refuses_an_invalid_value_naming_it(fields, word):
    with pytest.raises(ValueError, match=word):
        HeadConfig(**fields)


def test_class_count_and_column_of_each_class():
    nbm, bm = HeadConfig(classes="NBM"), HeadConfig(classes="BM")
    assert (nbm.n_cls, bm.n_cls) == (3, 2)
    assert [nbm.cls_index(c) for c in "NBM"] == [0, 1, 2]
    assert [bm.cls_index(c) for c in "BM"] == [0, 1]
    with pytest.raises(ValueError):
        bm.cls_index("N")  # the DB-Baseline has no normal class


def test_the_defaults_are_the_papers_proposed_method():
    """Section 5: k = 10, dropout 0.5, branch weights N(0, 1e-4); section 4: beta = lambda2 = 1;
    section 3: classes N, B, M with region selection and p = sum p_det * p_cls, weakly supervised."""
    cfg = HeadConfig()
    assert (cfg.classes, cfg.aggregation, cfg.region_selection, cfg.k) == ("NBM", "cls_det", True, 10)
    assert (cfg.semi, cfg.full_cls, cfg.full_det) == (False, True, True)
    assert (cfg.beta, cfg.lambda2, cfg.dropout, cfg.branch_init_std) == (1.0, 1.0, 0.5, 1e-4)
    assert cfg.full_det_mask == "unmasked"  # documented default: a labelled-M region outside the top-k keeps a gradient
    assert ABNORMAL == ("B", "M")


def test_json_round_trip_and_unknown_fields_refused():
    cfg = method("ss_cls_det_rs", k=3, beta=2.0, full_det_mask="union", hidden=7)
    d = cfg.to_json()
    assert isinstance(d, dict) and d["k"] == 3 and d["full_det_mask"] == "union" and d["name"] == "ss_cls_det_rs"
    assert HeadConfig.from_json(dict(d)) == cfg
    assert HeadConfig.from_json({}) == HeadConfig()
    with pytest.raises(ValueError, match="bogus"):
        HeadConfig.from_json(d | {"bogus": 1, "k": 3})
    with pytest.raises(ValueError):  # the checks run on loading too
        HeadConfig.from_json(d | {"classes": "NB"})


# --- the Table 2 methods ------------------------------------------------------------------------


def test_methods_are_the_papers_table_2():
    assert set(METHODS) == {"max_region", "db_baseline", "cls_det", "cls_det_rs", "ss_baseline_rs", "ss_cls_det_rs"}
    for name, cfg in METHODS.items():
        assert cfg.name == name
        assert cfg.k == 10 and cfg.full_cls and cfg.full_det_mask == "unmasked"
    row = {name: (c.classes, c.aggregation, c.region_selection, c.semi, c.full_det) for name, c in METHODS.items()}
    # Max-Region: region classifier only, p(y_c) = max_i p_cls(c | r_i)
    assert row["max_region"] == ("NBM", "max", False, False, True)
    # DB-Baseline (WSDDN): both branches over {B, M}, no normal class, no region selection
    assert row["db_baseline"] == ("BM", "cls_det", False, False, True)
    # Cls-Det: the proposed model without region selection; Cls-Det-RS: the proposed model
    assert row["cls_det"] == ("NBM", "cls_det", False, False, True)
    assert row["cls_det_rs"] == ("NBM", "cls_det", True, False, True)
    # SS-Baseline-RS: semi-supervised with L_F_det = 0; SS Cls-Det-RS: both full terms
    assert row["ss_baseline_rs"] == ("NBM", "cls_det", True, True, False)
    assert row["ss_cls_det_rs"] == ("NBM", "cls_det", True, True, True)


def test_method_overrides_a_copy_and_refuses_an_unknown_name():
    cfg = method("cls_det_rs", k=5, dropout=0.25)
    assert (cfg.name, cfg.k, cfg.dropout, cfg.region_selection) == ("cls_det_rs", 5, 0.25, True)
    assert METHODS["cls_det_rs"].k == 10 and method("cls_det_rs") == METHODS["cls_det_rs"]
    with pytest.raises(KeyError, match="cls_det_rss"):
        method("cls_det_rss")
    with pytest.raises(ValueError):  # overrides are validated
        method("cls_det_rs", k=0)


# --- dropout ------------------------------------------------------------------------------------


def test_fast_dropout_is_the_identity_in_eval_mode_or_at_zero_rate():
    h = torch.randn(64, 16)
    drop = FastDropout(0.5).eval()
    assert drop(h) is h and drop.mask((64, 16), h.dtype, h.device) is None
    drop0 = FastDropout(0.0).train()
    assert drop0(h) is h and drop0.mask((64, 16), h.dtype, h.device) is None


def test_fast_dropout_in_training_zeroes_or_rescales_each_entry():
    torch.manual_seed(0)
    h = torch.full((400, 64), 3.0)
    out = FastDropout(0.25).train()(h)
    values = torch.unique(out)
    assert len(values) == 2 and values[0] == 0 and values[1].item() == pytest.approx(3.0 / 0.75)
    assert abs((out == 0).float().mean().item() - 0.25) < 0.02
    assert abs(out.mean().item() - 3.0) < 0.1  # inverted dropout keeps the expectation
    # at the tensor's own precision: a kept float64 entry is scaled by 1 / (1 - p) in float64
    h64 = torch.rand(50, 40, dtype=torch.float64) + 0.5
    out64 = FastDropout(0.25).train()(h64)
    kept = out64 != 0
    assert out64.dtype == torch.float64 and 0 < kept.sum() < kept.numel()
    np.testing.assert_allclose(out64[kept].numpy(), (h64[kept] / 0.75).numpy(), rtol=1e-14)


# --- the head -----------------------------------------------------------------------------------


def test_head_layer_shapes_for_both_class_sets():
    for name, n_cls in (("cls_det_rs", 3), ("db_baseline", 2)):
        head = new_head(5, method(name, hidden=7))
        assert isinstance(head, DualBranchHead) and head.in_dim == 5
        assert head.fc.weight.shape == (7, 5) and head.cls.weight.shape == (n_cls, 7)
        assert head.det.weight.shape == (2, 7)
        cls, det = head.eval().region_logits(torch.randn(4, 5))
        assert cls.shape == (4, n_cls) and det.shape == (4, 2)


def test_initialisation_he_normal_shared_layer_and_small_zero_mean_branches():
    torch.manual_seed(0)
    head = DualBranchHead(400, method("cls_det_rs", hidden=500, branch_init_std=0.02))
    w = head.fc.weight
    # He (Kaiming) normal for a ReLU layer: N(0, 2 / fan_in)
    assert abs(w.std().item() - math.sqrt(2 / 400)) < 0.02 * math.sqrt(2 / 400)
    assert abs(w.mean().item()) < 1e-3
    for lin in (head.cls, head.det):
        assert abs(lin.weight.std().item() - 0.02) < 0.003
        assert abs(lin.weight.mean().item()) < 0.003
    for b in (head.fc.bias, head.cls.bias, head.det.bias):
        assert torch.all(b == 0)
    # a second reset draws afresh with the same law
    before = head.cls.weight.clone()
    head.reset_parameters()
    assert not torch.equal(before, head.cls.weight)


def test_a_fresh_head_does_not_standardise_and_set_normaliser_does():
    head = DualBranchHead(3, method("cls_det_rs"))
    x = torch.tensor([[1.0, -2.0, 5.0], [0.5, 0.0, 7.0]])
    assert torch.equal(head.normalise(x), x)
    head.set_normaliser(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 0.5, 0.0]))
    y = head.normalise(x)
    assert torch.equal(x, torch.tensor([[1.0, -2.0, 5.0], [0.5, 0.0, 7.0]]))  # the input is left alone
    np.testing.assert_allclose(y[:, :2].numpy(), [[0.0, -8.0], [-0.25, -4.0]])
    # a constant feature (std 0) gives finite values, and 0 at the mean
    assert torch.isfinite(y).all() and (y[:, 2] > 0).all()
    assert head.normalise(torch.tensor([[1.0, 2.0, 3.0]]))[0, 2] == 0
    # the statistics are buffers: saved with the model
    state = head.state_dict()
    assert torch.equal(state["feat_mean"], torch.tensor([1.0, 2.0, 3.0]))
    assert state["feat_std"][0] == 2.0 and state["feat_std"][1] == 0.5


def _by_hand(head: DualBranchHead, x: torch.Tensor, mask: torch.Tensor | None = None):
    """FC3 -> ReLU -> (dropout) -> FC4 and FC5 on standardised rows, in float64."""
    x = x.detach().double()
    z = (x - head.feat_mean.double()) / head.feat_std.double()
    h = torch.relu(z @ head.fc.weight.double().t() + head.fc.bias.double())
    if mask is not None:
        h = h * mask.double()
    cls = h @ head.cls.weight.double().t() + head.cls.bias.double()
    det = h @ head.det.weight.double().t() + head.det.bias.double()
    return cls.detach(), det.detach()


def _random_head(in_dim=4, name="cls_det_rs", **kw) -> DualBranchHead:
    torch.manual_seed(1)
    head = DualBranchHead(in_dim, method(name, hidden=6, **kw))
    with torch.no_grad():
        for p in head.parameters():
            p.normal_()
    head.set_normaliser(torch.randn(in_dim), torch.rand(in_dim) + 0.5)
    return head


def test_region_logits_standardise_unless_told_the_rows_already_are():
    head = _random_head().eval()
    x = torch.randn(9, 4) * 3 + 1
    with torch.no_grad():
        cls, det = head.region_logits(x)
    want_cls, want_det = _by_hand(head, x)
    np.testing.assert_allclose(cls.double().numpy(), want_cls.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(det.double().numpy(), want_det.numpy(), rtol=1e-5, atol=1e-5)
    z = head.normalise(x)
    with torch.no_grad():
        cls2, det2 = head.region_logits(z, normalised=True)
    np.testing.assert_allclose(cls2.numpy(), cls.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(det2.numpy(), det.numpy(), rtol=1e-5, atol=1e-5)


def test_training_mode_drops_hidden_units_and_its_gradient_matches_the_plain_ops():
    """Train mode: the logits and every gradient are those of FC3 -> ReLU -> inverted dropout ->
    FC4 / FC5 with the same mask (drawn again from the same seed)."""
    head = _random_head(dropout=0.25).train()
    x = torch.randn(40, 4)
    torch.manual_seed(5)
    cls, det = head.region_logits(x)
    (cls.sum() + 2 * det.sum()).backward()
    grads = [p.grad.clone() for p in (head.fc.weight, head.fc.bias, head.cls.weight, head.det.weight)]
    torch.manual_seed(5)
    mask = head.drop.mask((40, 6), torch.float32, x.device)
    assert torch.allclose(torch.unique(mask), torch.tensor([0.0, 1 / 0.75]))
    ref = DualBranchHead(4, head.cfg)
    ref.load_state_dict(head.state_dict())
    ref.zero_grad()
    z = ref.normalise(x)
    h = torch.relu(torch.nn.functional.linear(z, ref.fc.weight, ref.fc.bias)) * mask
    c_ref = torch.nn.functional.linear(h, ref.cls.weight, ref.cls.bias)
    d_ref = torch.nn.functional.linear(h, ref.det.weight, ref.det.bias)
    assert torch.allclose(cls, c_ref, atol=1e-5) and torch.allclose(det, d_ref, atol=1e-5)
    (c_ref.sum() + 2 * d_ref.sum()).backward()
    for g, p in zip(grads, (ref.fc.weight, ref.fc.bias, ref.cls.weight, ref.det.weight)):
        assert torch.allclose(g, p.grad, rtol=1e-4, atol=1e-5)


def test_forward_scatters_each_image_regions_in_order_with_zero_padding():
    head = _random_head(in_dim=2, name="db_baseline").eval()
    rng = np.random.default_rng(0)
    counts = (2, 4, 1)
    recs = [ImageRecord(rng.standard_normal((m, 2)).astype(np.float32), np.zeros((m, 4)), 0.0, 0.0,
                        image_id=str(i)) for i, m in enumerate(counts)]
    ds = RegionDataset.from_records(recs)
    data = ds.pack()
    with torch.no_grad():
        out = head(data)
        assert out.cls_logits.shape == (3, 4, 2) and out.det_logits.shape == (3, 4, 2)
        assert out.valid.tolist() == [[True, True, False, False], [True] * 4, [True, False, False, False]]
        for i, rec in enumerate(recs):
            c, d = _by_hand(head, torch.from_numpy(rec.features))
            m = counts[i]
            np.testing.assert_allclose(out.cls_logits[i, :m].double().numpy(), c.numpy(), rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(out.det_logits[i, :m].double().numpy(), d.numpy(), rtol=1e-5, atol=1e-5)
            assert torch.all(out.cls_logits[i, m:] == 0) and torch.all(out.det_logits[i, m:] == 0)
        # a batch of images (in another order) scatters the same rows
        out2 = head(data.batch(np.array([2, 0])))
        assert out2.cls_logits.shape == (2, 2, 2)
        assert torch.allclose(out2.cls_logits[1, :2], out.cls_logits[0, :2])
        assert torch.allclose(out2.det_logits[0, :1], out.det_logits[2, :1])
        # rows already standardised
        pre = head(dataclasses.replace(data, x=head.normalise(data.x)), normalised=True)
        assert torch.allclose(pre.det_logits, out.det_logits, atol=1e-5)


def test_trained_model_reports_its_head_input_width():
    head = new_head(6, method("cls_det"))
    tm = TrainedModel(head, head.cfg, "f:1", {}, {}, {})
    assert tm.in_dim == 6


def test_the_dropout_mask_is_made_on_the_rows_device_and_in_their_dtype(monkeypatch):
    """On a GPU a mask made on the host, or in another dtype than the rows, is a device error or
    a cast of the largest tensor of a step: the head asks for one like its rows."""
    import mammo_annotator.ml.model as model_mod

    asked = []
    real = model_mod.dropout_mask

    def spy(shape, p, dtype, device):
        asked.append((tuple(shape), p, dtype, device))
        return real(shape, p, dtype, device)

    monkeypatch.setattr(model_mod, "dropout_mask", spy)
    head = _random_head(dropout=0.5).train()
    x = torch.randn(8, 4, dtype=torch.float64)
    head.region_logits(x)
    assert asked == [((8, 6), 0.5, torch.float64, x.device)]
    m = FastDropout(0.25).train().mask((3, 8), torch.float64, torch.device("meta"))
    assert m.dtype == torch.float64 and m.device.type == "meta"
