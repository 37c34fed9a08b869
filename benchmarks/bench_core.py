"""Speed of the core steps an import and a display pay per image, against their targets (these were
timed assertions in the tests; timings belong here, where a loaded machine only makes a number
worse instead of failing a build).

    .venv/bin/python benchmarks/bench_core.py [--repeats 5]

- a synthetic 1024 x 832 mammogram with four lesions (the demo and test data): target 0.3 s;
- the breast mask of a 4096 x 3072 16-bit full-field image with a zero background and a burned-in
  text block: target 1.5 s;
- the breast segmentation of the real JPEG 2000 DICOM of ../shared/datasets (4664 x 3064), when
  it is there: target 1.5 s;
- a 4096 x 3328 16-bit image to 8-bit display through the window's lookup table: target 0.5 s,
  and the ratio over the same window computed as float arithmetic per pixel.
Prints the median and the best of the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mammo_annotator.core.breast_mask import breast_mask, segment_breast  # noqa: E402
from mammo_annotator.core.synthetic import synthetic_mammogram  # noqa: E402
from mammo_annotator.core.windowing import to_display  # noqa: E402

REAL_DICOM = REPO.parent / "shared" / "datasets" / "dicom" / "MG1_J2KI.dcm"


def timed(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm: imports, caches, page faults
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def line(name: str, target: float | None, median: float, best: float) -> None:
    verdict = "" if target is None else f"  target {target:g} s: {'met' if median <= target else 'NOT met'}"
    print(f"{name:<58} median {median:6.3f} s  best {best:6.3f} s{verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    line("synthetic mammogram 1024 x 832, 4 lesions", 0.3,
         *timed(lambda: synthetic_mammogram(1, (1024, 832), n_benign=2, n_malignant=1, n_calc_clusters=1), args.repeats))

    case = synthetic_mammogram(3, size=(1024, 768), view="MLO", laterality="R")
    big = np.kron(case.pixels.astype(np.uint16) * 16, np.ones((4, 4), np.uint16))
    big[big < 16 * 150] = 0
    big[100:260, 200:900] = 65000
    line("breast mask, 4096 x 3072 16-bit full field", 1.5, *timed(lambda: breast_mask(big, view="MLO"), args.repeats))

    if REAL_DICOM.is_file():
        from mammo_annotator.core.imageio import read_image

        im = read_image(REAL_DICOM)
        line(f"breast segmentation, real DICOM {im.pixels.shape[0]} x {im.pixels.shape[1]}", 1.5,
             *timed(lambda: segment_breast(im.pixels, im.meta.view, im.meta.laterality), args.repeats))
    else:
        print(f"(no {REAL_DICOM.name} under ../shared/datasets/dicom: the real DICOM row is left out)")

    px = np.random.default_rng(1).integers(0, 16384, (4096, 3328)).astype(np.uint16)
    lut_median, lut_best = timed(lambda: to_display(px, 8000, 6000), args.repeats)
    line("display 4096 x 3328 uint16, lookup table", 0.5, lut_median, lut_best)
    flt_median, flt_best = timed(lambda: to_display(px.astype(np.float32), 8000, 6000), args.repeats)
    line("display 4096 x 3328, float arithmetic (baseline)", None, flt_median, flt_best)
    print(f"lookup table over float arithmetic: {flt_median / lut_median:.1f}x faster (medians)")


if __name__ == "__main__":
    main()
