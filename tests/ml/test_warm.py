"""The warm retrain: which images changed since the model, and the changed images in every batch."""

from __future__ import annotations

import dataclasses

import numpy as np

from mammo_annotator.ml.cv import select_local
from mammo_annotator.ml.model import method
from mammo_annotator.ml.scoring import score
from mammo_annotator.ml.simulate import sim_for_size
from mammo_annotator.ml.train import WARM_START, TrainConfig, train
from mammo_annotator.ml.warm import MAX_FOCUS, changed_images, warm_config
from tests.ml.helpers import tiny_dataset


def test_label_digests_change_with_the_labels_only():
    ds = tiny_dataset(labels=True)
    d0 = ds.label_digests()
    assert set(d0) == {"img0", "img1", "img2"} and ds.label_digests() == d0
    assert dataclasses.replace(ds, features=ds.features + 1).label_digests() == d0  # features are not labels
    unlabelled = ds.without_local_labels().label_digests()
    assert [k for k in d0 if d0[k] != unlabelled[k]] == ["img0"]  # the contour of img0 went
    y_m = ds.y_m.copy()
    y_m[1] = np.nan
    weak = dataclasses.replace(ds, y_m=y_m).label_digests()
    assert [k for k in d0 if d0[k] != weak[k]] == ["img1"]
    labels = ds.region_labels.copy()
    labels[ds.region_slice(0)][1] = 1  # another region of img0 becomes malignant
    assert dataclasses.replace(ds, region_labels=labels).label_digests()["img0"] != d0["img0"]


def test_changed_images_since_the_model():
    ds = sim_for_size(120, regions=20, dim=8, seed=3)
    start = select_local(ds, 0.5, 0)
    model = train(start, method("ss_cls_det_rs"), TrainConfig(epochs=2, batch_size=32)).model
    assert len(changed_images(start, model)) == 0
    pending = np.flatnonzero((ds.y_m == 1) & ~start.has_local)[:3]
    keep = start.has_local.copy()
    keep[pending] = True
    assert sorted(changed_images(ds.with_local_labels(keep), model)) == sorted(pending)
    assert len(changed_images(ds.with_local_labels(keep), model, limit=2)) == 0  # too many: no focus
    model.train_summary.pop("label_digests")
    assert len(changed_images(ds.with_local_labels(keep), model)) == 0  # an older model file: no focus
    assert MAX_FOCUS >= 1


def test_warm_config_scales_with_the_project():
    assert warm_config(11).epochs == 1 and warm_config(60).epochs == 7 and warm_config(3).epochs == 1
    assert warm_config(60, seed=4).seed == 4 and warm_config(60).lr == WARM_START.lr


def _m_regions_score(model, ds, i):
    sc = score(model, ds.subset([i]))
    lab = ds.region_labels[ds.region_slice(i)]
    return float(sc.p_cls[lab == 1, 2].mean())


def test_focus_takes_a_new_contour_in():
    ds = sim_for_size(600, regions=40, dim=16, seed=5)
    start = select_local(ds, 0.3, 0)
    ss = method("ss_cls_det_rs")
    base = train(start, ss, TrainConfig(epochs=4, batch_size=64)).model
    new = np.flatnonzero((ds.y_m == 1) & ~start.has_local)[:2]
    keep = start.has_local.copy()
    keep[new] = True
    data = ds.with_local_labels(keep)
    warm = dataclasses.replace(WARM_START, batch_size=32)  # an epoch of ~20 steps, as on a 3,000-image project
    plain = train(data, ss, warm, init=base).model
    focused = train(data, ss, warm, init=base, focus=changed_images(data, base)).model
    for i in new:
        before = _m_regions_score(base, data, i)
        assert _m_regions_score(focused, data, i) > max(before, _m_regions_score(plain, data, i)) + 0.05


def test_a_validation_image_never_joins_a_batch():
    ds = sim_for_size(200, regions=20, dim=8, seed=6)
    cfg = TrainConfig(epochs=2, batch_size=32, val_fraction=0.25)
    from mammo_annotator.ml.train import patient_split

    _, val = patient_split(ds, cfg.val_fraction, cfg.seed)
    a = train(ds, method("cls_det_rs"), cfg).model
    b = train(ds, method("cls_det_rs"), cfg, focus=val[:3]).model
    for x, y in zip(a.head.state_dict().values(), b.head.state_dict().values()):
        assert np.array_equal(x.numpy(), y.numpy())
