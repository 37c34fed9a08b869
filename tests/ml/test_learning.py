"""The model must really learn on synthetic region features with a known answer."""

import numpy as np
import pytest

from mammo_annotator.ml.cv import select_local
from mammo_annotator.ml.metrics import auroc
from mammo_annotator.ml.model import method
from mammo_annotator.ml.scoring import score
from mammo_annotator.ml.simulate import SimSpec, simulate_regions
from mammo_annotator.ml.train import TrainConfig, train

TC = TrainConfig(epochs=40, lr=1e-2, batch_size=64)


def top1_hits(ds, sc) -> float:
    """Fraction of malignant images whose top region by d_M is a labelled-M region."""
    hits = [ds.region_labels[ds.region_slice(i)][np.argmax(sc.d[ds.region_slice(i), 1])] == 1
            for i in np.flatnonzero(ds.y_m == 1)]
    return float(np.mean(hits))


def test_weak_model_learns_and_localises():
    spec = SimSpec(n_patients=100, regions=(40, 60), dim=32)
    tr, te = simulate_regions(spec, seed=1), simulate_regions(spec, seed=2)
    res = train(tr.without_local_labels(), method("cls_det_rs"), TC)
    sc = score(res.model, te)
    assert auroc(te.y_m, sc.p_m) > 0.85
    assert auroc(te.y_b, sc.p_b) > 0.8
    assert top1_hits(te, sc) > 0.7  # chance is about 3 / 50


def test_semi_supervised_beats_weak_when_weak_labels_are_ambiguous():
    # decoy windows in every image point along a direction close to the malignant one
    spec = SimSpec(n_patients=100, regions=(40, 60), dim=32, decoys=3, signal_m=3, signal_b=3, decoy_cos=0.8)
    tr, te = simulate_regions(spec, seed=1), simulate_regions(spec, seed=2)
    weak = score(train(select_local(tr, None, 0), method("cls_det_rs"), TC).model, te)
    semi = score(train(select_local(tr, 0.5, 0), method("ss_cls_det_rs"), TC).model, te)
    assert auroc(te.y_m, semi.p_m) > auroc(te.y_m, weak.p_m) + 0.05
    assert top1_hits(te, semi) > top1_hits(te, weak) + 0.2


@pytest.mark.parametrize("name", ["max_region", "db_baseline", "cls_det", "ss_baseline_rs"])
def test_baselines_learn(name):
    spec = SimSpec(n_patients=60, regions=(30, 40), dim=16)
    tr, te = simulate_regions(spec, seed=4), simulate_regions(spec, seed=5)
    sc = score(train(select_local(tr, 1.0, 0) if "ss" in name else tr, method(name), TC).model, te)
    assert auroc(te.y_b, sc.p_b) > 0.75
