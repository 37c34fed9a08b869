import numpy as np
import pytest
import torch
from torch import nn

from mammo_annotator.core.regions import grid_boxes
from mammo_annotator.ml.features import DEFAULT_EXTRACTOR, available_extractors, build_extractor
from mammo_annotator.ml.features.base import box_maxima, box_means, scale_boxes
from mammo_annotator.ml.features.cnn import WeightsError
from mammo_annotator.ml.features.nets import ARCHS


def _image(h=480, w=384, seed=0):
    rng = np.random.default_rng(seed)
    from scipy import ndimage

    img = ndimage.gaussian_filter(rng.normal(0, 1, (h, w)), 4) * 300 + 2000
    img[200:230, 150:180] += 800  # a bright blob
    return img.astype(np.float32)


def test_box_pooling_matches_loops():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(2, 40, 30))
    cells = np.array([[0, 0, 10, 10], [5, 7, 15, 17], [20, 30, 30, 40], [3, 2, 9, 5]])
    mu, mx = box_means(maps, cells), box_maxima(maps, cells)
    for i, (x0, y0, x1, y1) in enumerate(cells):
        np.testing.assert_allclose(mu[i], maps[:, y0:y1, x0:x1].mean(axis=(1, 2)))
        np.testing.assert_allclose(mx[i], maps[:, y0:y1, x0:x1].max(axis=(1, 2)))
    assert scale_boxes(np.array([[0, 0, 224, 224]]), 32, (10, 10)).tolist() == [[0, 0, 7, 7]]


def test_handcrafted_stays_available_and_sensible():
    assert DEFAULT_EXTRACTOR == "efficientnet-lite1" and {"torchscript", "handcrafted"} <= set(available_extractors())
    ext = build_extractor("handcrafted")
    img = _image()
    boxes = grid_boxes(*img.shape, 64, 32)
    f = ext.extract(img, boxes, pixel_spacing_mm=0.1)
    assert f.shape == (len(boxes), ext.dim) and f.dtype == np.float32 and np.isfinite(f).all()
    assert ext.key.startswith("handcrafted") and ext.key.endswith(":1")
    blob = np.flatnonzero((boxes[:, 0] <= 150) & (boxes[:, 2] >= 180) & (boxes[:, 1] <= 200) & (boxes[:, 3] >= 230))
    assert f[blob, 0].mean() > f[:, 0].mean()  # intensity mean sees the blob
    np.testing.assert_allclose(f[:, -10:].sum(1), 1, atol=1e-5)  # LBP histogram


def test_random_cnn_never_implicit_and_dense_agrees_with_crops():
    with pytest.raises(WeightsError, match="no weights"):
        build_extractor("resnet18")
    ext = build_extractor("resnet18", random_init=True, layer="layer3", downsample=2)
    img = _image()
    boxes = grid_boxes(*img.shape, 128, 64)
    dense, crops = ext.extract(img, boxes), ext.extract_crops(img, boxes)
    assert dense.shape == crops.shape == (len(boxes), 256)
    assert np.corrcoef(dense.ravel(), crops.ravel())[0, 1] > 0.8


def test_torchvision_weights_strict_keys(tmp_path):
    model = ARCHS["resnet18"][0]()
    good = tmp_path / "r18.pth"
    torch.save(model.state_dict(), good)
    ext = build_extractor("resnet18", weights=good, layer="layer2")
    assert ext.dim == 128 and "-w" in ext.key
    bad = tmp_path / "bad.pth"
    sd = model.state_dict()
    sd["layer9.weight"] = torch.zeros(1)
    torch.save(sd, bad)
    with pytest.raises(WeightsError, match="bad.pth.*unexpected"):
        build_extractor("resnet18", weights=bad)
    with pytest.raises(WeightsError, match="not found"):
        build_extractor("vgg16", weights=tmp_path / "nope.pth")
    vgg_keys = list(ARCHS["vgg16"][0]().state_dict())
    assert "features.28.weight" in vgg_keys and "classifier.6.weight" in vgg_keys


def test_torchscript_extractor(tmp_path):
    net = nn.Sequential(nn.Conv2d(1, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 6, 3, 2, 1))
    path = tmp_path / "net.pt"
    torch.jit.script(net).save(str(path))
    ext = build_extractor("torchscript", path=path, pool="avgmax")
    assert ext.stride == 4 and ext.dim == 12
    img = _image(256, 256)
    f = ext.extract(img, grid_boxes(256, 256, 64, 32))
    assert f.shape == (49, 12) and np.isfinite(f).all()
    with pytest.raises(WeightsError, match="TorchScript"):
        (tmp_path / "junk.pt").write_bytes(b"junk")
        build_extractor("torchscript", path=tmp_path / "junk.pt")


def test_work_scale_factors_follow_the_spacing_and_stay_within_the_budget(monkeypatch):
    from mammo_annotator.ml.features import base
    from mammo_annotator.ml.features.backbones import BackboneConfig, SmallConvNet
    from mammo_annotator.ml.features.learned import LearnedExtractor

    assert base.spacing_factor(0.05, 0.2, 1) == 4 and base.spacing_factor(0.3, 0.2, 1) == 1
    for unknown in (None, float("inf"), float("nan"), 0.0, -1.0):
        assert base.spacing_factor(unknown, 0.2, 3) == 3
    side = int(base.MAX_WORK_PIXELS ** 0.5)
    assert base.within_work_budget(1, (side, side)) == 1
    assert base.within_work_budget(1, (side + 1, side)) == 2 and base.within_work_budget(3, (side + 1, side)) == 3
    # a film scan of unknown spacing over the budget: every whole-pixel extractor works on a smaller image
    monkeypatch.setattr(base, "MAX_WORK_PIXELS", 64 * 64)
    img = np.random.default_rng(0).integers(0, 4000, (300, 200)).astype(np.uint16)
    boxes = np.array([[0, 0, 100, 100], [100, 150, 200, 250]])
    cfg = BackboneConfig(widths=(8, 8, 16, 16))
    learned = LearnedExtractor(SmallConvNet(cfg), cfg, "supervised", device="cpu")
    work, f = learned.work_image(img, None)
    assert f == 4 and work.shape == (75, 50)
    assert learned.extract(img, boxes).shape == (2, learned.dim)
    hand, hand4 = build_extractor("handcrafted", default_factor=1), build_extractor("handcrafted", default_factor=4)
    np.testing.assert_array_equal(hand.extract(img, boxes), hand4.extract(img, boxes))


def test_extractor_settings_that_cannot_build_say_why():
    from mammo_annotator.core.errors import MammoError
    from mammo_annotator.ml.features.registry import ExtractorSettingsError

    for name, options, said in [("nope", {}, "unknown feature extractor 'nope'; known: efficientnet-lite0"),
                                ("efficientnet-lite0", {"pool": "median"}, "pool must be one of"),
                                ("efficientnet-lite0", {"target_spacing_mm": float("nan")}, "target_spacing_mm must be"),
                                ("handcrafted", {"colour": 1}, "unexpected keyword argument 'colour'"),
                                ("handcrafted", {"default_factor": 0}, "default_factor a whole number")]:
        with pytest.raises(ExtractorSettingsError, match=said) as info:
            build_extractor(name, **options)
        assert isinstance(info.value, MammoError) and isinstance(info.value, ValueError)
    with pytest.raises(WeightsError):  # a missing weights file keeps its own message
        build_extractor("resnet18")
