"""core.breast_mask on synthetic truth, a synthetic full-field image, real mini-MIAS and the real DICOM."""

from __future__ import annotations


import numpy as np
import pytest

from mammo_annotator.core.breast_mask import breast_mask, chest_wall_side, infer_laterality, segment_breast
from mammo_annotator.core.imageio import read_image
from mammo_annotator.core.synthetic import synthetic_mammogram


def _iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


@pytest.mark.parametrize("view,lat", [("MLO", "L"), ("MLO", "R"), ("CC", "L"), ("CC", "R")])
def test_synthetic_truth(view, lat):
    case = synthetic_mammogram(11, view=view, laterality=lat, n_malignant=1)
    seg = segment_breast(case.pixels, view=view)
    assert _iou(seg.mask, case.breast_mask) > 0.93
    assert seg.chest_wall_side == ("left" if lat == "L" else "right")
    assert infer_laterality(case.pixels) == lat and chest_wall_side(case.pixels) == seg.chest_wall_side
    if view == "CC":
        assert seg.pectoral is None


def test_full_field_16_bit_zero_background():
    """Its speed is in benchmarks/bench_core.py (no timed assertions here: the machines are shared)."""
    case = synthetic_mammogram(3, size=(1024, 768), view="MLO", laterality="R")
    big = np.kron(case.pixels.astype(np.uint16) * 16, np.ones((4, 4), np.uint16))  # 4096 x 3072
    big[big < 16 * 150] = 0  # FFDM: background exactly 0
    big[100:260, 200:900] = 65000  # burned-in text block, away from the breast
    mask = breast_mask(big, view="MLO")
    assert mask.shape == big.shape and mask.dtype == bool
    assert not mask[100:260, 200:900].any()
    small = np.kron(case.breast_mask, np.ones((4, 4), bool))
    assert _iou(mask, small) > 0.9


def test_rejects_non_2d():
    with pytest.raises(ValueError):
        breast_mask(np.zeros((4, 4, 3)))


def _mias_lesions(info):
    out = {}
    for line in info.read_text(encoding="latin-1").splitlines():
        f = line.split()
        if len(f) == 7 and f[0].startswith("mdb") and f[4].isdigit():
            out.setdefault(f[0], []).append((int(f[4]), int(f[5]), int(f[6])))
    return out


def test_mini_mias_masks(mini_mias_dir):
    lesions = _mias_lesions(mini_mias_dir / "Info.txt")
    visible_pectoral = {"mdb005", "mdb012", "mdb028", "mdb092", "mdb209", "mdb264"}
    names = sorted(set(lesions) | visible_pectoral | {"mdb003", "mdb111", "mdb139", "mdb151", "mdb152"})
    for name in names:
        im = read_image(mini_mias_dir / f"{name}.png")
        h, w = im.pixels.shape
        num = int(name[3:])
        seg = segment_breast(im.pixels, view="MLO")
        m = seg.mask
        assert seg.chest_wall_side == ("right" if num % 2 else "left"), name
        for x, y, _ in lesions.get(name, []):
            assert m[h - y, x], f"{name}: lesion centre ({x}, {h - y}) outside the mask"
        far = 0 if num % 2 else w - 1  # the nipple-side corners are background
        assert not m[0, far] and not m[h - 1, far], name
        assert 0.08 < m.mean() < 0.95, name
        if name in visible_pectoral:
            cols = np.flatnonzero(m[h // 2])
            wall = cols[-1] if num % 2 else cols[0]
            x = wall - 20 if num % 2 else wall + 20
            assert seg.pectoral is not None and not m[10, x], f"{name}: pectoral corner kept"
        if name == "mdb003":  # film label "JM" at the upper left
            assert not m[0:60, 150:260].any()


def test_real_dicom_mask(real_dicom_path):
    im = read_image(real_dicom_path)
    seg = segment_breast(im.pixels, im.meta.view, im.meta.laterality)
    m = seg.mask
    assert seg.chest_wall_side == "left" and seg.pectoral is not None
    assert not m[50:400, 50:400].any()  # upper chest-wall corner: pectoral
    assert m[1800:1900, 900:1000].all()  # the mass
    assert m[3500, 100]  # lower breast at the chest wall
    assert not m[200:700, 2300:2900].any()  # "L MLO" marker
    assert not m[1600:2600, 2750:2950].any()  # black redaction box
    assert not m[-40:, 1500:].any()  # bright film edge at the bottom
