"""The viewer's breast mask is cached per image: the same mask as the segmenter's, computed once
(a later process shows the image without scipy), recomputed for another view or a damaged file."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from mammo_annotator.core.breast_mask import breast_mask
from mammo_annotator.core.synthetic import synthetic_mammogram
from mammo_annotator.services import mask_cache

SHA = "ab" + "0" * 62


def _pixels():
    return synthetic_mammogram(5, size=(400, 320), view="MLO", laterality="L").pixels


def test_the_cached_mask_is_the_segmenters_and_is_written_once(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    px = _pixels()
    expected = breast_mask(px, "MLO", "L")
    first = mask_cache.breast_mask_cached(SHA, px, "MLO", "L")
    path = mask_cache.mask_path(SHA, px.shape, "MLO", "L")
    assert path is not None and path.is_file() and path.stat().st_size < px.size // 4  # packed bits
    assert not list(path.parent.glob("*.tmp"))
    np.testing.assert_array_equal(first, expected)
    again = mask_cache.breast_mask_cached(SHA, px, "MLO", "L")
    assert again.dtype == bool and again.shape == px.shape
    np.testing.assert_array_equal(again, expected)
    # the key names the view: a CC reading of the same pixels is segmented on its own
    assert mask_cache.mask_path(SHA, px.shape, "CC", "L") != path
    np.testing.assert_array_equal(mask_cache.breast_mask_cached(SHA, px, "CC", "L"), breast_mask(px, "CC", "L"))


def test_a_damaged_cache_file_is_computed_again(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    px = _pixels()
    mask_cache.breast_mask_cached(SHA, px, "MLO", "L")
    path = mask_cache.mask_path(SHA, px.shape, "MLO", "L")
    path.write_bytes(b"not a numpy file")
    np.testing.assert_array_equal(mask_cache.breast_mask_cached(SHA, px, "MLO", "L"), breast_mask(px, "MLO", "L"))
    np.save(path, np.zeros(3, np.uint8))  # readable, but not this image's size
    np.testing.assert_array_equal(mask_cache.breast_mask_cached(SHA, px, "MLO", "L"), breast_mask(px, "MLO", "L"))
    assert np.load(path).size == (px.size + 7) // 8


def test_the_key_follows_the_segmenters_source():
    digest = mask_cache.segmenter_digest()
    assert len(digest) == 16
    import hashlib
    from pathlib import Path

    import mammo_annotator.core.breast_mask as segmenter

    assert hashlib.sha256(Path(segmenter.__file__).read_bytes()).hexdigest()[:16] == digest


def test_a_warm_cache_shows_the_mask_without_scipy(tmp_path):
    """In a fresh process the cached mask is read without importing the segmenter (nor scipy)."""
    px = _pixels()
    np.save(tmp_path / "px.npy", px)
    code = ("import sys, numpy as np\nfrom mammo_annotator.services.mask_cache import breast_mask_cached\n"
            f"m = breast_mask_cached({SHA!r}, np.load({str(tmp_path / 'px.npy')!r}), 'MLO', 'L')\n"
            "print(int(m.sum()), 'scipy' in sys.modules)\n")
    env = dict(os.environ, MAMMO_ANNOTATOR_CACHE=str(tmp_path / "cache"))
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
            for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr[-2000:] + runs[1].stderr[-2000:]
    (n1, cold), (n2, warm) = (r.stdout.split() for r in runs)
    assert n1 == n2 == str(int(breast_mask(px, "MLO", "L").sum())) and int(n1) > 0
    assert (cold, warm) == ("True", "False")
