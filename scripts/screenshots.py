"""Render the app's main states to PNG (out/screenshots/) so they can be looked at.

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [--db FILE] [--out DIR]

Without --db it builds a small synthetic demo project in a temporary folder.
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
    ap.add_argument("--db", help="project database (default: a synthetic demo project)")
    ap.add_argument("--out", default=str(REPO / "out" / "screenshots"))
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="mammo-shots-"))
    os.environ.setdefault("MAMMO_ANNOTATOR_CACHE", str(tmp / "cache"))

    from mammo_annotator.qt.app import close_window, ensure_app
    from mammo_annotator.qt.screens import build_window, grab, settle

    ensure_app()
    db = args.db
    if db is None:
        from mammo_annotator.core.types import GridSpec
        from tests.qt.factory import build_demo_project

        project = build_demo_project(tmp / "demo", size=(2048, 1664), grid=GridSpec(192, 96))
        db = str(project.path)
        project.close()
    out = Path(args.out)
    w = build_window(db)
    shots = []
    try:
        rows = [r for r in w.worklist.model.rows if r.weak == "M"]
        target = rows[0].image_id if rows else w.worklist.model.rows[0].image_id
        w.worklist.select_image(target)
        settle(100)
        w.page.view.fit()
        shots.append(grab(w, out / "01_worklist_image.png"))

        w.side.heat.setChecked(True)
        w.side.top_k.setValue(3)
        settle(50)
        shots.append(grab(w, out / "02_proposals_heatmap.png"))
        w.side.heat.setChecked(False)

        b = w.page.bundle
        props = b.proposals("M", 1)
        if props:
            import numpy as np

            x0, y0, x1, y1 = props[0].box
            cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * 0.45
            t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
            w.page._on_outline(np.stack([cx + r * np.cos(t) * (1 + 0.15 * np.sin(3 * t)), cy + r * np.sin(t)], 1))
            settle(100)
        w.proposals_action.setChecked(False)
        settle(50)
        shots.append(grab(w, out / "03_contour_region_labels.png"))
        w.tool_actions[__import__("mammo_annotator.qt.contour_tool", fromlist=["Tool"]).Tool.EDIT].trigger()
        settle(50)
        shots.append(grab(w, out / "04_edit_tool.png"))
        w.proposals_action.setChecked(True)

        w.four_action.setChecked(True)
        settle(150)
        w.four.fit_all()
        settle(50)
        shots.append(grab(w, out / "05_four_view.png"))
    finally:
        close_window(w)
    if args.db is None:
        shots += model_panels(tmp, out)
    for s in shots:
        print(s)
    return 0


def wait_until(done, timeout_s: float) -> None:
    """Run the event loop until ``done()`` or the timeout."""
    from PySide6.QtWidgets import QApplication

    t = time.monotonic()
    while not done() and time.monotonic() - t < timeout_s:
        QApplication.processEvents()
        time.sleep(0.01)


def model_panels(tmp: Path, out: Path) -> list[Path]:
    """Training, model history, cost plot and the "Annotate next" queue on a small trained
    synthetic project: one finished job, one running (shot mid-training), then Stop."""
    from mammo_annotator.core.types import GridSpec
    from mammo_annotator.qt.app import close_window
    from mammo_annotator.qt.screens import build_window, grab, settle
    from mammo_annotator.services import annotations as ann_service
    from mammo_annotator.services import viewing
    from mammo_annotator.services.features import ensure_features, project_extractor
    from mammo_annotator.services.project import open_project
    from mammo_annotator.services.synthetic_source import import_synthetic
    from mammo_annotator.services.training import TrainingRequest, run_training

    project = open_project(tmp / "trained.sqlite", create=True)
    project.set_grid_spec(GridSpec(size_mm=22.4, stride_mm=11.2))
    import_synthetic(project, n_patients=10, seed=3, size=(1024, 832))
    ensure_features(project, project_extractor(project))
    malignant = [r for r in viewing.worklist(project) if r.weak in ("M", "MB")]
    for step in range(3):  # fewer contours each time: points at several annotation costs
        run_training(project, TrainingRequest(epochs=20, num_threads=1, warm_start=step > 0, activate="always"))
        for r in malignant[step * len(malignant) // 4:(step + 1) * len(malignant) // 4]:
            for ann in ann_service.contours(project, r.image_id):
                ann_service.delete_contour(project, ann.id, "screenshots")
    path = project.path
    project.close()
    w = build_window(str(path))
    shots = []
    try:
        w.model_ui.next_dock.raise_()
        cost = w.model_ui.history.cost
        if not cost.points:  # AUROC undefined on this split: show the validation loss
            cost.combo.setCurrentIndex(cost.combo.findData("val_loss"))
        w.model_ui.next_image()
        settle(300)
        ctl, panel = w.model_ui.training, w.model_ui.training_panel
        ctl.queue.request = TrainingRequest(epochs=6, num_threads=1, warm_start=True)
        ctl.retrain()
        wait_until(lambda: len(ctl.finished) >= 1, 300)
        settle(300)
        shots.append(grab(w, out / "06_model_panels_after_job.png"))
        ctl.queue.request = TrainingRequest(epochs=3000, num_threads=1)
        ctl.retrain()
        ctl.retrain()  # a second request is queued behind it
        wait_until(lambda: len(panel.losses) >= 40, 300)
        settle(600)
        shots.append(grab(w, out / "07_training_running.png"))
        shots.append(grab(w.model_ui.training_dock, out / "08_training_dock.png"))
        shots.append(grab(w.model_ui.history_dock, out / "09_history_dock.png"))
        shots.append(grab(w.model_ui.next_dock, out / "10_annotate_next_dock.png"))
        panel.stop.click()
        wait_until(lambda: not ctl.busy, 120)
        settle(200)
        shots.append(grab(w.model_ui.training_dock, out / "11_training_stopped.png"))
    finally:
        close_window(w)
    return shots


if __name__ == "__main__":
    raise SystemExit(main())
