"""End-to-end mode: torch box pooling equals the extractor's numpy pooling; backbone top and
heads train together with the method's objective; the result is a new extractor whose cached
features reproduce the head's training inputs."""

import numpy as np
import pytest
import torch

from mammo_annotator.ml.end_to_end import torch_box_features, train_end_to_end
from mammo_annotator.ml.features.learned import BackboneConfig, LearnedExtractor, SmallConvNet
from mammo_annotator.ml.model import method
from mammo_annotator.ml.scoring import score

from .learned_helpers import cohort


def _ext(seed=0):
    cfg = BackboneConfig(widths=(8, 8, 16, 16))
    torch.manual_seed(seed)
    return LearnedExtractor(SmallConvNet(cfg), cfg, "simclr")


def test_torch_box_pooling_matches_numpy():
    ext = _ext()
    work = np.random.default_rng(0).random((160, 128)).astype(np.float32)
    boxes = np.array([[0, 0, 48, 48], [24, 40, 72, 88], [80, 112, 128, 160]])
    fmap = ext.feature_map(work)
    want = ext.pool_boxes(fmap, boxes, 1, work.shape)
    got = torch_box_features(torch.from_numpy(fmap), boxes, ext.cfg.stride).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("pool", ["avg", "avgmax"])
def test_an_end_to_end_step_keeps_to_the_device(pool):
    """Frozen maps, the tuned stage, window pooling and the heads, forward and backward, on the
    "meta" device (which, like a GPU, refuses host tensors): the training step minus its loss,
    whose data-dependent branches meta cannot run."""
    from torch.fx.experimental import _config as fx_config

    from mammo_annotator.ml.end_to_end import split_top, tuned_box_features
    from mammo_annotator.ml.features.backbones import build_backbone
    from mammo_annotator.ml.model import DualBranchHead
    from mammo_annotator.ml.simulate import sim_for_size

    meta = torch.device("meta")
    bcfg = BackboneConfig(arch="efficientnet-lite0", layer="s57", pool=pool)
    net = build_backbone(bcfg).to(meta)
    frozen, tuned = split_top(net)
    ds = sim_for_size(2, regions=3, dim=bcfg.dim)  # a few images, with their windows' labels
    n = len(ds)
    boxes = [np.resize([[0, 0, 64, 64], [8, 8, 40, 72]], (int(ds.offsets[k + 1] - ds.offsets[k]), 4)) for k in range(n)]
    with torch.no_grad():
        maps = [frozen(net.trunk(torch.empty((1, 1, 128, 96), device=meta)))[0] for _ in range(n)]
    feats = torch.cat(tuned_box_features(tuned, maps, boxes, [16.0] * n, bcfg.pool))
    assert feats.shape == (len(ds.features), bcfg.dim)
    head = DualBranchHead(bcfg.dim, method("ss_cls_det_rs")).to(meta).train()
    data = ds.pack(meta)
    data.x = head.normalise(feats)
    out = head(data, normalised=True)
    # the heads' backward gathers the rows with a gradient (nonzero): on meta, assume every row has one
    with fx_config.patch(meta_nonzero_assume_all_nonzero=True):
        (out.cls_logits.sum() + out.det_logits.sum()).backward()
    assert all(p.grad is not None and p.grad.device == meta for p in tuned.parameters() if p.requires_grad)


def test_end_to_end_trains_top_and_heads():
    ds, work = cohort(4, 7)
    ext = _ext()
    semi = ds.with_local_labels(ds.y_m == 1)
    new, model, hist = train_end_to_end(ext, semi, lambda i: work[i], method("ss_cls_det_rs"), epochs=4,
                                        batch_images=4, lr=3e-3, device="cpu")
    assert len(hist) == 4 and np.isfinite(hist).all() and hist[-1] < hist[0]
    assert new.key != ext.key and new.key.startswith("learned-e2e:") and model.feature_key == new.key
    assert not torch.equal(new.net.top[0][0].weight, ext.net.top[0][0].weight)
    assert torch.equal(new.net.trunk[0].weight, ext.net.trunk[0].weight)  # trunk frozen
    feats = [new.pool_boxes(new.feature_map(work[str(i)][0]), ds.boxes[ds.region_slice(k)], 1, None)
             for k, i in enumerate(ds.image_ids)]
    import dataclasses

    fds = dataclasses.replace(ds, features=np.concatenate(feats).astype(np.float32), feature_key=new.key)
    sc = score(model, fds)
    assert len(sc.p_m) == len(ds)
    # the new heads rank the cohort's malignant images above the others (it was trained on them)
    assert sc.p_m[ds.y_m == 1].mean() > sc.p_m[ds.y_m == 0].mean()


def _lite_ext(seed=0, arch="efficientnet-lite0"):
    from mammo_annotator.ml.features.backbones import build_backbone

    cfg = BackboneConfig(arch=arch, layer="s57", pool="avg")
    torch.manual_seed(seed)
    return LearnedExtractor(build_backbone(cfg), cfg, "supervised")


@pytest.mark.parametrize("arch", ["efficientnet-lite0", "efficientnet-lite1"])  # lite1: the default extractor
def test_lite_top_splits_into_cached_stage6_and_tuned_stage7(arch):
    from mammo_annotator.ml.end_to_end import split_top

    net = _lite_ext(arch=arch).net
    frozen, tuned = split_top(net)
    assert not frozen.training and not tuned.training  # the split keeps the top's mode
    n7 = sum(p.numel() for p in net.top.late[-1].parameters())
    assert sum(p.numel() for p in tuned.parameters()) == n7 and n7 > 0
    for shape in ((208, 176), (224, 256)):  # odd and even stride-32 sizes
        x = torch.randn(2, 112, shape[0] // 16, shape[1] // 16)
        with torch.no_grad():
            torch.testing.assert_close(tuned(frozen(x)), net.top(x), rtol=0, atol=0)


def test_lite_end_to_end_tunes_stage7_only_and_caches_the_frozen_maps():
    from mammo_annotator.ml.end_to_end import MapCache, cached_maps, split_top, tuned_box_features

    ds, work = cohort(3, 5)
    ext = _lite_ext()
    semi = ds.with_local_labels(ds.y_m == 1)
    cache = MapCache()
    new, model, hist = train_end_to_end(ext, semi, lambda i: work[i], method("ss_cls_det_rs"), epochs=2,
                                        batch_images=3, lr=3e-3, device="cpu", cache=cache)
    assert len(hist) == 2 and np.isfinite(hist).all()
    assert sorted(cache) == sorted(f"{ext.key}/{i}" for i in ds.image_ids)
    before, after = ext.net.top.late, new.net.top.late
    for k in range(len(before) - 1):  # stage 6 frozen
        for a, b in zip(before[k].parameters(), after[k].parameters()):
            assert torch.equal(a, b)
    assert not torch.equal(before[-1]._project_conv.weight, after[-1]._project_conv.weight)
    for a, b in zip(ext.net.trunk.parameters(), new.net.trunk.parameters()):
        assert torch.equal(a, b)
    # the cached path (frozen maps of the start, the new stage 7) gives what the new extractor extracts
    ids = [str(i) for i in ds.image_ids]
    maps = cached_maps(ext, ids, lambda i: work[i], cache)
    assert all(m is cache.get(f"{ext.key}/{i}") for m, i in zip(maps, ids))
    assert [m.factor for m in maps] == [work[i][1] for i in ids]
    with torch.no_grad():
        got = tuned_box_features(split_top(new.net)[1], [m.map for m in maps],
                                 [ds.boxes[ds.region_slice(k)] for k in range(len(ds))],
                                 [new.cfg.stride] * len(ds), new.cfg.pool)
    for k, i in enumerate(ids):
        want = new.pool_boxes(new.feature_map(work[i][0]), ds.boxes[ds.region_slice(k)], 1, work[i][0].shape)
        np.testing.assert_allclose(got[k].numpy(), want, rtol=1e-3, atol=1e-3)


def test_end_to_end_from_trained_heads_starts_where_they_ended():
    import dataclasses

    from mammo_annotator.ml.train import TrainConfig, train

    ds, work = cohort(4, 7)
    ext = _ext()
    feats = [ext.pool_boxes(ext.feature_map(work[str(i)][0]), ds.boxes[ds.region_slice(k)], 1, None)
             for k, i in enumerate(ds.image_ids)]
    fds = dataclasses.replace(ds, features=np.concatenate(feats).astype(np.float32), feature_key=ext.key)
    cfg = method("cls_det_rs")
    heads = train(fds, cfg, TrainConfig(epochs=3, batch_size=None, device="cpu")).model
    # with a zero learning rate nothing moves: the scores are the heads-only model's
    new, model, _ = train_end_to_end(ext, ds, lambda i: work[i], cfg, epochs=1, lr=0.0, device="cpu",
                                     init_head=heads.head)
    torch.testing.assert_close(model.head.state_dict(), heads.head.state_dict())
    assert model.head is not heads.head
    same = dataclasses.replace(fds, feature_key=new.key)  # lr 0: the same features under the new extractor's key
    np.testing.assert_allclose(score(model, same).p_m, score(heads, fds).p_m, rtol=1e-4, atol=1e-5)
    # with a learning rate, training moves on from them
    _, moved, _ = train_end_to_end(ext, ds, lambda i: work[i], cfg, epochs=2, lr=3e-3, device="cpu",
                                   init_head=heads.head)
    assert not torch.equal(moved.head.state_dict()["fc.weight"], heads.head.state_dict()["fc.weight"])


def test_maps_past_the_cache_budget_are_computed_again_with_the_same_result():
    from mammo_annotator.ml.end_to_end import MapCache, cached_maps

    ds, work = cohort(3, 5)
    ext = _lite_ext()
    ids = [str(i) for i in ds.image_ids]
    one = cached_maps(ext, ids[:1], lambda i: work[i])[0].map
    small = MapCache(max_bytes=one.numel() * one.element_size())
    again = cached_maps(ext, ids, lambda i: work[i], small)
    assert len(small) == 1 and small.bytes <= small.max_bytes  # the first fits, the others do not
    assert torch.equal(again[0].map, one)
    semi = ds.with_local_labels(ds.y_m == 1)
    runs = [train_end_to_end(ext, semi, lambda i: work[i], method("ss_cls_det_rs"), epochs=2, batch_images=3,
                             lr=3e-3, device="cpu", cache=c)[1] for c in (MapCache(max_bytes=0), MapCache())]
    for a, b in zip(runs[0].head.state_dict().values(), runs[1].head.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_end_to_end_decodes_each_image_once_when_its_map_is_cached():
    # in the app work_of decodes the pixels: the factor comes with the cached map, not from a second call
    ds, work = cohort(3, 5)
    ext = _lite_ext()
    calls: list[str] = []

    def work_of(i: str):
        calls.append(i)
        return work[i]

    train_end_to_end(ext, ds.with_local_labels(ds.y_m == 1), work_of, method("ss_cls_det_rs"), epochs=2,
                     batch_images=3, lr=3e-3, device="cpu")
    assert sorted(calls) == sorted(str(i) for i in ds.image_ids)
