"""The longest event-loop stall of the app while a background job runs, and how long a save takes.

Targets (issue 13): no stall over 50 ms during any job, a save under 150 ms.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui_stall.py [--patients 6] [--size 1024 832]

Builds a synthetic project (features not yet computed, so the first job extracts them too),
opens the main window and records the gap between ticks of a 10 ms timer (``qt.stall``):
  1. idle, no job (the machine's own noise, the baseline to compare with);
  2. a Retrain from the window (features -> train -> validate -> store), per stage;
  3. a second retrain (features cached, --epochs) while contours are drawn every 400 ms
     (the GUI's writes go to the database while the trainer reads), and on for 1.5 s after
     it while the window takes up the new model ("new model shown");
  4. the same GUI actions without a job;
  5. a backbone refresh + heads (--refresh-steps) while contours are drawn.
Prints worst / p99 / p95 gap per phase and stage; a stall is the gap minus the 10 ms interval.
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


AFTER = "new model shown"  # the first seconds after the job, while the window takes up its model
AFTER_S = 1.5


def _row(name: str, meter, label: str | None = None) -> str:
    n = sum(1 for lab in meter.labels if label is None or lab == label)
    return (f"  {name:<22} ticks {n:6d}   worst {meter.worst_ms(label):7.1f} ms   p99 {meter.percentile_ms(99, label):6.1f} ms"
            f"   p95 {meter.percentile_ms(95, label):6.1f} ms")


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2] if values else 0.0


def _worst(meter) -> None:
    """The three longest stalls (our own GUI actions excluded) and what the job was doing."""
    for gap, at, label, detail in meter.worst_stalls[:3]:
        print(f"    {gap:7.1f} ms at {at:6.2f} s  [{label}] {detail[:70]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=6)
    ap.add_argument("--size", type=int, nargs=2, default=(1024, 832))
    ap.add_argument("--idle", type=float, default=3.0, help="seconds of idle baseline")
    ap.add_argument("--epochs", type=int, default=300, help="epochs of the job in phase 3 (long enough to annotate)")
    ap.add_argument("--refresh-steps", type=int, default=100, help="backbone steps of phase 5 (0: skip it)")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="mammo-stall-"))
    os.environ["MAMMO_ANNOTATOR_CACHE"] = str(tmp / "cache")

    import numpy as np

    from mammo_annotator.core.types import GridSpec
    from mammo_annotator.services.project import open_project
    from mammo_annotator.services.synthetic_source import import_synthetic

    t = time.perf_counter()
    project = open_project(tmp / "p.sqlite", create=True)
    project.set_grid_spec(GridSpec(size_mm=22.4, stride_mm=11.2))
    import_synthetic(project, n_patients=args.patients, seed=3, size=tuple(args.size))
    print(f"setup: {args.patients * 4} synthetic images of {args.size[0]} x {args.size[1]} in {time.perf_counter() - t:.1f} s")

    from PySide6.QtWidgets import QApplication

    from mammo_annotator.qt.app import ensure_app, temp_settings
    from mammo_annotator.qt.main_window import MainWindow
    from mammo_annotator.qt.screens import settle
    from mammo_annotator.qt.stall import StallMeter

    app = ensure_app()
    window = MainWindow(project, "bench", temp_settings())
    window.resize(1600, 1000)
    window.show()
    settle(300)
    ctl, panel = window.model_ui.training, window.model_ui.training_panel
    meter = StallMeter(10)
    def on_progress(_job, stage, done, total, message):
        meter.label, meter.detail = stage, f"{done}/{total} {message}"

    ctl.queue  # built now (it imports torch), not by the window's delayed background start during phase 1
    ctl.bridge.progressed.connect(on_progress)

    def run_until(done, max_s: float = 900.0) -> None:
        end = time.monotonic() + max_s
        while not done() and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.001)

    # 1. idle baseline
    meter.label = "idle"
    meter.start()
    run_until(lambda: False, args.idle)
    meter.stop()
    print(f"\nmachine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print("1. idle (no job)")
    print(_row("idle", meter))

    # 2. a full retrain
    meter.label = "submitted"
    meter.start()
    t = time.perf_counter()
    panel.retrain.click()
    run_until(lambda: len(ctl.finished) >= 1)
    meter.label = AFTER  # the window shows the new model: still part of the job for the reader
    run_until(lambda: False, AFTER_S)
    meter.stop()
    job = ctl.finished[-1]
    print(f"2. retrain from the window: {job.state.value} in {time.perf_counter() - t:.1f} s "
          f"({job.outcome.message if job.outcome else job.error})")
    print(_row("whole job", meter))
    for stage in ("features", "train", "validate", "store", AFTER):
        if stage in meter.labels:
            print(_row(stage, meter, stage))
    _worst(meter)

    from mammo_annotator.services.training import TrainingRequest

    rows = [r.image_id for r in window.worklist.model.rows]
    save_ms: list[float] = []
    theta = np.linspace(0, 2 * np.pi, 16, endpoint=False)

    def annotate_while(busy, max_edits: int = 10_000) -> tuple[int, list[float]]:
        """Open the next image and save a contour every 400 ms while ``busy()``; (saved, ms per
        action). The save alone (the contour stored, its region labels, the views refreshed) is
        timed into ``save_ms``."""
        saved, k, next_edit, edits_ms = 0, 0, time.monotonic(), []
        t_end = time.monotonic() + 900
        while busy() and k < max_edits and time.monotonic() < t_end:
            app.processEvents()
            if time.monotonic() >= next_edit:
                image_id = rows[k % len(rows)]
                page = window.page
                meter.exclude(True)
                t_edit = time.perf_counter()
                window.worklist.select_image(image_id)
                if page.image_id == image_id:
                    h, w = page.bundle.record.height, page.bundle.record.width
                    cx, cy, r = w * 0.5, h * (0.3 + 0.05 * (k % 5)), min(h, w) * 0.05
                    before = len(page.bundle.contours)
                    t_save = time.perf_counter()
                    page._on_outline(np.stack([cx + r * np.cos(theta), cy + r * np.sin(theta)], 1))
                    save_ms.append((time.perf_counter() - t_save) * 1000)
                    saved += int(len(page.bundle.contours) > before)
                edits_ms.append((time.perf_counter() - t_edit) * 1000)
                meter.exclude(False)
                k += 1
                next_edit = time.monotonic() + 0.4
            time.sleep(0.001)
        return saved, edits_ms

    # 3. a longer retrain (features cached) while annotating
    def job_while_annotating(request, title: str) -> list[float]:
        """Click Retrain with ``request`` and annotate until the job ends; print its stalls per stage."""
        ctl.queue.request = request
        n_before = len(ctl.finished)
        save_ms.clear()
        meter.label = "submitted"
        meter.start()
        t = time.perf_counter()
        panel.retrain.click()
        click_ms = (time.perf_counter() - t) * 1000
        saved, edits_ms = annotate_while(lambda: len(ctl.finished) <= n_before)
        meter.label = AFTER
        end = time.monotonic() + AFTER_S
        more, more_ms = annotate_while(lambda: time.monotonic() < end)
        saved, edits_ms = saved + more, edits_ms + more_ms
        meter.stop()
        job = ctl.finished[-1]
        print(f"{title} while annotating: {job.state.value} in {time.perf_counter() - t:.1f} s; "
              f"{saved} contours saved of {len(edits_ms)} attempts; the Retrain click took {click_ms:.0f} ms")
        print(_row("whole job", meter))
        print(f"  the save alone: median {_median(save_ms):.0f} ms, worst {max(save_ms, default=0):.0f} ms")
        for stage in ("backbone", "features", "train", "validate", "store", AFTER, "gui action"):
            if stage in meter.labels:
                print(_row(stage, meter, stage))
        return edits_ms

    ctl.queue.auto_after = None  # our edits must not queue more jobs
    edits_ms = job_while_annotating(TrainingRequest(epochs=args.epochs, num_threads=1), f"3. retrain ({args.epochs} epochs)")
    print(f"  our own GUI actions (open image + save contour): median {_median(edits_ms):.0f} ms, "
          f"worst {max(edits_ms):.0f} ms (not counted as stalls); the save alone: median {_median(save_ms):.0f} ms, "
          f"worst {max(save_ms):.0f} ms")
    _worst(meter)

    # 4. the same GUI actions with no job running (what the actions cost by themselves)
    meter.label = "idle"
    meter.start()
    save_ms.clear()
    saved, idle_ms = annotate_while(lambda: True, max_edits=len(edits_ms))
    meter.stop()
    print(f"4. the same actions without a job: {saved} saved; median {_median(idle_ms):.0f} ms, "
          f"worst {max(idle_ms):.0f} ms (the save alone: median {_median(save_ms):.0f} ms, worst {max(save_ms):.0f} ms); "
          f"worst gap outside them {meter.worst_ms():.1f} ms")
    # 5. a backbone refresh (the Training dock's "Refresh backbone + heads") while annotating
    if args.refresh_steps:
        panel.scope.setCurrentIndex(1)
        job_while_annotating(TrainingRequest(epochs=20, num_threads=1, backbone_steps=args.refresh_steps),
                             f"5. backbone refresh ({args.refresh_steps} steps) + heads")
        _worst(meter)
    window.close()
    project.close()
    QApplication.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
