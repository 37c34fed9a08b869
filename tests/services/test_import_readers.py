"""An import reads and segments the next images in reader threads while it stores the current one:
the report, the stored rows and the duplicates are those of a one-by-one import, in the items' order."""

from __future__ import annotations

import shutil
import threading

import numpy as np
from PIL import Image

from mammo_annotator.core.synthetic import synthetic_mammogram
from mammo_annotator.services import importing
from mammo_annotator.services.importing import READERS, ImportItem, ImportReport, import_items, import_one
from mammo_annotator.services.project import open_project
from mammo_annotator.services.sources import items_from_paths
from mammo_annotator.store import images as image_store


def _png(path, seed):
    Image.fromarray(synthetic_mammogram(seed, size=(256, 208), view="MLO").pixels.astype(np.uint16)).save(path)
    return path


def _batch(folder):
    """Good images between a missing file, a broken file and two copies of one image."""
    folder.mkdir()
    paths = [_png(folder / "a.png", 1), folder / "missing.png", _png(folder / "b.png", 2)]
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    shutil.copy(folder / "a.png", folder / "a-copy.png")
    paths += [folder / "broken.png", folder / "a-copy.png", _png(folder / "c.png", 3), _png(folder / "d.png", 4)]
    return paths


def _stored(project):
    with project.session() as s:
        return sorted((im.source_path.rsplit("/", 1)[-1], im.sha256) for im in image_store.list_images(s))


def test_the_report_and_the_rows_are_those_of_a_one_by_one_import(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    paths = _batch(tmp_path / "src")
    segmented_in, real_mask = [], importing.breast_mask

    def mask(*args, **kwargs):
        segmented_in.append(threading.current_thread().name)
        return real_mask(*args, **kwargs)

    monkeypatch.setattr(importing, "breast_mask", mask)
    piped = open_project(tmp_path / "piped.sqlite", create=True)
    report = import_items(piped, [ImportItem(p) for p in paths])
    assert segmented_in and all(name.startswith("import-read") for name in segmented_in)  # off the storing thread

    one_by_one, alone = open_project(tmp_path / "alone.sqlite", create=True), ImportReport()
    for p in paths:
        import_one(one_by_one, ImportItem(p), alone)
    assert [p.rsplit("/", 1)[-1] for p, _ in report.failed] == ["missing.png", "broken.png"]
    assert report.failed == alone.failed and report.warnings == alone.warnings
    assert [p for p, _ in report.duplicates] == [p for p, _ in alone.duplicates] == [str(paths[4].resolve())]
    assert len(report.imported) == 4 and report.imported == sorted(report.imported)  # stored in the items' order
    assert _stored(piped) == _stored(one_by_one)
    with piped.session() as s:
        assert report.duplicates[0][1] == image_store.image_id_by_hash(s, _stored(piped)[0][1])
    again = import_items(piped, [ImportItem(p) for p in paths])
    assert len(again.duplicates) == 5 and again.imported == []
    piped.close()
    one_by_one.close()


def test_a_file_already_in_the_project_is_never_read(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    paths = [_png(tmp_path / f"{k}.png", k) for k in range(4)]
    project = open_project(tmp_path / "p.sqlite", create=True)
    import_items(project, items_from_paths(paths[:3]))
    read, real_read = [], importing.read_image
    monkeypatch.setattr(importing, "read_image", lambda path: read.append(path.name) or real_read(path))
    report = import_items(project, items_from_paths(paths))
    assert read == ["3.png"] and len(report.duplicates) == 3 and len(report.imported) == 1
    project.close()


def test_reads_stay_a_few_images_ahead_and_a_cancel_leaves_no_reader(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    paths = [_png(tmp_path / f"{k}.png", k % 3) for k in range(3)]
    paths += [shutil.copy(paths[k % 3], tmp_path / f"copy{k}.png") for k in range(9)]  # a duplicate is read, then recognised
    project = open_project(tmp_path / "p.sqlite", create=True)
    cancel, read, stored = threading.Event(), [], []
    real_read = importing.read_image

    def reading(path):
        read.append(path.name)
        assert len(read) - len(stored) <= READERS + 1  # never the whole folder in memory
        return real_read(path)

    def progress(done, total, message):
        stored.append(done)
        if done == 6:
            cancel.set()

    monkeypatch.setattr(importing, "read_image", reading)
    report = import_items(project, items_from_paths(paths), progress=progress, cancel=cancel)
    assert report.cancelled and len(report.imported) + len(report.duplicates) == 6
    assert len(read) <= 6 + READERS + 1
    assert not [t for t in threading.enumerate() if t.name.startswith("import-read")]
    project.close()


def test_the_window_imports_without_reader_threads(tmp_path, monkeypatch):
    """``readers=0`` (the window's import: reader threads shared the GIL with it and stalled it)
    reads on the calling thread and reports as the threaded import does."""
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    paths = _batch(tmp_path / "src")
    threads, real_mask = [], importing.breast_mask
    monkeypatch.setattr(importing, "breast_mask", lambda *a, **k: threads.append(threading.current_thread().name)
                        or real_mask(*a, **k))
    alone = open_project(tmp_path / "alone.sqlite", create=True)
    report = import_items(alone, [ImportItem(p) for p in paths], readers=0)
    assert threads and set(threads) == {threading.current_thread().name}
    piped = open_project(tmp_path / "piped.sqlite", create=True)
    threaded = import_items(piped, [ImportItem(p) for p in paths])
    assert (report.failed, report.duplicates, report.warnings) == (threaded.failed, threaded.duplicates, threaded.warnings)
    assert _stored(alone) == _stored(piped)
    alone.close()
    piped.close()
