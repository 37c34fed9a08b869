"""End-to-end mode: torch box pooling equals the extractor's numpy pooling; backbone top and
heads train together with the method's objective; the result is a new extractor whose cached
features reproduce the head's training inputs."""

import numpy as np
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
