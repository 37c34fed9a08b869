import numpy as np
import pytest
import torch

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


# ---------------------------------------------------------------- the data contract by hand
# Small datasets written out by hand; every expected value below is worked out from the inputs,
# not read back from the module.

NAN = float("nan")


def _rec(n_regions, y_m, y_b, labels=None, image_id="", patient="", dim=2, start=0.0, **kw):
    """An image of ``n_regions`` regions whose feature rows are start, start+1, ... (easy to trace)."""
    feats = (start + np.arange(n_regions * dim, dtype=np.float64).reshape(n_regions, dim) / dim).astype(np.float32)
    boxes = [[10 * j, 0, 10 * j + 10, 10] for j in range(n_regions)]
    return ImageRecord(feats, np.array(boxes), y_m, y_b, None if labels is None else np.array(labels),
                       patient_id=patient, image_id=image_id, **kw)


def test_class_names_cover_every_weak_label():
    # method section 1: normal (0, 0), benign (0, 1), malignant (1, 0), malignant + benign (1, 1);
    # a malignant image with unknown benign findings is still M; anything else unknown is '?'
    pairs = [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0), (1.0, NAN), (0.0, NAN), (NAN, 0.0), (NAN, 1.0), (NAN, NAN)]
    ds = RegionDataset.from_records([_rec(1, m, b, image_id=f"i{k}") for k, (m, b) in enumerate(pairs)])
    assert ds.class_names().tolist() == ["N", "B", "M", "MB", "M", "?", "?", "?", "?"]


def test_from_records_stores_weak_labels_and_unknown_y_b_as_nan():
    ds = RegionDataset.from_records([_rec(2, 1.0, NAN, image_id="a"), _rec(1, 0.0, 1.0, image_id="b"),
                                     _rec(3, NAN, 0.0, image_id="c")])
    assert ds.y_m.dtype == np.float32 and ds.y_b.dtype == np.float32
    np.testing.assert_array_equal(ds.y_m, [1, 0, np.nan])
    np.testing.assert_array_equal(ds.y_b, [np.nan, 1, 0])
    p = ds.pack()
    np.testing.assert_array_equal(p.y_m.numpy(), [1, 0, np.nan])
    np.testing.assert_array_equal(p.y_b.numpy(), [np.nan, 1, 0])
    # the unknown y_B of image 0 is masked out of the objective: the weak B term only sees images 1, 2
    assert (~torch.isnan(p.y_b)).tolist() == [False, True, True]


def test_from_records_flat_layout_and_defaults():
    recs = [_rec(2, 1.0, 0.0, labels=[1, 0], patient="p"),
            ImageRecord(np.array([[7.0, 8.0]]), [(1, 2, 3, 4)], 0.0, 0.0, image_id="named", laterality="R", view="MLO"),
            _rec(3, 0.0, 1.0, start=100.0, image_id="z")]
    ds = RegionDataset.from_records(recs, feature_key="k:1")
    assert len(ds) == 3 and ds.dim == 2 and ds.feature_key == "k:1"
    assert ds.offsets.tolist() == [0, 2, 3, 6] and ds.n_regions.tolist() == [2, 1, 3]
    assert ds.region_slice(2) == slice(3, 6)
    assert ds.features.dtype == np.float32 and ds.features.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(ds.features[2], [7, 8])
    np.testing.assert_array_equal(ds.features[3], [100, 100.5])
    np.testing.assert_array_equal(ds.boxes[2], [1, 2, 3, 4])  # a list of tuples becomes one (4,) row
    assert ds.boxes.shape == (6, 4)
    # region labels: the given ones, -1 for every region of an image without local annotation
    assert ds.region_labels.tolist() == [1, 0, -1, -1, -1, -1] and ds.region_labels.dtype == np.int8
    assert ds.has_local.tolist() == [True, False, False]
    assert ds.image_ids.tolist() == ["0", "named", "z"]  # an empty id becomes the image's index
    assert ds.patient_ids.tolist() == ["p", "", ""]
    assert ds.laterality.tolist() == ["", "R", ""] and ds.view.tolist() == ["", "MLO", ""]
    assert ds.lesions == [(), (), ()]


def test_getitem_returns_the_image_back():
    ds = RegionDataset.from_records([_rec(2, 1.0, NAN, labels=[-1, 1], image_id="a", patient="p1",
                                          laterality="L", view="CC"),
                                     _rec(3, 0.0, 1.0, image_id="b", patient="p2", start=50.0)])
    a, b = ds[0], ds[1]
    assert a.y_m == 1.0 and np.isnan(a.y_b) and b.y_m == 0.0 and b.y_b == 1.0
    assert a.region_labels.tolist() == [-1, 1] and b.region_labels is None
    np.testing.assert_array_equal(b.features, [[50, 50.5], [51, 51.5], [52, 52.5]])
    np.testing.assert_array_equal(b.boxes[:, 0], [0, 10, 20])
    assert (a.patient_id, a.laterality, a.view, a.image_id) == ("p1", "L", "CC", "a")
    assert (b.patient_id, b.image_id, b.lesions) == ("p2", "b", ())
    with_lesion = RegionDataset.from_records([_rec(1, 1.0, 0.0, lesions=("L1", "L2"))])
    assert with_lesion[0].lesions == ("L1", "L2")


def test_validation_refuses_inconsistent_inputs():
    f = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="at least one image"):
        RegionDataset.from_records([])
    with pytest.raises(ValueError, match="feature dimension"):
        RegionDataset.from_records([ImageRecord(f, np.zeros((2, 4)), 1.0, 0.0),
                                    ImageRecord(np.zeros((2, 4), np.float32), np.zeros((2, 4)), 1.0, 0.0)])
    with pytest.raises(ValueError, match="shape"):
        RegionDataset.from_records([ImageRecord(f, np.zeros((2, 4)), 1.0, 0.0, region_labels=np.array([1, 0, 0]))])
    with pytest.raises(ValueError, match="region labels must be"):
        RegionDataset.from_records([ImageRecord(f, np.zeros((2, 4)), 1.0, 0.0, region_labels=np.array([1, 2]))])
    with pytest.raises(ValueError, match="NaN or infinite"):
        RegionDataset.from_records([ImageRecord(f + np.inf, np.zeros((2, 4)), 1.0, 0.0)])
    for y_m, y_b in [(0.5, 0.0), (2.0, 0.0), (-1.0, 0.0), (0.0, 0.5), (1.0, -1.0)]:
        with pytest.raises(ValueError, match="must be 0, 1 or NaN"):
            RegionDataset.from_records([ImageRecord(f, np.zeros((2, 4)), y_m, y_b)])
    # every legal combination passes, labels -1, 0 and 1 included
    RegionDataset.from_records([ImageRecord(f, np.zeros((2, 4)), m, b, region_labels=np.array(lab))
                                for m, b, lab in [(0.0, 1.0, [0, -1]), (1.0, NAN, [1, 0]), (NAN, 0.0, [-1, -1])]])


def test_validate_checks_the_offsets():
    ds = RegionDataset.from_records([_rec(2, 1.0, 0.0), _rec(1, 0.0, 0.0)])
    for bad in ([0, 2], [1, 2, 3], [0, 2, 2], [0, 2, 4]):
        ds.offsets = np.array(bad, dtype=np.int64)
        with pytest.raises(ValueError, match="offsets"):
            ds.validate()
    for bad in ([0, 0, 3], [0, 3, 3]):  # the right total, but an image without regions
        ds.offsets = np.array(bad, dtype=np.int64)
        with pytest.raises(ValueError, match="at least one region"):
            ds.validate()
    ds.offsets = np.array([0, 1, 3], dtype=np.int64)  # another split of the same 3 rows is consistent
    ds.validate()


def test_subset_keeps_each_image_whole_and_in_order():
    recs = [_rec(2, 1.0, 0.0, labels=[1, -1], image_id="a", start=0.0, lesions=("LA",)),
            _rec(1, 0.0, NAN, image_id="b", start=10.0),
            _rec(3, 0.0, 1.0, labels=[0, 0, 1], image_id="c", start=20.0, patient="pc", laterality="R", view="MLO")]
    ds = RegionDataset.from_records(recs, feature_key="fk")
    sub = ds.subset(np.array([2, 0, 2]))
    assert sub.offsets.tolist() == [0, 3, 5, 8]
    np.testing.assert_array_equal(sub.features[:, 0], [20, 21, 22, 0, 1, 20, 21, 22])
    np.testing.assert_array_equal(sub.boxes[:, 0], [0, 10, 20, 0, 10, 0, 10, 20])
    assert sub.region_labels.tolist() == [0, 0, 1, 1, -1, 0, 0, 1]
    assert sub.has_local.tolist() == [True, True, True]
    np.testing.assert_array_equal(sub.y_m, [0, 1, 0])
    np.testing.assert_array_equal(sub.y_b, [1, 0, 1])
    assert sub.image_ids.tolist() == ["c", "a", "c"] and sub.patient_ids.tolist() == ["pc", "", "pc"]
    assert sub.laterality.tolist() == ["R", "", "R"] and sub.view.tolist() == ["MLO", "", "MLO"]
    assert sub.lesions == [(), ("LA",), ()] and sub.feature_key == "fk"
    one = ds.subset([1])
    assert one.offsets.tolist() == [0, 1] and np.isnan(one.y_b[0]) and one.class_names().tolist() == ["?"]
    empty = ds.subset([])
    assert len(empty) == 0 and empty.features.shape == (0, 2) and empty.offsets.tolist() == [0]


def test_with_local_labels_keeps_only_the_chosen_images():
    ds = RegionDataset.from_records([_rec(2, 1.0, 0.0, labels=[1, 0]), _rec(1, 0.0, 0.0),
                                     _rec(3, 1.0, 1.0, labels=[0, 1, -1])])
    kept = ds.with_local_labels(np.array([False, True, True]))
    assert kept.region_labels.tolist() == [-1, -1, -1, 0, 1, -1] and kept.region_labels.dtype == np.int8
    assert kept.has_local.tolist() == [False, False, True]  # image 1 had no labels to keep
    assert ds.region_labels.tolist() == [1, 0, -1, 0, 1, -1] and ds.has_local.tolist() == [True, False, True]
    assert kept[0].region_labels is None and kept[2].region_labels.tolist() == [0, 1, -1]
    kept.lesions.append(("x",))
    assert len(ds.lesions) == 3  # the lesion list is not shared
    kept.has_local[2] = False
    assert ds.has_local[2]


def test_summary_counts_by_hand():
    recs = [_rec(2, 1.0, 0.0, labels=[1, 0], image_id="a", patient="p1"),
            _rec(3, 1.0, 1.0, labels=[1, 1, -1], image_id="b", patient="p1"),
            _rec(1, 0.0, 0.0, image_id="c", patient="p2"),
            _rec(2, 0.0, 1.0, image_id="d", patient="p3"),
            _rec(1, 1.0, NAN, image_id="e", patient="p3"),
            _rec(1, NAN, 0.0, image_id="f", patient="p4")]
    s = RegionDataset.from_records(recs, feature_key="fk:2").summary()
    assert s["n_images"] == 6 and s["n_regions"] == 10 and s["dim"] == 2 and s["n_patients"] == 4
    assert s["classes"] == {"N": 1, "B": 1, "M": 2, "MB": 1, "?": 1}
    assert s["n_local"] == 2 and s["n_region_labels"] == {"M": 3, "BN": 1}
    assert s["feature_key"] == "fk:2" and sorted(s["label_digests"]) == ["a", "b", "c", "d", "e", "f"]
    import json
    assert json.loads(json.dumps(s)) == s  # plain JSON


def test_label_digests_change_with_the_labels_of_their_own_image_only():
    def digests(*recs):
        return RegionDataset.from_records(list(recs)).label_digests()

    base = digests(_rec(2, 1.0, 0.0, labels=[1, 0], image_id="a"), _rec(1, 0.0, NAN, image_id="b"))
    assert base["a"] != base["b"]
    # the same labels, other features: the same digests (features are not labels)
    assert digests(_rec(2, 1.0, 0.0, labels=[1, 0], image_id="a", start=5.0),
                   _rec(1, 0.0, NAN, image_id="b", start=9.0)) == base
    for changed_a in ([0, 0], [1, -1]):  # a region label of a locally annotated image
        d = digests(_rec(2, 1.0, 0.0, labels=changed_a, image_id="a"), _rec(1, 0.0, NAN, image_id="b"))
        assert d["a"] != base["a"] and d["b"] == base["b"]
    d = digests(_rec(2, 1.0, 1.0, labels=[1, 0], image_id="a"), _rec(1, 0.0, NAN, image_id="b"))  # y_B of a
    assert d["a"] != base["a"] and d["b"] == base["b"]
    d = digests(_rec(2, 1.0, 0.0, labels=[1, 0], image_id="a"), _rec(1, 1.0, NAN, image_id="b"))  # y_M of b
    assert d["a"] == base["a"] and d["b"] != base["b"]
    d = digests(_rec(2, 1.0, 0.0, labels=[1, 0], image_id="a"), _rec(1, 0.0, 0.0, image_id="b"))  # y_B known
    assert d["b"] != base["b"]
    # y_M and y_B are not interchangeable
    assert digests(_rec(1, 1.0, 0.0, image_id="x"))["x"] != digests(_rec(1, 0.0, 1.0, image_id="x"))["x"]
    # dropping the local annotation changes the digest; an image never annotated is unaffected by the order
    plain = digests(_rec(2, 1.0, 0.0, image_id="a"), _rec(1, 0.0, NAN, image_id="b"))
    assert plain["a"] != base["a"] and plain["b"] == base["b"]
    ds = RegionDataset.from_records([_rec(2, 1.0, 0.0, labels=[1, 0], image_id="a"), _rec(1, 0.0, NAN, image_id="b")])
    assert ds.without_local_labels().label_digests() == plain
    # region labels of a later image do not leak into an earlier one's digest and vice versa
    two = digests(_rec(1, 1.0, 0.0, labels=[1], image_id="a"), _rec(2, 1.0, 0.0, labels=[1, 0], image_id="b"))
    two_b = digests(_rec(1, 1.0, 0.0, labels=[1], image_id="a"), _rec(2, 1.0, 0.0, labels=[0, 0], image_id="b"))
    assert two["a"] == two_b["a"] and two["b"] != two_b["b"]
    alone = digests(_rec(2, 1.0, 0.0, labels=[1, 0], image_id="b"))
    assert alone["b"] == two["b"]


def test_pack_positions_and_padding_by_hand():
    ds = RegionDataset.from_records([_rec(2, 1.0, 0.0, labels=[1, 0]), _rec(3, 0.0, NAN),
                                     _rec(1, NAN, 1.0, labels=[-1])])
    p = ds.pack()
    assert p.n == 3 and p.m_max == 3
    assert p.img.tolist() == [0, 0, 1, 1, 1, 2] and p.pos.tolist() == [0, 1, 0, 1, 2, 0]
    assert p.counts.tolist() == [2, 3, 1] and p.offsets.tolist() == [0, 2, 5, 6]
    assert p.valid.tolist() == [[True, True, False], [True, True, True], [True, False, False]]
    assert p.region_labels.tolist() == [[1, 0, -1], [-1, -1, -1], [-1, -1, -1]]
    assert p.has_local.tolist() == [True, False, True]
    assert p.x.dtype == torch.float32 and p.x.shape == (6, 2)
    # the pack owns its arrays
    p.offsets[0] = 99
    p.counts[0] = 99
    p.y_m[0] = 0.0
    assert ds.offsets[0] == 0 and ds.n_regions[0] == 2 and ds.y_m[0] == 1.0


def test_batch_by_hand():
    ds = RegionDataset.from_records([_rec(2, 1.0, 0.0, labels=[1, 0], start=0.0), _rec(3, 0.0, NAN, start=10.0),
                                     _rec(1, NAN, 1.0, labels=[-1], start=20.0)])
    b = ds.pack().batch(np.array([2, 0]))
    assert b.n == 2 and b.m_max == 2
    assert b.img.tolist() == [0, 1, 1] and b.pos.tolist() == [0, 0, 1]
    assert b.counts.tolist() == [1, 2] and b.offsets.tolist() == [0, 1, 3]
    assert b.valid.tolist() == [[True, False], [True, True]]
    assert b.region_labels.tolist() == [[-1, -1], [1, 0]]
    assert b.has_local.tolist() == [True, True]
    np.testing.assert_array_equal(b.y_m.numpy(), [np.nan, 1])
    np.testing.assert_array_equal(b.y_b.numpy(), [1, 0])
    np.testing.assert_array_equal(b.x[:, 0].numpy(), [20, 0, 1])
    b1 = ds.pack().batch(np.array([1]))
    assert b1.m_max == 3 and b1.pos.tolist() == [0, 1, 2] and b1.img.tolist() == [0, 0, 0]
    assert np.isnan(b1.y_b[0].item()) and b1.has_local.tolist() == [False]


def test_concat_datasets_by_hand():
    a = RegionDataset.from_records([_rec(2, 1.0, 0.0, labels=[1, 0], image_id="a", lesions=("LA",))], feature_key="f")
    b = RegionDataset.from_records([_rec(1, 0.0, NAN, image_id="b"), _rec(3, 0.0, 1.0, image_id="c", start=30.0)],
                                   feature_key="f")
    ab = concat_datasets([a, b])
    assert ab.offsets.tolist() == [0, 2, 3, 6] and ab.image_ids.tolist() == ["a", "b", "c"]
    assert ab.region_labels.tolist() == [1, 0, -1, -1, -1, -1] and ab.has_local.tolist() == [True, False, False]
    np.testing.assert_array_equal(ab.y_b, [0, np.nan, 1])
    assert ab.lesions == [("LA",), (), ()] and ab.feature_key == "f"
    np.testing.assert_array_equal(ab.features[3:, 0], [30, 31, 32])
    with pytest.raises(ValueError, match="extractors"):
        concat_datasets([a, RegionDataset.from_records([_rec(1, 0.0, 0.0)], feature_key="g")])
    with pytest.raises(ValueError, match="dimensions"):
        concat_datasets([a, RegionDataset.from_records([_rec(1, 0.0, 0.0, dim=3)], feature_key="f")])


def test_the_message_of_an_image_without_regions_names_it():
    f = np.zeros((1, 2), np.float32)
    recs = [ImageRecord(f, np.zeros((1, 4)), 0.0, 0.0, image_id="full"),
            ImageRecord(np.zeros((0, 2), np.float32), np.zeros((0, 4)), 0.0, 0.0, image_id="empty")]
    with pytest.raises(ValueError, match="without regions") as err:
        RegionDataset.from_records(recs)
    assert "empty" in str(err.value) and "full" not in str(err.value)


def test_validate_refuses_offsets_of_the_wrong_length_and_fills_lesions():
    ds = RegionDataset.from_records([_rec(2, 1.0, 0.0), _rec(1, 0.0, 0.0)])
    assert ds.feature_key == ""  # no extractor named
    for bad in ([0, 3], [0, 1, 2, 3]):  # right total, wrong number of images
        ds.offsets = np.array(bad, dtype=np.int64)
        with pytest.raises(ValueError, match="offsets"):
            ds.validate()
    raw = RegionDataset(features=ds.features, boxes=ds.boxes, offsets=np.array([0, 2, 3]), y_m=ds.y_m, y_b=ds.y_b,
                        region_labels=ds.region_labels, has_local=ds.has_local, patient_ids=ds.patient_ids,
                        laterality=ds.laterality, view=ds.view, image_ids=ds.image_ids)
    raw.validate()
    assert raw.lesions == [(), ()]


def test_derived_datasets_can_be_batched_again():
    ds = RegionDataset.from_records([_rec(2, 1.0, 0.0, start=0.0), _rec(1, 0.0, NAN, start=10.0),
                                     _rec(3, 0.0, 1.0, start=20.0)])
    for derived in (ds.subset([2, 0]), concat_datasets([ds, ds.subset([1])]), concat_datasets([ds])):
        assert derived.offsets.dtype.kind == "i"
        p = derived.pack()
        twice = p.batch(np.array([1, 0])).batch(np.array([0]))
        assert twice.offsets.dtype.kind == "i" and twice.counts.tolist() == [p.counts[1].item()]
        np.testing.assert_array_equal(twice.x.numpy(), p.x.numpy()[p.offsets[1]:p.offsets[2]])
    one = ds.subset(np.int64(1))  # a single index
    assert len(one) == 1 and one.offsets.tolist() == [0, 1]
    np.testing.assert_array_equal(one.features, [[10, 10.5]])
    np.testing.assert_array_equal(ds.subset([0]).features, [[0, 0.5], [1, 1.5]])


def test_concat_keeps_every_per_image_field():
    a = RegionDataset.from_records([_rec(2, 1.0, 0.0, image_id="a", patient="pa", laterality="L", view="CC")])
    b = RegionDataset.from_records([_rec(1, 0.0, 1.0, image_id="b", patient="pb", laterality="R", view="MLO",
                                         labels=[0])])
    ab = concat_datasets([a, b])
    assert ab.patient_ids.tolist() == ["pa", "pb"] and ab.laterality.tolist() == ["L", "R"]
    assert ab.view.tolist() == ["CC", "MLO"] and ab.has_local.tolist() == [False, True]
    np.testing.assert_array_equal(ab.boxes[:, 0], [0, 10, 0])
    assert ab[1].region_labels.tolist() == [0] and ab.feature_key == ""


def test_with_local_labels_takes_a_mask_of_integers_as_truth_values():
    ds = RegionDataset.from_records([_rec(2, 1.0, 0.0, labels=[1, 0]), _rec(1, 1.0, 0.0, labels=[1])])
    kept = ds.with_local_labels(np.array([0, 1]))
    assert (~kept.has_local).tolist() == [True, False]  # a boolean mask, so ~ is "not"
    assert kept.region_labels.tolist() == [-1, -1, 1]
    assert (~kept.pack().has_local).tolist() == [True, False]


def test_pack_and_batch_put_every_tensor_on_the_device():
    ds = RegionDataset.from_records([_rec(2, 1.0, 0.0, labels=[1, 0]), _rec(1, 0.0, NAN)])
    from mammo_annotator.ml.dataset import PackedData

    for p in (ds.pack("meta"), PackedData.from_dataset(ds, torch.device("meta"))):
        tensors = {k: v for k, v in vars(p).items() if isinstance(v, torch.Tensor)}
        assert len(tensors) == 9 and all(t.device.type == "meta" for t in tensors.values()), \
            {k: t.device for k, t in tensors.items()}
    cpu = PackedData.from_dataset(ds)  # the default device is the CPU
    assert cpu.x.device.type == "cpu" and cpu.region_labels.dtype == torch.int8
    b = ds.pack("meta").batch(np.array([1, 0]))
    assert all(t.device.type == "meta" for t in vars(b).values() if isinstance(t, torch.Tensor))
