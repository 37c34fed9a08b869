"""Importing a dataset: ``import_items`` (the next images read and segmented in reader threads while
one is stored) against the same images imported one by one with ``import_one``, in one run.

    .venv/bin/python benchmarks/bench_import.py [--dataset ../shared/datasets/mini-mias] [--limit N]

With the mini-MIAS folder (214 images, 1024 x 1024) when it is there, else 60 synthetic 1024 x 832
PNGs. Each import goes to a fresh SQLite project; a second ``import_items`` of the same files
times the recognition of images already in the project. Prints seconds per image and the ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mammo_annotator.core.synthetic import synthetic_mammogram  # noqa: E402
from mammo_annotator.core.types import GridSpec  # noqa: E402
from mammo_annotator.services.importing import READERS, ImportItem, ImportReport, import_items, import_one  # noqa: E402
from mammo_annotator.services.project import open_project  # noqa: E402
from mammo_annotator.services.sources import dataset_items  # noqa: E402


def items(dataset: Path, folder: Path, limit: int) -> list[ImportItem]:
    if (dataset / "Info.txt").is_file():
        return dataset_items("mini-mias", dataset, report=ImportReport())[:limit]
    out = []
    for k in range(min(limit, 60)):
        path = folder / f"synthetic{k}.png"
        Image.fromarray(synthetic_mammogram(k, size=(1024, 832), view="MLO").pixels.astype(np.uint16)).save(path)
        out.append(ImportItem(path))
    return out


def fresh(folder: Path, name: str):
    project = open_project(folder / f"{name}.sqlite", create=True)
    project.set_grid_spec(GridSpec(112, 56, 0.5))
    return project


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=str(REPO / ".." / "shared" / "datasets" / "mini-mias"))
    ap.add_argument("--limit", type=int, default=214)
    a = ap.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="mammo-bench-import-"))
    os.environ["MAMMO_ANNOTATOR_CACHE"] = str(folder / "cache")
    batch = items(Path(a.dataset), folder, a.limit)
    print(f"{len(batch)} images ({'mini-MIAS' if 'synthetic' not in batch[0].path.name else 'synthetic'}), "
          f"{os.cpu_count()} cores, {READERS} reader threads, load average {os.getloadavg()[0]:.2f}")

    one_by_one, report = fresh(folder, "one_by_one"), ImportReport()
    t0 = time.perf_counter()
    for item in batch:
        import_one(one_by_one, item, report)
    t_one = time.perf_counter() - t0
    one_by_one.close()

    piped = fresh(folder, "piped")
    t0 = time.perf_counter()
    got = import_items(piped, batch)
    t_piped = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = import_items(piped, batch)
    t_again = time.perf_counter() - t0
    piped.close()
    assert len(got.imported) == len(report.imported) and len(again.duplicates) == len(got.imported)
    n = len(batch)
    print(f"one by one:          {t_one:6.1f} s ({1000 * t_one / n:5.0f} ms per image)")
    print(f"import_items:        {t_piped:6.1f} s ({1000 * t_piped / n:5.0f} ms per image): {t_one / t_piped:.2f}x faster")
    print(f"again (all known):   {t_again:6.1f} s ({1000 * t_again / n:5.0f} ms per image)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
