"""Render the app's main states to PNG (out/screenshots/) so they can be looked at.

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [--db FILE] [--out DIR]

Without --db it builds a small synthetic demo project in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
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
    for s in shots:
        print(s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
