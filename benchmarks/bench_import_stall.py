"""The window's longest event-loop stall while it imports images in the background: ``import_items``
with its reader threads against one image at a time (``readers=0``, as the window runs it), in one run.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_import_stall.py [--images 24] [--size 1024 832]

Opens the main window over an empty project, imports synthetic PNGs with File > Import's worker
(``ImportController.start``) and records the gap between ticks of a 10 ms timer (``qt.stall``);
first with the reader threads forced on, then as the window runs it, each into its own project.
Prints the wall time and worst / p99 gap of each. Target: no stall over 50 ms (issue 13).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--size", type=int, nargs=2, default=(1024, 832))
    a = ap.parse_args(argv)

    import numpy as np
    from PIL import Image
    from PySide6.QtWidgets import QApplication

    from mammo_annotator.core.synthetic import synthetic_mammogram
    from mammo_annotator.qt.app import ensure_app, temp_settings
    from mammo_annotator.qt.main_window import MainWindow
    from mammo_annotator.qt.stall import StallMeter
    from mammo_annotator.services import importing
    from mammo_annotator.services.project import open_project

    folder = Path(tempfile.mkdtemp(prefix="mammo-bench-import-stall-"))
    os.environ["MAMMO_ANNOTATOR_CACHE"] = str(folder / "cache")
    paths = []
    for k in range(a.images):
        path = folder / f"img{k}.png"
        Image.fromarray(synthetic_mammogram(k, size=tuple(a.size), view="MLO").pixels.astype(np.uint16)).save(path)
        paths.append(path)
    app = ensure_app()
    print(f"{a.images} images of {a.size[0]} x {a.size[1]}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    real = importing.import_items
    runs = (("reader threads", lambda *a, **_: real(*a, readers=importing.READERS)),
            ("one at a time", real))  # the window's: it passes readers=0
    for name, fn in runs:
        importing.import_items = fn
        project = open_project(folder / f"{name.replace(' ', '-')}.sqlite", create=True)
        window = MainWindow(project, "bench", temp_settings())
        window.resize(1400, 900)
        window.show()
        for _ in range(20):
            app.processEvents()
        meter = StallMeter()
        meter.start()
        t0 = time.perf_counter()
        worker = window.importer.start(paths)
        while worker.is_running():
            app.processEvents()
            time.sleep(0.001)
        for _ in range(50):  # the outcome and the worklist refresh reach the window
            app.processEvents()
            time.sleep(0.002)
        wall = time.perf_counter() - t0
        meter.stop()
        n = len(window.importer.last_report.imported) if window.importer.last_report else -1
        print(f"  {name:<19} {wall:6.1f} s, {n} imported   worst gap {meter.worst_ms():6.1f} ms   "
              f"p99 {meter.percentile_ms(99):5.1f} ms")
        window.close()
        project.close()
        QApplication.processEvents()
    importing.import_items = real
    return 0


if __name__ == "__main__":
    sys.exit(main())
