"""Dense vs per-window CNN feature extraction on one large image, in one run, plus how close the
dense (RoI-pooled feature map) features are to the per-window crop features.

    .venv/bin/python benchmarks/bench_features.py [--height 3000 --width 2000]

No pretrained weights ship with the project, so the trunk is a random-init ResNet-18 (the
agreement and speed depend on the architecture, not on the weight values' provenance) unless
--weights points to a torchvision state dict. The hand-crafted extractor is timed too.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy import ndimage

from mammo_annotator.core.regions import grid_boxes
from mammo_annotator.ml.features import build_extractor


def agreement(dense: np.ndarray, crops: np.ndarray) -> str:
    overall = np.corrcoef(dense.ravel(), crops.ravel())[0, 1]
    per_dim = [np.corrcoef(dense[:, j], crops[:, j])[0, 1] for j in range(dense.shape[1])
               if dense[:, j].std() > 1e-8 and crops[:, j].std() > 1e-8]
    rel = np.linalg.norm(dense - crops, axis=1) / np.maximum(np.linalg.norm(crops, axis=1), 1e-8)
    return (f"corr(all values) {overall:.3f}, median per-dimension corr across windows {np.median(per_dim):.3f}, "
            f"median relative L2 error per window {np.median(rel):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--width", type=int, default=2000)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--layers", default="layer3,layer4")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    img = ndimage.gaussian_filter(rng.normal(0, 1, (args.height, args.width)), 6) * 400 + 2000
    img = (img + rng.normal(0, 20, img.shape)).astype(np.float32)
    boxes = grid_boxes(args.height, args.width, 224, 112)
    print(f"image {args.height} x {args.width}, {len(boxes)} windows 224/112, torch threads {torch.get_num_threads()}")
    for layer in args.layers.split(","):
        opts = {"weights": args.weights} if args.weights else {"random_init": True}
        ext = build_extractor("resnet18", layer=layer, downsample=2, **opts)
        ext.extract(img[:512, :512], boxes[:1])  # warm-up
        t = time.perf_counter()
        dense = ext.extract(img, boxes)
        td = time.perf_counter() - t
        t = time.perf_counter()
        crops = ext.extract_crops(img, boxes)
        tc = time.perf_counter() - t
        print(f"resnet18 {layer} (ds 2, {ext.dim}-d): dense {td:.2f} s, per-window {tc:.2f} s -> {tc / td:.1f}x; "
              + agreement(dense, crops))
    hc = build_extractor("handcrafted")
    t = time.perf_counter()
    f = hc.extract(img, boxes, pixel_spacing_mm=0.1)
    print(f"handcrafted ({hc.dim}-d, maps at 0.2 mm): {time.perf_counter() - t:.2f} s for {len(f)} windows")


if __name__ == "__main__":
    main()
