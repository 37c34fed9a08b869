"""File > Import runs one image at a time in its worker: reader threads would share the GIL with
the window (``benchmarks/bench_import_stall.py``: 456 ms worst stall with them, 53 ms without)."""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image

from mammo_annotator.core.synthetic import synthetic_mammogram
from mammo_annotator.services import importing


def test_the_window_imports_without_reader_threads(window, qtbot, tmp_path, monkeypatch):
    paths = []
    for k in range(3):
        paths.append(tmp_path / f"new{k}.png")
        Image.fromarray(synthetic_mammogram(40 + k, size=(256, 208), view="MLO").pixels.astype(np.uint16)).save(paths[-1])
    threads, real_mask = [], importing.breast_mask
    monkeypatch.setattr(importing, "breast_mask", lambda *a, **k: threads.append(threading.current_thread().name)
                        or real_mask(*a, **k))
    worker = window.importer.start(paths)
    qtbot.waitUntil(lambda: not worker.is_running(), timeout=30_000)
    assert len(threads) == 3 and not [t for t in threads if t.startswith("import-read")]
    assert threading.current_thread().name not in threads  # nor on the window's thread
    qtbot.waitUntil(lambda: window.importer.last_report is not None, timeout=10_000)
    assert len(window.importer.last_report.imported) == 3
