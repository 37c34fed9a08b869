"""Render the app's main states to PNG at 1920 x 1080 and 1366 x 768 (docs/img/ by default), the
pictures the README links, so they can be looked at and kept honest.

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [--out DIR] [--sizes 1920x1080,1366x768]

States: worklist + image, CAD marks, a contour with its measurements and region labels, the
four views in reading mode, training in progress, and the "How to annotate" help page. The
images come from a synthetic demo project (16-bit, 0.1 mm pixels) built in a temporary folder,
and a small synthetic project trained for the training picture.
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


def wait_until(done, timeout_s: float) -> None:
    """Run the event loop until ``done()`` or the timeout."""
    from PySide6.QtWidgets import QApplication

    t = time.monotonic()
    while not done() and time.monotonic() - t < timeout_s:
        QApplication.processEvents()
        time.sleep(0.01)


def demo_project(tmp: Path) -> str:
    """The demo project with a pixel spacing, so sizes read in mm."""
    from mammo_annotator.core.types import GridSpec
    from mammo_annotator.store.schema import ImageRow
    from tests.qt.factory import build_demo_project

    project = build_demo_project(tmp / "demo", size=(2048, 1664), grid=GridSpec(192, 96))
    with project.session() as s:
        for im in s.query(ImageRow).all():
            im.spacing_row_mm = im.spacing_col_mm = 0.1
    path = str(project.path)
    project.close()
    return path


def with_dialog(window, dialog):
    """The window with a dialog painted over its centre (a grab of the window alone omits it)."""
    from PySide6.QtGui import QPainter

    shot = window.grab()
    over = dialog.grab()
    painter = QPainter(shot)
    painter.drawPixmap((shot.width() - over.width()) // 2, (shot.height() - over.height()) // 2, over)
    painter.end()
    return shot


def reading_states(db: str, out: Path, size: tuple[int, int], tag: str) -> list[Path]:
    import numpy as np

    from mammo_annotator.qt.app import close_window
    from mammo_annotator.qt.screens import build_window, grab, settle

    w = build_window(db, size=size)
    shots = []
    try:
        rows = [r for r in w.worklist.model.rows if r.weak == "M"]
        w.worklist.select_image(rows[0].image_id)
        wait_until(lambda: all(r.image_id in w.worklist.model.thumbnails.pixmaps for r in w.worklist.model.rows), 20)
        settle(100)
        w.page.view.fit()
        w.tabs.setCurrentIndex(0)
        shots.append(grab(w, out / f"01_worklist_image_{tag}.png"))

        w.tabs.setCurrentIndex(1)  # the Marks tab beside the marks
        settle(50)
        shots.append(grab(w, out / f"02_cad_marks_{tag}.png"))

        b = w.page.bundle
        x0, y0, x1, y1 = b.proposals("M", 1)[0].box
        cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * 0.42
        t = np.linspace(0, 2 * np.pi, 28, endpoint=False)
        w.page._on_outline(np.stack([cx + r * np.cos(t) * (1 + 0.12 * np.sin(3 * t)), cy + r * np.sin(t)], 1))
        settle(100)
        w.proposals_action.setChecked(False)
        w.tabs.setCurrentIndex(2)  # the contour list with area and diameter
        w.contour_list.table.selectRow(0)
        settle(50)
        vb = w.page.view.vb
        vb.setRange(xRange=(cx - 5 * r, cx + 5 * r), yRange=(cy - 4 * r, cy + 4 * r), padding=0)
        from mammo_annotator.qt.contour_tool import Tool

        w.tool_actions[Tool.RULER].trigger()
        w.page._handler.show_line((cx - r * 1.05, cy + r * 1.25), (cx + r * 1.05, cy + r * 1.25))
        settle(100)
        shots.append(grab(w, out / f"03_contour_measurements_regions_{tag}.png"))
        w.tool_actions[Tool.NAVIGATE].trigger()
        w.proposals_action.setChecked(True)

        w.four_action.setChecked(True)
        w.reading.enter()
        w.showNormal()  # headless: no real screen to fill, so the window keeps the picture's size
        w.resize(*size)
        settle(200)
        w.four.fit_all()
        settle(100)
        shots.append(grab(w, out / f"04_reading_mode_four_view_{tag}.png"))
        w.reading.leave()
        w.four_action.setChecked(False)
        w.resize(*size)
        settle(100)

        w.page.view.fit()
        w.tabs.setCurrentIndex(0)
        dlg = w.show_help("how-to")
        dlg.resize(min(700, size[0] - 200), min(720, size[1] - 120))
        settle(100)
        path = out / f"06_help_how_to_annotate_{tag}.png"
        with_dialog(w, dlg).save(str(path))
        shots.append(path)
        dlg.close()
    finally:
        close_window(w)
    return shots


def trained_project(tmp: Path) -> str:
    from mammo_annotator.core.types import GridSpec
    from mammo_annotator.services.features import ensure_features, project_extractor
    from mammo_annotator.services.project import open_project
    from mammo_annotator.services.synthetic_source import import_synthetic
    from mammo_annotator.services.training import TrainingRequest, run_training

    project = open_project(tmp / "trained.sqlite", create=True)
    project.set_grid_spec(GridSpec(size_mm=22.4, stride_mm=11.2))
    import_synthetic(project, n_patients=10, seed=3, size=(1024, 832))
    ensure_features(project, project_extractor(project))
    run_training(project, TrainingRequest(epochs=20, num_threads=1, activate="always"))
    path = str(project.path)
    project.close()
    return path


def training_state(db: str, out: Path, size: tuple[int, int], tag: str) -> Path:
    from mammo_annotator.qt.app import close_window
    from mammo_annotator.qt.screens import build_window, grab, settle
    from mammo_annotator.services.training import TrainingRequest

    w = build_window(db, size=size)
    try:
        ctl, panel = w.model_ui.training, w.model_ui.training_panel
        ctl.queue.request = TrainingRequest(epochs=3000, num_threads=1, warm_start=False)
        w.model_ui.retrain_action.trigger()  # opens the Training tab at the bottom
        wait_until(lambda: len(panel.losses) >= 25, 300)
        settle(300)
        path = grab(w, out / f"05_training_in_progress_{tag}.png")
        w.model_ui.history_dock.raise_()
        w.model_ui.history.wait_comparison(60)
        settle(300)
        grab(w, out / f"07_model_history_{tag}.png")
        panel.stop.click()
        wait_until(lambda: not ctl.busy, 120)
    finally:
        close_window(w)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "docs" / "img"))
    ap.add_argument("--sizes", default="1920x1080,1366x768")
    ap.add_argument("--skip-training", action="store_true", help="only the reading states (no model is trained)")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="mammo-shots-"))
    os.environ.setdefault("MAMMO_ANNOTATOR_CACHE", str(tmp / "cache"))

    from mammo_annotator.qt.app import ensure_app

    ensure_app()
    out = Path(args.out)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    db = demo_project(tmp)
    shots = []
    import shutil

    for size in sizes:
        fresh = tmp / f"demo-{size[0]}.sqlite"  # each size starts from the same untouched project
        shutil.copy(db, fresh)
        shots += reading_states(str(fresh), out, size, f"{size[0]}x{size[1]}")
    if not args.skip_training:
        trained = trained_project(tmp)
        for size in sizes:
            shots.append(training_state(trained, out, size, f"{size[0]}x{size[1]}"))
    for s in shots:
        print(s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
