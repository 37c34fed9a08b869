"""Speed of the pretrained EfficientNet-Lite region features, as ratios in one run.

    .venv/bin/python benchmarks/bench_pretrained.py [--repeats 3] [--device auto]

Prints, per image size: the project's extractor (batch norms folded, channels-last) against a
straightforward run of the same network (unfolded, NCHW: what the probe in what-is-known.md
ran) and against the hand-crafted extractor; a 4096 x 3328 full-field image (70 micron) at the
default work spacing (0.2 mm) and at native resolution; and how close the dense features are to
running each window alone. Uses a mini-MIAS image from ../shared/datasets when present, a
synthetic mammogram otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mammo_annotator.core.synthetic import synthetic_mammogram
from mammo_annotator.ml.features.efficientnet_lite import imagenet_input, pretrained_lite
from mammo_annotator.ml.features.handcrafted import HandcraftedExtractor
from mammo_annotator.ml.features.pretrained import PretrainedExtractor
from mammo_annotator.ml.features.registry import DEFAULT_EXTRACTOR, build_extractor

MIAS = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "mini-mias" / "mdb005.png"


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up: allocator, oneDNN primitives
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def grid(h: int, w: int, side: int, stride: int) -> np.ndarray:
    ys, xs = np.mgrid[0:h - side + 1:stride, 0:w - side + 1:stride]
    return np.stack([xs.ravel(), ys.ravel(), xs.ravel() + side, ys.ravel() + side], 1).astype(np.float64)


def breast_windows(img: np.ndarray, side: int, stride: int) -> np.ndarray:
    b = grid(*img.shape, side, stride)
    centre = img[(b[:, 1] + side // 2).astype(int), (b[:, 0] + side // 2).astype(int)]
    return b[centre > np.percentile(img, 40)]


def image_1024() -> tuple[np.ndarray, str]:
    if MIAS.is_file():
        from PIL import Image

        return np.asarray(Image.open(MIAS), dtype=np.float32), "mini-MIAS mdb005"
    return synthetic_mammogram(seed=0, size=(1024, 1024)).pixels.astype(np.float32), "synthetic"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="auto")
    a = p.parse_args(argv)
    ext = build_extractor(DEFAULT_EXTRACTOR, device=a.device)
    if not isinstance(ext, PretrainedExtractor):
        print(f"the default extractor is {ext.key}, not a pretrained one: measuring efficientnet-lite0")
        ext = PretrainedExtractor(device=a.device)
    print(f"extractor {ext.key}, device {ext.device}, {torch.get_num_threads()} threads")
    img, what = image_1024()
    boxes = breast_windows(img, 112, 56)
    plain = pretrained_lite(ext.spec.arch).to(ext.device)

    def straightforward():
        with torch.no_grad():
            t = torch.from_numpy(img / 255.0)[None, None].float().to(ext.device)
            maps = plain.stage_maps(imagenet_input(t), ext.spec.stages)
            return [m.cpu() for m in maps]

    t_ext = best_of(lambda: ext.extract(img, boxes, 0.2), a.repeats)
    t_plain = best_of(straightforward, a.repeats)
    hand = HandcraftedExtractor()
    t_hand = best_of(lambda: hand.extract(img, boxes, 0.2), max(1, a.repeats // 2))
    print(f"1024 x 1024 ({what}, {len(boxes)} windows of 112 px):")
    print(f"  dense features, this extractor      {t_ext:6.3f} s")
    print(f"  straightforward forward pass         {t_plain:6.3f} s   ratio {t_plain / t_ext:4.2f}x")
    print(f"  hand-crafted features                {t_hand:6.3f} s   ratio {t_hand / t_ext:4.2f}x")

    big = synthetic_mammogram(seed=1, size=(4096, 3328)).pixels.astype(np.float32)
    big_boxes = breast_windows(big, 320, 160)  # 22.4 mm windows at 70 micron
    t_big = best_of(lambda: ext.extract(big, big_boxes, 0.07), max(1, a.repeats // 2))
    native = PretrainedExtractor(ext.spec.arch, ext.spec.stages, ext.pool, "native", device=a.device)
    t_native = best_of(lambda: native.extract(big, big_boxes, 0.07), 1)
    work, f = ext.work_image(big, 0.07)
    print(f"4096 x 3328 full field at 70 micron ({len(big_boxes)} windows of 22.4 mm):")
    print(f"  at the work spacing ({ext.scale}, {work.shape[1]} x {work.shape[0]} px)  {t_big:6.3f} s")
    print(f"  at native resolution                 {t_native:6.3f} s   ratio {t_native / t_big:4.2f}x")

    dense = ext.extract(img, boxes, 0.2)
    crops = ext.extract_crops(img, boxes, 0.2)
    per_dim = [np.corrcoef(dense[:, j], crops[:, j])[0, 1] for j in range(dense.shape[1])
               if dense[:, j].std() > 0 and crops[:, j].std() > 0]
    per_win = [np.corrcoef(dense[i], crops[i])[0, 1] for i in range(len(dense))]
    print("dense vs each window run alone (same windows):")
    print(f"  correlation across windows, median over features  {np.median(per_dim):.3f}")
    print(f"  correlation across features, median over windows  {np.median(per_win):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
