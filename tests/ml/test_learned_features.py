"""The learned backbone: it learns lesions on synthetic mammograms, its key follows its weights,
it survives a save/load round trip, stops on cancel and resumes from its checkpoint."""

import threading

import numpy as np
import pytest
import torch

from mammo_annotator.ml.features.learned import (BackboneConfig, LearnedExtractor, LearnedWeightsError, SmallConvNet,
                                                 build_backbone, load_learned)
from mammo_annotator.ml.features.learned_train import ExtractorTrainConfig, train_extractor, training_images
from mammo_annotator.ml.metrics import auroc

from .learned_helpers import WINDOW, cohort

FAST = dict(batch=24, mil_images=2, bag=4, num_threads=2, device="cpu")


def _features(ext, ds, work):
    return np.concatenate([ext.pool_boxes(ext.feature_map(work[str(i)][0]), ds.boxes[ds.region_slice(k)], 1, None)
                           for k, i in enumerate(ds.image_ids)])


def test_supervised_backbone_separates_lesion_windows():
    tr, work_tr = cohort(12, 11)
    te, work_te = cohort(8, 12)  # other patients
    res = train_extractor(training_images(tr, lambda i: work_tr[i]),
                          ExtractorTrainConfig(steps=120, batch=32, lr=3e-3, mil_images=0, num_threads=1, device="cpu", context=16),
                          patch=WINDOW)
    assert res.status == "done" and res.steps_run == 120
    from sklearn.linear_model import LogisticRegression

    ftr, fte = _features(res.extractor, tr, work_tr), _features(res.extractor, te, work_te)
    ytr, yte = tr.region_labels, te.region_labels
    clf = LogisticRegression(max_iter=2000, C=0.1).fit(ftr[ytr >= 0], ytr[ytr >= 0])
    a = auroc(yte[yte >= 0].astype(float), clf.decision_function(fte[yte >= 0]))
    assert a > 0.7, a  # measured 0.78 (a random backbone: about 0.5)


def test_key_follows_weights_and_round_trip(tmp_path):
    cfg = BackboneConfig(widths=(8, 8, 16, 16))
    torch.manual_seed(0)
    a = LearnedExtractor(SmallConvNet(cfg), cfg, "supervised")
    torch.manual_seed(1)
    b = LearnedExtractor(SmallConvNet(cfg), cfg, "supervised")
    assert a.key != b.key and a.key.startswith("learned-supervised:1:")
    assert a.dim == 32
    path = a.save(tmp_path)
    assert a.digest in path.name
    c = load_learned(path, expect_digest=a.digest)
    assert c.key == a.key
    img = np.random.default_rng(0).integers(0, 255, (128, 96)).astype(np.uint8)
    boxes = np.array([[0, 0, 48, 48], [40, 60, 88, 108]])
    np.testing.assert_array_equal(a.extract(img, boxes, 0.2), c.extract(img, boxes, 0.2))
    with pytest.raises(LearnedWeightsError):
        load_learned(path, expect_digest="000000000000")
    with pytest.raises(LearnedWeightsError):
        LearnedExtractor.from_bytes(b"not torch")
    bad = tmp_path / "evil.pt"
    torch.save({"format": "mammo-learned-extractor", "version": "1", "obj": object()}, bad)
    with pytest.raises(LearnedWeightsError):
        load_learned(bad)  # weights-only loading refuses arbitrary objects


def test_device_follows_the_machine_and_the_key_does_not_name_it():
    """Like the frozen extractor, a learned one runs on the GPU when there is one (``auto``); an
    explicit device is kept, and the features (and key) on it are those of the same weights."""
    from mammo_annotator.ml.train import resolve_device

    cfg = BackboneConfig(widths=(8, 8, 16, 16))
    torch.manual_seed(0)
    auto = LearnedExtractor(SmallConvNet(cfg), cfg, "supervised")
    assert auto.device == resolve_device("auto")
    assert {p.device for p in auto.net.parameters()} == {auto.device}
    assert LearnedExtractor.from_bytes(auto.to_bytes()).device == resolve_device("auto")
    cpu = LearnedExtractor.from_bytes(auto.to_bytes(), device="cpu")
    assert cpu.device == torch.device("cpu") and cpu.key == auto.key
    img = np.random.default_rng(1).integers(0, 255, (128, 96)).astype(np.uint8)
    boxes = np.array([[0, 0, 48, 48], [40, 60, 88, 108]])
    np.testing.assert_allclose(auto.extract(img, boxes, 0.2), cpu.extract(img, boxes, 0.2), rtol=1e-2, atol=1e-3)


def test_cancel_then_resume_matches_uninterrupted(tmp_path):
    tr, work = cohort(3, 21)
    data = training_images(tr.without_local_labels(), lambda i: work[i])
    cfg = ExtractorTrainConfig(mode="simclr", steps=6, checkpoint_every=2, **{**FAST, "batch": 8})
    bcfg = BackboneConfig(widths=(8, 8, 16, 16))
    full = train_extractor(data, cfg, bcfg, patch=WINDOW)
    stop = threading.Event()

    def progress(step, total, loss, elapsed):
        if step == 3:
            stop.set()

    ckpt = tmp_path / "ckpt.pt"
    part = train_extractor(data, cfg, bcfg, patch=WINDOW, progress=progress, cancel=stop, checkpoint=ckpt)
    assert part.status == "cancelled" and part.steps_run == 3 and ckpt.is_file()
    rest = train_extractor(data, cfg, bcfg, patch=WINDOW, checkpoint=ckpt)
    assert rest.status == "done" and rest.resumed_from == 3 and rest.steps_run == 6
    np.testing.assert_allclose(rest.history, full.history, rtol=1e-4, atol=1e-5)
    assert rest.extractor.key == full.extractor.key or np.allclose(
        rest.extractor.net.top[0][0].weight.detach(), full.extractor.net.top[0][0].weight.detach(), atol=1e-5)


def test_fine_tuning_starts_from_user_imagenet_weights(tmp_path):
    from mammo_annotator.ml.features.nets import ARCHS

    torch.manual_seed(5)
    imagenet = ARCHS["resnet18"][0]()
    weights = tmp_path / "resnet18-imagenet.pth"
    torch.save(imagenet.state_dict(), weights)
    tr, work = cohort(3, 21)
    data = training_images(tr, lambda i: work[i])
    bcfg = BackboneConfig(arch="resnet18", layer="layer2")
    res = train_extractor(data, ExtractorTrainConfig(steps=2, **{**FAST, "batch": 6}), bcfg, patch=WINDOW,
                          imagenet_weights=weights)
    ext = res.extractor
    assert ext.name == "learned-supervised-resnet18-layer2" and ext.dim == 2 * 128
    assert ext.meta["start"].startswith("imagenet:")
    start = imagenet.conv1.weight.detach()
    tuned = ext.net.trunk[1].weight.detach()  # trunk[0] is the ImageNet input normalisation
    assert tuned.shape == start.shape and not torch.equal(tuned, start)
    assert torch.corrcoef(torch.stack([tuned.flatten(), start.flatten()]))[0, 1] > 0.99  # fine-tuned, not reset
    img, _ = work[str(tr.image_ids[0])]
    boxes = tr.boxes[tr.region_slice(0)]
    again = LearnedExtractor.from_bytes(ext.to_bytes())
    assert again.key == ext.key
    np.testing.assert_allclose(again.extract(img, boxes), ext.extract(img, boxes), rtol=1e-5, atol=1e-6)
    assert ext.extract(img, boxes).shape == (len(boxes), 256)
    with pytest.raises(ValueError, match="no feature layer"):
        BackboneConfig(arch="resnet18", layer="conv9")
    with pytest.raises(ValueError, match="ImageNet backbone"):
        train_extractor(data, ExtractorTrainConfig(steps=1, **FAST), BackboneConfig(), patch=WINDOW,
                        imagenet_weights=weights)


@pytest.mark.parametrize("arch,layer", [("resnet18", "layer3"), ("resnet50", "layer2"), ("vgg16", "conv3_3")])
def test_imagenet_backbones_have_the_stride_and_channels_their_config_says(arch, layer):
    from mammo_annotator.ml.features.learned import build_backbone

    cfg = BackboneConfig(arch=arch, layer=layer)
    net = build_backbone(cfg).eval()
    with torch.no_grad():
        out = net(torch.rand(1, 1, 64, 96))
        split = net.top(net.trunk(torch.rand(1, 1, 64, 96)))
    assert out.shape == (1, cfg.channels, 64 // cfg.stride, 96 // cfg.stride)
    assert split.shape == out.shape  # trunk + top is the whole network (what end-to-end fine-tunes)


@pytest.mark.parametrize("mode", ["supervised", "simclr"])
@pytest.mark.parametrize("arch", ["small", "efficientnet-lite0"])
def test_a_fine_tuning_step_keeps_to_the_device(mode, arch):
    """One step of `learn-features` (crops, augmentation, backbone, window and MIL terms, or the
    SimCLR loss), forward and backward, on the "meta" device: like a GPU it refuses host tensors
    and cannot branch on data without a round trip to the host."""
    from mammo_annotator.ml.features.learned_train import _Trainer

    ds, work = cohort(4, 3)
    data = training_images(ds.with_local_labels(ds.y_m == 1), lambda i: work[i])
    bcfg = BackboneConfig(widths=(8, 8, 16, 16)) if arch == "small" else BackboneConfig(arch=arch, layer="s57", pool="avg")
    meta = torch.device("meta")
    cfg = ExtractorTrainConfig(mode=mode, steps=2, batch=6, mil_images=2, bag=3, device="meta")
    trainer = _Trainer(data, cfg, bcfg, WINDOW, build_backbone(bcfg).train(), meta)
    loss = trainer.loss(0)
    loss.backward()
    assert loss.device == meta
    grads = [p.grad for p in [*trainer.net.parameters(), *trainer.aux.parameters()] if p.requires_grad]
    assert grads and all(g is not None and g.device == meta for g in grads)
