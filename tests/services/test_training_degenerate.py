"""Training and evaluation on degenerate but possible projects: a clear error that names the
reason, never a NaN result or a version trained on nothing, and a damaged feature cache is
computed again instead of stopping the training."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from mammo_annotator.core.types import GridSpec, WeakLabel
from mammo_annotator.services.datasets import NoTrainingDataError
from mammo_annotator.services.evaluation import EvaluationError, EvaluationRequest, run_evaluation
from mammo_annotator.services.features import (DamagedFeaturesError, damaged_features, ensure_features,
                                               set_project_extractor)
from mammo_annotator.services.model_history import list_versions
from mammo_annotator.services.project import open_project
from mammo_annotator.services.training import TrainingRequest, run_training
from mammo_annotator.store import regions as region_store
from mammo_annotator.store.schema import FeatureRow
from tests.helpers import add_blank_image


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    p = open_project(tmp_path / "p.sqlite", create=True)
    yield p
    p.close()


def _blank_project(project, weaks, seed: int = 0) -> list[int]:
    """Images without pixels (one patient each) whose hand-crafted features are cached at random."""
    ext = set_project_extractor(project, "handcrafted")
    rng = np.random.default_rng(seed)
    ids = []
    for k, weak in enumerate(weaks):
        image_id = add_blank_image(project, f"P{k}", size=(448, 448), weak=weak, sha=f"{k:064d}")
        with project.session() as s:
            grid = region_store.grid_id_for(s, image_id)
            n = len(region_store.region_set(s, grid).boxes)
            shift = weak.y_m or 0
            region_store.put_features(s, grid, ext.key, rng.standard_normal((n, ext.dim)).astype(np.float32) + shift)
        ids.append(image_id)
    return ids


def test_no_label_anywhere_is_refused_and_stores_nothing(project):
    _blank_project(project, [WeakLabel(None, None)] * 6)
    with pytest.raises(NoTrainingDataError, match="has a weak label .* or a malignant contour, so there is nothing"):
        run_training(project, TrainingRequest(epochs=2, num_threads=1))
    assert list_versions(project) == []


def test_labels_removed_before_a_warm_retrain_are_refused_and_keep_the_active_version(project):
    from mammo_annotator.store import images as image_store

    ids = _blank_project(project, [WeakLabel(k % 2, 0) for k in range(6)])
    first = run_training(project, TrainingRequest(epochs=2, num_threads=1))
    assert first.activated
    with project.session() as s:
        for image_id in ids:
            image_store.set_weak_label(s, image_id, WeakLabel(None, None), "test")
    with pytest.raises(NoTrainingDataError, match="nothing to train on"):
        run_training(project, TrainingRequest(epochs=2, warm_start=True, num_threads=1))
    assert [(v.id, v.is_active) for v in list_versions(project)] == [(first.version_id, True)]


def test_a_one_class_validation_set_stores_no_nan_auroc_and_says_why(project):
    _blank_project(project, [WeakLabel(1, 0)] * 8)  # every image malignant
    out = run_training(project, TrainingRequest(epochs=2, num_threads=1))
    assert out.state == "done" and out.metrics["n_val_images"] > 0
    assert all(not isinstance(v, float) or np.isfinite(v) for v in out.metrics.values())
    assert "val_M_vs_BN/auroc" not in out.metrics and "val_loss" in out.metrics
    assert "validation AUROC not measured for M_vs_BN" in out.message and "0 non-malignant" in out.message
    (version,) = list_versions(project)
    assert all(not isinstance(v, float) or np.isfinite(v) for v in version.metrics.values())


def test_evaluating_a_one_class_project_is_refused_before_any_training(project, tmp_path):
    _blank_project(project, [WeakLabel(1, 0)] * 6)
    out = tmp_path / "report"
    with pytest.raises(EvaluationError, match=r"no AUROC can be measured on its images: of 6 images, 6 are malignant "
                                              r"and 0 not \(M vs BN\), 6 abnormal and 0 normal"):
        run_evaluation(project, EvaluationRequest(out_dir=out, folds=2, epochs=2, methods=["cls_det_rs"],
                                                  extractor="handcrafted"))
    assert not out.exists()


def test_a_damaged_cache_whose_pixels_are_gone_names_the_image_and_stores_nothing(project):
    ids = _blank_project(project, [WeakLabel(k % 2, 0) for k in range(6)])
    ext = set_project_extractor(project, "handcrafted")
    with project.session() as s:
        grid = region_store.grid_id_for(s, ids[2])
        feats = region_store.get_features(s, grid, ext.key)
        feats[0, 0] = np.nan
        region_store.put_features(s, grid, ext.key, feats)
    assert damaged_features(project, ext) == [(ids[2], grid, "NaN or infinite feature values")]
    with pytest.raises(DamagedFeaturesError, match=rf"image {ids[2]} \(NaN or infinite feature values; .*disappeared"):
        run_training(project, TrainingRequest(epochs=2, num_threads=1))
    assert list_versions(project) == []


@pytest.mark.parametrize("damage", ["nan", "dim", "bytes"])
def test_a_damaged_cache_is_computed_again_and_the_training_goes_on(project, damage):
    from mammo_annotator.services.synthetic_source import import_synthetic

    project.set_grid_spec(GridSpec(size_mm=22.4, stride_mm=11.2))
    ext = set_project_extractor(project, "handcrafted")
    import_synthetic(project, n_patients=2, seed=3, size=(256, 224), views=("CC",))
    ensure_features(project, ext)
    with project.session() as s:
        grid = region_store.grids_of_image(s, 1)[0]
        good = region_store.get_features(s, grid, ext.key)
        bad = good.copy()
        bad[0, 0] = np.inf
        region_store.put_features(s, grid, ext.key, bad if damage == "nan" else good[:, :3])
        if damage == "bytes":  # the row's bytes cut short: they no longer make its (n, dim) matrix
            region_store.put_features(s, grid, ext.key, good)
            row = s.scalars(select(FeatureRow).where(FeatureRow.grid_id == grid, FeatureRow.extractor_key == ext.key)).one()
            row.data = row.data[:-8]
    out = run_training(project, TrainingRequest(epochs=2, num_threads=1))
    assert out.state in ("done", "worse") and out.version_id is not None
    assert damaged_features(project, ext) == []
    with project.session() as s:
        np.testing.assert_allclose(region_store.get_features(s, grid, ext.key), good, rtol=1e-5)


def test_a_damaged_augmented_view_is_computed_again_too(project):
    """The repair covered the plain features only: a damaged mirrored-view matrix still stopped
    the training with a plain ValueError."""
    from mammo_annotator.services.features import view_key
    from mammo_annotator.services.synthetic_source import import_synthetic

    project.set_grid_spec(GridSpec(size_mm=22.4, stride_mm=11.2))
    ext = set_project_extractor(project, "handcrafted")
    import_synthetic(project, n_patients=2, seed=3, size=(256, 224), views=("CC",))
    ensure_features(project, ext)
    ensure_features(project, ext, view="flip_lr")
    key = view_key(ext.key, "flip_lr")
    with project.session() as s:
        grid = region_store.grids_of_image(s, 1)[0]
        good = region_store.get_features(s, grid, key)
        bad = good.copy()
        bad[0, 0] = np.nan
        region_store.put_features(s, grid, key, bad)
    out = run_training(project, TrainingRequest(epochs=2, num_threads=1, augment=("flip_lr",)))
    assert out.state in ("done", "worse") and out.version_id is not None
    assert damaged_features(project, ext, view="flip_lr") == []
