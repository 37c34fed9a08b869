import dataclasses
import threading

import numpy as np
import pytest
import torch

from mammo_annotator.ml.model import method
from mammo_annotator.ml.scoring import score
from mammo_annotator.ml.simulate import SimSpec, simulate_regions
from mammo_annotator.ml.train import TrainConfig, patient_split, train
from tests.ml.helpers import tiny_dataset

SMALL = SimSpec(n_patients=30, regions=(20, 30), dim=16)


@pytest.fixture(scope="module")
def small():
    return simulate_regions(SMALL, seed=3)


def test_deterministic_given_seed(small):
    cfg, tc = method("cls_det_rs"), TrainConfig(epochs=3, seed=7, batch_size=32)
    a = train(small, cfg, tc).model.head.state_dict()
    b = train(small, cfg, tc).model.head.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = train(small, cfg, TrainConfig(epochs=3, seed=8, batch_size=32)).model.head.state_dict()
    assert not torch.equal(a["fc.weight"], c["fc.weight"])


def test_progress_and_cancel(small):
    calls = []
    res = train(small, method("cls_det_rs"), TrainConfig(epochs=3), progress=lambda *a: calls.append(a))
    assert res.status == "done" and [c[0] for c in calls] == [1, 2, 3] and all(c[1] == 3 for c in calls)
    assert all(np.isfinite(c[2]) and c[3] >= 0 for c in calls)
    ev = threading.Event()
    res = train(small, method("cls_det_rs"), TrainConfig(epochs=50),
                progress=lambda e, n, l, t: ev.set() if e == 2 else None, cancel=ev)
    assert res.status == "cancelled" and res.epochs_run == 2 and not res.ok


def test_divergence_is_reported(small, monkeypatch):
    import mammo_annotator.ml.train as train_mod

    real = train_mod.objective
    calls = []

    def poisoned(*a, **kw):
        loss, parts = real(*a, **kw)
        calls.append(1)
        return (loss * float("nan") if len(calls) > 3 else loss), parts

    monkeypatch.setattr(train_mod, "objective", poisoned)
    res = train(small, method("cls_det_rs"), TrainConfig(epochs=5, batch_size=32))
    assert res.status == "diverged" and "non-finite" in res.message
    assert all(torch.isfinite(p).all() for p in res.model.head.parameters())


def test_warm_start_and_early_stopping(small):
    first = train(small, method("cls_det_rs"), TrainConfig(epochs=3)).model
    res = train(small, method("cls_det_rs"), TrainConfig(epochs=1, lr=1e-3), init=first)
    assert res.ok
    assert torch.equal(res.model.head.feat_mean, first.head.feat_mean)  # normaliser kept
    res = train(small, method("cls_det_rs"), TrainConfig(epochs=40, val_fraction=0.3, patience=2))
    assert res.ok and res.best_epoch >= 1 and all("val_loss" in h for h in res.history)
    with pytest.raises(ValueError, match="features|expects"):
        train(tiny_dataset(), method("cls_det_rs"), TrainConfig(epochs=1), init=first)


def test_patient_split_is_patient_wise(small):
    tr, va = patient_split(small, 0.3, 0)
    assert len(va) and not set(small.patient_ids[tr]) & set(small.patient_ids[va])


def test_augmentation_options_run(small):
    res = train(small, method("cls_det_rs"), TrainConfig(epochs=2, region_dropout=0.2, bf16=True),
                extra_views=[small])
    assert res.ok and res.model.train_summary["n_images"] == len(small)


def test_scores_shapes_and_d(small):
    model = train(small, method("cls_det_rs"), TrainConfig(epochs=2)).model
    sc = score(model, small)
    assert sc.p_cls.shape == (len(small.features), 3) and sc.d.shape == (len(small.features), 2)
    np.testing.assert_allclose(sc.p_cls.sum(1), 1, atol=1e-5)
    for i in (0, 5):
        r = sc.regions(i)
        np.testing.assert_allclose(r["p_det"].sum(0), 1, atol=1e-5)
        np.testing.assert_allclose(r["p_maskdet"].sum(0), 1, atol=1e-5)
        assert (r["p_maskdet"][:, 1] > 0).sum() == min(10, len(r["p_det"]))
        np.testing.assert_allclose(r["d"], r["p_cls"][:, 1:] * r["p_det"], rtol=1e-6)
    # p(y_M | x) = sum over the RS-masked detection softmax of p_cls(M | r): the image score is its regions'
    for i in range(len(sc.p_m)):
        r = sc.regions(i)
        assert sc.p_m[i] == pytest.approx(float((r["p_maskdet"][:, 1] * r["p_cls"][:, 2]).sum()), rel=1e-4)
        assert sc.p_b[i] == pytest.approx(float((r["p_maskdet"][:, 0] * r["p_cls"][:, 1]).sum()), rel=1e-4)


def _assert_bernoulli_half(out: torch.Tensor) -> None:
    assert set(torch.unique(out).tolist()) == {0.0, 2.0}
    kept = (out > 0).float()
    assert abs(kept.mean().item() - 0.5) < 0.01
    assert kept.mean(0).sub(0.5).abs().max().item() < 0.02  # every unit, not only on average
    corr = torch.corrcoef(kept[:, :16].T) - torch.eye(16)
    assert corr.abs().max().item() < 0.05  # units within a byte are independent
    rows = torch.corrcoef(kept[:16]) - torch.eye(16)
    assert rows.abs().max().item() < 0.35  # and rows are not copies of each other


def test_fast_dropout_is_independent_bernoulli_half():
    from mammo_annotator.ml.model import FastDropout

    torch.manual_seed(0)
    drop = FastDropout(0.5).train()
    first = drop(torch.ones(20000, 128))
    _assert_bernoulli_half(first)
    assert not torch.equal(drop(torch.ones(20000, 128)), first)  # a new mask every step
    assert torch.equal(drop.eval()(torch.ones(3, 8)), torch.ones(3, 8))
    h = torch.ones(50, 24, dtype=torch.bfloat16)
    out = FastDropout(0.5).train()(h)
    assert out.dtype == torch.bfloat16 and set(torch.unique(out.float()).tolist()) == {0.0, 2.0}


def test_fast_dropout_is_fixed_by_torchs_seed():
    from mammo_annotator.ml.model import FastDropout

    masks = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        masks.append(FastDropout(0.5).train()(torch.ones(64, 16)))
    assert torch.equal(masks[0], masks[1]) and not torch.equal(masks[0], masks[2])


def test_with_local_labels_shares_features_and_keeps_the_original(small):
    keep = np.zeros(len(small), dtype=bool)
    keep[0] = True
    part = small.with_local_labels(keep)
    assert part.features is small.features
    assert part.has_local.sum() == 1 and small.has_local.sum() > 1
    assert np.all(part.region_labels[small.region_slice(1)] == -1)
    assert np.array_equal(part.region_labels[small.region_slice(0)], small.region_labels[small.region_slice(0)])


def test_feature_normaliser_is_exact_up_to_the_sample_size_and_close_beyond():
    from mammo_annotator.ml.train import feature_normaliser

    rng = np.random.default_rng(3)
    small = torch.from_numpy((rng.normal(size=(1000, 6)) * [1, 2, 3, 4, 5, 6] + 10).astype(np.float32))
    mean, std = feature_normaliser(small, max_rows=1000)
    assert torch.equal(mean, small.mean(0)) and torch.equal(std, small.std(0))  # every row used
    big = torch.from_numpy((rng.normal(size=(200_000, 6)) * [1, 2, 3, 4, 5, 6] + 10).astype(np.float32))
    mean, std = feature_normaliser(big, seed=1, max_rows=20_000)
    np.testing.assert_allclose(mean.numpy(), 10.0, atol=0.15)
    np.testing.assert_allclose(std.numpy(), [1, 2, 3, 4, 5, 6], rtol=0.03)
    again, _ = feature_normaliser(big, seed=1, max_rows=20_000)
    assert torch.equal(mean, again)  # seeded: the same training gives the same head
    assert not torch.equal(mean, big.mean(0))  # a sample, not every row


def test_bf16_runs_only_on_cpu_and_by_default_only_with_native_kernels(small):
    from mammo_annotator.ml.train import use_bf16

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert use_bf16(True, cpu) and not use_bf16(False, cpu)
    assert not use_bf16(True, cuda) and not use_bf16(None, cuda)
    assert use_bf16(None, cpu) == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    cfg, tc = method("cls_det_rs"), TrainConfig(epochs=3, seed=7, batch_size=32)
    fp32 = train(small, cfg, dataclasses.replace(tc, bf16=False)).model
    bf16 = train(small, cfg, dataclasses.replace(tc, bf16=True)).model
    assert not torch.equal(fp32.head.fc.weight, bf16.head.fc.weight)  # the setting reaches the training
    a, b = score(fp32, small), score(bf16, small)
    assert np.corrcoef(a.p_m, b.p_m)[0, 1] > 0.9  # and it trains the same model up to rounding
