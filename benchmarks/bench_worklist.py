"""How long the worklist takes to show a large project (10,000 images by default).

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_worklist.py [--rows 10000] [--repeat 3]

Fills the worklist widget with synthetic rows, as a project of that size gives them, and prints
the median time of ``set_rows`` (model reset, sorting, column fitting) and of a re-sort by p(M).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def rows(n: int):
    from mammo_annotator.services.viewing import WorklistRow

    status = ("not_annotated", "contoured", "no_malignant")
    return [WorklistRow(image_id=k, patient=f"P{k // 4:05d}", laterality="LR"[k % 2], view=("CC", "MLO")[k // 2 % 2],
                        weak=("N", "B", "M", "unknown")[k % 4], status=status[k % 3], p_m=(k % 97) / 97,
                        p_b=(k % 89) / 89, n_contours=k % 3, file_name=f"img{k:05d}.dcm") for k in range(n)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from mammo_annotator.qt.worklist import WorklistPanel
    from mammo_annotator.qt.worklist_model import P_M, PATIENT

    app = QApplication.instance() or QApplication([])
    widget = WorklistPanel()
    widget.resize(360, 700)
    widget.show()
    data = rows(args.rows)
    fill, sort = [], []
    for _ in range(args.repeat):
        widget.table.sortByColumn(PATIENT, Qt.AscendingOrder)  # as a fresh list: sorted by patient
        t = time.perf_counter()
        widget.set_rows(data)
        app.processEvents()
        fill.append(time.perf_counter() - t)
        t = time.perf_counter()
        widget.table.sortByColumn(P_M, Qt.DescendingOrder)
        app.processEvents()
        sort.append(time.perf_counter() - t)
        widget.set_rows([])
    print(f"worklist of {args.rows} rows: set_rows {statistics.median(fill) * 1000:.0f} ms, "
          f"sort by p(M) {statistics.median(sort) * 1000:.0f} ms (median of {args.repeat})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
