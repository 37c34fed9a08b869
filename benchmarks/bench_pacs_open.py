"""The GUI while the viewer retrieves PACS images another machine imported (the event loop must not stall).

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_pacs_open.py [--images 6] [--size 2048 1664] [--hold 3]

Starts Orthanc with its DICOMweb plugin (as the tests do) behind ``tests.orthanc_server.GatedFront``,
imports ``--images`` synthetic 16-bit MG instances through it, then, as another machine (the
retrieved files moved away, an empty user cache), opens the main window with a 10 ms
``StallMeter`` running (thumbnails off, so that each retrieval is the viewer's):
  0. idle, the baseline (the gaps of the loop itself on this machine);
  1. one image read in the GUI thread, as the viewer did before (``load_pixels`` directly);
  2. each other image but the last opened from the worklist: how long the selection holds the
     GUI thread, how long until the image is on the canvas, the worst gap between ticks;
  3. the last one with the PACS not answering for ``--hold`` seconds (the front holds the
     connection): the worst gap while the canvas says "Retrieving…", then the open once it answers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--size", type=int, nargs=2, default=[2048, 1664], metavar=("ROWS", "COLS"))
    ap.add_argument("--hold", type=float, default=3.0, help="seconds the PACS does not answer in step 3")
    args = ap.parse_args(argv)
    if args.images < 3:
        ap.error("--images: at least 3 (one per step)")

    from mammo_annotator.core.types import GridSpec
    from mammo_annotator.services import viewing
    from mammo_annotator.services.dicomweb import import_dicomweb
    from mammo_annotator.services.pixels import load_pixels, needs_pacs_fetch
    from mammo_annotator.services.project import open_project
    from tests import orthanc_server as orth
    from tests.services.export_helpers import write_mg_dicom

    tmp = Path(tempfile.mkdtemp(prefix="mammo-bench-pacs-open-"))
    os.environ["MAMMO_ANNOTATOR_CACHE"] = str(tmp / "machine-a-cache")
    os.environ["MAMMO_DICOMWEB_USER"], os.environ["MAMMO_DICOMWEB_PASSWORD"] = orth.USER, orth.PASSWORD
    os.environ.pop("MAMMO_DICOMWEB_TOKEN", None)
    server = orth.start()
    front = orth.GatedFront(server, max_hold_s=args.hold + 60)
    try:
        rows, cols = args.size
        files = [write_mg_dicom(tmp / f"{k}.dcm", k % 10, rows, cols, "LR"[k % 2]) for k in range(args.images)]
        for f in files:
            server.upload(f)
        mb = sum(f.stat().st_size for f in files) / 1e6 / len(files)
        project = open_project(tmp / "p.sqlite", create=True)
        project.set_grid_spec(GridSpec(size_px=224, stride_px=112))
        report = import_dicomweb(project, front.dicomweb, store=tmp / "store")
        project.close()
        assert not report.failed, report.failed
        shutil.move(tmp / "store", tmp / "moved")  # another machine: no stored file, an empty cache
        os.environ["MAMMO_ANNOTATOR_CACHE"] = str(tmp / "machine-b-cache")
        print(f"{len(report.imported)} MG instances of {rows} x {cols} (16-bit, {mb:.1f} MB each), Orthanc "
              f"{server.rest('GET', '/system')['Version']}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")

        from mammo_annotator.qt.app import ensure_app, temp_settings
        from mammo_annotator.qt.main_window import MainWindow
        from mammo_annotator.qt.stall import StallMeter

        app = ensure_app()
        project = open_project(tmp / "p.sqlite")
        window = MainWindow(project, "bench", temp_settings())  # opens the first row: retrieved in the background
        thumbs = window.worklist.model.thumbnails

        def no_thumbnail(image_id: int):
            raise KeyError(image_id)  # the thumbnail thread skips it

        thumbs.load_record = no_thumbnail  # no thumbnail retrievals: each one measured is the viewer's
        thumbs.stop(120)  # one it had begun is finished (and then not among those measured)
        window.resize(1600, 1000)
        window.show()
        page = window.page

        def run_until(done, max_s: float = 300.0) -> None:
            end = time.monotonic() + max_s
            while not done() and time.monotonic() < end:
                app.processEvents()
                time.sleep(0.001)

        run_until(lambda: not page.retrieval.busy)
        t = time.perf_counter()
        window.model_ui.training.queue  # it imports torch in the GUI thread 3 s after start: not a retrieval
        print(f"training queue built first ({time.perf_counter() - t:.1f} s in the GUI thread, not measured below)")
        todo = [r.image_id for r in window.worklist.model.rows
                if needs_pacs_fetch(viewing.image_record(project, r.image_id))]
        meter = StallMeter(10)

        meter.start()
        run_until(lambda: False, 1.0)
        meter.stop()
        print(f"0. idle (the machine's noise): worst gap between ticks {meter.worst_ms():.0f} ms over {len(meter.gaps_ms)} ticks")

        # 1. as before: the retrieval in the GUI thread
        meter.start()
        t = time.perf_counter()
        load_pixels(viewing.image_record(project, todo[0]))
        sync_ms = (time.perf_counter() - t) * 1000
        run_until(lambda: False, 0.05)
        meter.stop()
        print(f"1. in the GUI thread (as before): {sync_ms:.0f} ms, worst gap between ticks {meter.worst_ms():.0f} ms")

        # 2. from the worklist: retrieved in the background
        select_ms, shown_ms = [], []
        meter.start()
        for image_id in todo[1:-1]:
            t = time.perf_counter()
            meter.label = f"select {image_id}"
            window.worklist.select_image(image_id)
            select_ms.append((time.perf_counter() - t) * 1000)
            assert page.retrieving, f"image {image_id} was not retrieved in the background"
            meter.label = f"wait {image_id}"
            run_until(lambda i=image_id: page.image_id == i)
            meter.label = f"shown {image_id}"
            shown_ms.append((time.perf_counter() - t) * 1000)
        meter.stop()
        print(f"2. {len(select_ms)} images opened from the worklist: the selection holds the GUI thread "
              f"median {statistics.median(select_ms):.1f} ms (worst {max(select_ms):.1f}); on the canvas after "
              f"median {statistics.median(shown_ms):.0f} ms; worst gap between ticks {meter.worst_ms():.0f} ms "
              f"(with the open itself: bundle, pixels, presets, panels), "
              f"p99 {meter.percentile_ms(99):.0f} ms ({len(meter.gaps_ms)} ticks)")

        # 3. a PACS that does not answer
        last = todo[-1]
        front.hold()
        meter.start()
        window.worklist.select_image(last)
        notice = page.view.notice_text()
        run_until(lambda: False, args.hold)
        meter.stop()
        held = page.retrieving and page.image_id is None
        front.release()
        t = time.perf_counter()
        run_until(lambda: page.image_id == last)
        print(f"3. the PACS silent for {args.hold:.0f} s: canvas {'says' if held and notice else 'DOES NOT say'} "
              f"'{notice.split('<br>')[0].replace('<b>', '').replace('</b>', '')}'; worst gap between ticks "
              f"{meter.worst_ms():.0f} ms over {len(meter.gaps_ms)} ticks; shown {(time.perf_counter() - t) * 1000:.0f} ms "
              "after it answered")
        window.close()
        project.close()
    finally:
        front.close()
        orth.stop(server)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
