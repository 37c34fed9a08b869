import numpy as np
import pytest

from mammo_annotator.ml.dataset import ImageRecord, RegionDataset, concat_datasets
from tests.ml.helpers import tiny_dataset


def test_pack_pads_and_masks():
    ds = tiny_dataset(labels=True)
    p = ds.pack()
    assert p.m_max == 5 and p.n == 3
    assert p.valid.sum(1).tolist() == [3, 5, 2]
    assert p.region_labels[0, :3].tolist() == [1, 0, -1]
    assert (p.region_labels[1:] == -1).all()  # images without local labels / padding
    assert p.has_local.tolist() == [True, False, False]
    np.testing.assert_array_equal(p.x.numpy(), ds.features)


def test_batch_gathers_images_in_order():
    ds = tiny_dataset(labels=True)
    b = ds.pack().batch(np.array([2, 0]))
    assert b.counts.tolist() == [2, 3] and b.m_max == 3
    np.testing.assert_array_equal(b.x.numpy(), np.concatenate([ds.features[8:10], ds.features[0:3]]))
    assert b.region_labels[1].tolist() == [1, 0, -1]


def test_subset_and_record_roundtrip():
    ds = tiny_dataset(labels=True)
    sub = ds.subset([2, 0])
    assert sub.image_ids.tolist() == ["img2", "img0"]
    rec = sub[1]
    np.testing.assert_array_equal(rec.features, ds[0].features)
    assert rec.region_labels.tolist() == [1, 0, -1] and sub[0].region_labels is None
    assert len(concat_datasets([ds, sub])) == 5


def test_local_label_masking():
    ds = tiny_dataset(labels=True)
    assert ds.without_local_labels().has_local.sum() == 0
    assert (ds.without_local_labels().region_labels == -1).all()
    assert ds.region_labels[0] == 1  # original untouched


def test_validation_errors():
    f = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="boxes"):
        RegionDataset.from_records([ImageRecord(f, np.zeros((3, 4)), 1.0, 0.0)])
    with pytest.raises(ValueError, match="NaN"):
        RegionDataset.from_records([ImageRecord(f * np.nan, np.zeros((2, 4)), 1.0, 0.0)])
    with pytest.raises(ValueError, match="without regions"):
        RegionDataset.from_records([ImageRecord(np.zeros((0, 3), np.float32), np.zeros((0, 4)), 1.0, 0.0)])
    ds = RegionDataset.from_records([ImageRecord(f, np.zeros((2, 4)), float("nan"), 0.0)])
    assert ds.class_names().tolist() == ["?"]
