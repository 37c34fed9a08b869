"""The pixel-keeping synthetic cohort: windows, labels and work images belong together."""

import numpy as np

from mammo_annotator.core.types import LesionClass
from mammo_annotator.ml.dataset import REGION_M
from mammo_annotator.ml.features import build_extractor
from mammo_annotator.ml.synthetic_cohort import ORIGINS_KEY, labelled_cohort


def test_windows_labels_and_work_images_belong_together():
    ds, work = labelled_cohort(6, seed=5, size=(256, 224), window=48)
    assert ds.feature_key == ORIGINS_KEY and set(ds.view) == {"MLO"}
    assert sorted(work) == sorted(str(i) for i in ds.image_ids)
    np.testing.assert_array_equal(ds.features, ds.boxes[:, :2])
    assert np.all(ds.boxes[:, 2] - ds.boxes[:, 0] == 48)
    for k in range(len(ds)):
        img, factor = work[str(ds.image_ids[k])]
        assert factor == 1 and img.shape == (256, 224)
        labels = ds.region_labels[ds.region_slice(k)]
        # an image has malignant windows exactly when it holds a malignant lesion
        assert (labels == REGION_M).any() == any(les.cls == LesionClass.MALIGNANT for les in ds.lesions[k])
    assert (ds.y_m == 1).any() and (ds.y_m == 0).any()


def test_features_come_from_the_extractor_when_given():
    ext = build_extractor("handcrafted", default_factor=1)
    ds, _ = labelled_cohort(2, seed=1, size=(256, 224), window=48, views=("CC", "MLO"), extractor=ext)
    assert ds.feature_key == ext.key and ds.dim == ext.dim and set(ds.view) == {"CC", "MLO"}
