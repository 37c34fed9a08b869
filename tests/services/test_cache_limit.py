"""The pixel and PACS caches stay under their size limit, least recently used out first, and an
image whose cached pixels went is decoded again from its file, unchanged."""

from __future__ import annotations

import logging
import os
import threading
import time

import numpy as np
import pytest
from PIL import Image

from mammo_annotator.core.synthetic import synthetic_mammogram
from mammo_annotator.services import cache_limit
from mammo_annotator.services.importing import import_items
from mammo_annotator.services.pixels import _cache_path, load_pixels
from mammo_annotator.services.project import open_project
from mammo_annotator.services.sources import items_from_paths
from mammo_annotator.store import images as image_store


@pytest.fixture(autouse=True)
def fresh_accounting(monkeypatch):
    monkeypatch.setattr(cache_limit, "_written_since_check", {})


def _file(path, nbytes: int, age_s: float):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * nbytes)
    t = time.time() - age_s
    os.utime(path, (t, t))
    return path


def test_prune_removes_the_least_recently_used_down_to_nine_tenths_and_spares_the_rest(tmp_path):
    root = tmp_path / "cache"
    old = [_file(root / "pixels" / "aa" / f"{i}.npy", 100, age_s=1000 - i) for i in range(6)]  # old[0] oldest
    pacs = _file(root / "pacs" / "bb" / "p.dcm", 100, age_s=995.5)  # between old[4] and old[5]
    kept = _file(root / "pixels" / "cc" / "kept.npy", 100, age_s=5000)  # the oldest, but just written
    tmp = _file(root / "pixels" / "aa" / "5.npy.123.tmp", 100, age_s=9000)  # being written
    masks = _file(root / "masks" / "dd" / "m.npy", 100, age_s=9000)
    server = _file(root / "servers" / "db" / "project" / "ext.pt", 100, age_s=9000)
    report = cache_limit.prune(root, limit=500)  # 8 files of 100 B counted; down to <= 450
    assert report.removed == 4 and report.freed == 400 and report.total == 400
    assert not kept.exists()  # the oldest, and nothing asked to keep it
    assert [p.exists() for p in old] == [False, False, False, True, True, True] and pacs.exists()

    kept = _file(root / "pixels" / "cc" / "kept.npy", 100, age_s=5000)
    report = cache_limit.prune(root, limit=300, keep=(kept,))  # 500 B, down to <= 270
    assert kept.exists() and report.removed == 3 and report.total == 200
    assert [p.exists() for p in old[3:]] == [False, False, True] and not pacs.exists()  # pacs: older than old[5]
    assert tmp.exists() and masks.exists() and server.exists()  # never counted, never removed

    assert cache_limit.prune(root, limit=10_000).removed == 0  # under the limit: nothing goes


def test_limit_from_the_environment(monkeypatch, caplog):
    monkeypatch.delenv(cache_limit.ENV_LIMIT, raising=False)
    assert cache_limit.limit_bytes() == 20 * 10 ** 9
    monkeypatch.setenv(cache_limit.ENV_LIMIT, "2.5")
    assert cache_limit.limit_bytes() == 2_500_000_000
    monkeypatch.setenv(cache_limit.ENV_LIMIT, " None ")
    assert cache_limit.limit_bytes() is None
    for bad in ("lots", "-1", "nan"):
        monkeypatch.setenv(cache_limit.ENV_LIMIT, bad)
        with caplog.at_level(logging.WARNING):
            assert cache_limit.limit_bytes() == 20 * 10 ** 9
        assert cache_limit.ENV_LIMIT in caplog.text and repr(bad) in caplog.text
        caplog.clear()


def test_the_folder_is_measured_first_and_then_every_half_gigabyte(tmp_path, monkeypatch):
    monkeypatch.setenv(cache_limit.ENV_LIMIT, "1")
    root, f = tmp_path / "c", tmp_path / "c" / "pixels" / "f.npy"
    first = cache_limit.note_written(root, 1000, keep=f)
    assert first is not None
    first.join(10)
    step = cache_limit.CHECK_EVERY_BYTES // 4
    assert [cache_limit.note_written(root, step, keep=f) for _ in range(3)] == [None, None, None]
    due = cache_limit.note_written(root, step, keep=f)  # the fourth quarter reaches it
    assert due is not None
    due.join(10)
    assert cache_limit.note_written(root, 10, keep=f) is None
    monkeypatch.setenv(cache_limit.ENV_LIMIT, "none")
    assert cache_limit.note_written(tmp_path / "other", 10, keep=f) is None  # no limit: never measured


def _join_prunes() -> None:
    for t in threading.enumerate():
        if t.name == "cache-prune":
            t.join(30)


def test_viewing_keeps_the_pixel_cache_under_its_limit_and_an_evicted_image_comes_back(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cache_limit, "CHECK_EVERY_BYTES", 1)  # measure after every write
    paths = []
    for k in range(4):
        paths.append(tmp_path / f"{k}.png")
        Image.fromarray(synthetic_mammogram(k, size=(512, 416)).pixels.astype(np.uint16)).save(paths[-1])
    project = open_project(tmp_path / "p.sqlite", create=True)
    try:
        import_items(project, items_from_paths(paths))
        with project.session() as s:
            images = sorted(image_store.list_images(s), key=lambda r: r.source_path)
    finally:
        project.close()
    for f in (tmp_path / "cache" / "pixels").rglob("*.npy"):
        f.unlink()  # start from an empty pixel cache
    one = 512 * 416 * 2 + 128  # bytes of one cached image (uint16 + the .npy header)
    monkeypatch.setenv(cache_limit.ENV_LIMIT, str(2.5 * one / 1e9))  # room for two images (90 %: 2.25)

    first = [np.array(load_pixels(im)) for im in images[:2]]
    _join_prunes()
    time.sleep(0.02)
    load_pixels(images[0])  # image 0 is used again: image 1 is now the least recently used
    time.sleep(0.02)
    load_pixels(images[2])
    _join_prunes()
    cached = [_cache_path(im.sha256).exists() for im in images[:3]]
    assert cached == [True, False, True]
    total = sum(f.stat().st_size for f in (tmp_path / "cache" / "pixels").rglob("*.npy"))
    assert total <= 2.5 * one

    again = np.array(load_pixels(images[1]))  # evicted: decoded again from its file
    assert np.array_equal(again, first[1]) and _cache_path(images[1].sha256).exists()
