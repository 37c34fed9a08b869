"""Export time and peak Python memory for projects of growing size (streaming: memory stays flat).

    python -m benchmarks.export_bench [N ...]      (default: 100 400)

Builds throw-away projects of N full-field-sized images (2294 x 1914, a 0.1 mm grid), each with a
malignant contour and model predictions, then times every export format and records the peak of
``tracemalloc`` during it. Prints one table; the ratio column compares the largest project's peak
with the smallest one's (about 1 when memory does not grow with the project).
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from mammo_annotator.core.regions import region_grid
from mammo_annotator.core.types import GridSpec, ImageMeta, LesionClass, WeakLabel
from mammo_annotator.services import export as ex
from mammo_annotator.services.annotations import save_contour
from mammo_annotator.services.project import open_project
from mammo_annotator.store import images as image_store
from mammo_annotator.store import models as model_store
from mammo_annotator.store import regions as region_store

FORMATS = ["labels", "regions", "geojson", "coco", "masks", "predictions"]
SIZE = (2294, 1914)


def build(path: Path, n: int):
    project = open_project(path, create=True)
    project.set_grid_spec(GridSpec(size_px=224, stride_px=224))
    h, w = SIZE
    regions = region_grid(np.ones((h, w), dtype=bool), project.grid_spec())
    rng = np.random.default_rng(0)
    with project.session() as s:
        version = model_store.add_model_version(s, "bench", "x", "g", {}, {}, {}, b"")
        model_store.activate(s, version)
    for k in range(n):
        meta = ImageMeta(source_path=f"/data/case{k:05d}.png", width=w, height=h, laterality="LR"[k % 2], view="MLO")
        with project.session() as s:
            image_id = image_store.add_image(s, meta, f"{k:064d}", f"patient{k // 2}", f"study{k // 2}", WeakLabel(1, 0))
            grid = region_store.add_grid(s, image_id, project.grid_spec(), None, regions)
            model_store.put_prediction(s, version, image_id, grid, 0.6, 0.1, rng.random((len(regions), 7)))
        x, y = rng.integers(100, 1500, 2)
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        save_contour(project, image_id, np.stack([x + 120 * np.cos(t), y + 90 * np.sin(t)], 1), "bench",
                     cls=LesionClass.MALIGNANT)
    return project


def measure(project, out: Path) -> dict[str, tuple[float, float]]:
    figures = {}
    for fmt in FORMATS:
        tracemalloc.start()
        t0 = time.perf_counter()
        ex.export(project, fmt, out / fmt if fmt == "masks" else out / f"{fmt}.out")
        elapsed = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        figures[fmt] = (elapsed, peak)
    return figures


def main(sizes: list[int]) -> None:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            project = build(Path(tmp) / f"p{n}.sqlite", n)
            results[n] = measure(project, Path(tmp) / f"out{n}")
            project.close()
    lo, hi = min(sizes), max(sizes)
    print(f"images {SIZE[1]}x{SIZE[0]}, one contour each; seconds and peak traced MiB per format")
    print(f"{'format':12}" + "".join(f"{f'{n} img s':>12}{f'{n} img MiB':>13}" for n in sizes) + f"{'MiB ratio':>11}")
    for fmt in FORMATS:
        row = "".join(f"{results[n][fmt][0]:12.2f}{results[n][fmt][1]:13.1f}" for n in sizes)
        print(f"{fmt:12}{row}{results[hi][fmt][1] / max(results[lo][fmt][1], 1e-9):11.2f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 400])
