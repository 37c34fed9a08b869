"""Training time and per-image extraction time of the learned extractors, against the
hand-crafted floor, in one run (synthetic 1024 x 832 mammograms at 200 micron unless --mias
points to the mini-MIAS folder).

    .venv/bin/python benchmarks/bench_learned_features.py [--steps 150] [--threads 2]
    .venv/bin/python benchmarks/bench_learned_features.py --mias ../shared/datasets/mini-mias
    .venv/bin/python benchmarks/bench_learned_features.py --imagenet resnet18 --layer layer2 [--weights r18.pth]

Prints seconds per training step and for the whole run of each mode (supervised = window labels
+ MIL on weak labels; simclr), per-image dense extraction at one and three scales (112/224/448
px windows), and the hand-crafted extractor's time per image on the same images. With --imagenet
the modes fine-tune that ImageNet trunk (the user's torchvision weights file, or random weights of
the same architecture when none is given: the time does not depend on the values).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from mammo_annotator.core.breast_mask import breast_mask
from mammo_annotator.core.iom import label_regions
from mammo_annotator.core.regions import boxes_array, region_grid
from mammo_annotator.core.synthetic import synthetic_dataset
from mammo_annotator.core.types import GridSpec, RegionLabel
from mammo_annotator.ml.features import build_extractor
from mammo_annotator.ml.features.base import normalise_image
from mammo_annotator.ml.features.learned import BackboneConfig
from mammo_annotator.ml.features.learned_train import ExtractorTrainConfig, TrainImages, train_extractor
from mammo_annotator.ml.features.multiscale import MultiScaleExtractor

CODE = {RegionLabel.M: 1, RegionLabel.BN: 0, RegionLabel.IGNORED: -1}


def images(args) -> tuple[list[np.ndarray], TrainImages]:
    pixels, boxes, labels, ym, yb = [], [], [], [], []
    if args.mias:
        from PIL import Image

        for path in sorted(Path(args.mias).glob("mdb*.png"))[: args.n]:
            px = np.asarray(Image.open(path))
            regions = region_grid(breast_mask(px), GridSpec(size_px=112, stride_px=56))
            pixels.append(px)
            boxes.append(boxes_array(regions))
            labels.append(None)
            ym.append(np.nan)
            yb.append(np.nan)
    else:
        for case in synthetic_dataset(args.n // 2 + 1, seed=0, size=(1024, 832), views=("MLO",)):
            regions = region_grid(case.breast_mask, GridSpec(size_px=112, stride_px=56))
            pixels.append(case.pixels)
            boxes.append(boxes_array(regions))
            labels.append(np.array([CODE[r.label] for r in label_regions(regions, list(case.lesions))], np.int8))
            ym.append(float(case.weak_label.y_m))
            yb.append(float(case.weak_label.y_b))
    work = [normalise_image(p) for p in pixels]
    return pixels, TrainImages(work, boxes, labels, np.array(ym), np.array(yb))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--n", type=int, default=12, help="images")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--mias", default=None)
    ap.add_argument("--imagenet", choices=["resnet18", "resnet34", "resnet50", "vgg16"])
    ap.add_argument("--layer", default="layer2")
    ap.add_argument("--weights", help="torchvision state dict of --imagenet (default: random weights, timing only)")
    args = ap.parse_args()
    bcfg, weights = BackboneConfig(), None
    if args.imagenet:
        bcfg = BackboneConfig(arch=args.imagenet, layer=args.layer)
        weights = args.weights
        if weights is None:
            import tempfile

            import torch

            from mammo_annotator.ml.features.nets import ARCHS

            weights = str(Path(tempfile.mkdtemp()) / f"{args.imagenet}-random.pth")
            torch.save(ARCHS[args.imagenet][0]().state_dict(), weights)
    pixels, data = images(args)
    print(f"{len(pixels)} images, {sum(len(b) for b in data.boxes)} windows (112/56 px)")
    t0 = time.perf_counter()
    hand = build_extractor("handcrafted", default_factor=1)
    for p, b in zip(pixels, data.boxes):
        hand.extract(p, b, 0.2)
    t_hand = (time.perf_counter() - t0) / len(pixels)
    print(f"hand-crafted: {t_hand:.3f} s per image (no training)")
    for mode in ("supervised", "simclr"):
        if mode == "supervised" and all(lab is None for lab in data.labels):
            continue  # real images without labels here: only the self-supervised mode applies
        cfg = ExtractorTrainConfig(mode=mode, steps=args.steps, batch=args.batch, num_threads=args.threads)
        res = train_extractor(data, cfg, bcfg, imagenet_weights=weights)
        ext = res.extractor
        ms = MultiScaleExtractor(ext, (1, 2, 4))
        for p, b in zip(pixels[:2], data.boxes[:2]):  # warm-up
            ext.extract(p, b, 0.2)
        t1 = time.perf_counter()
        for p, b in zip(pixels, data.boxes):
            ext.extract(p, b, 0.2)
        t_one = (time.perf_counter() - t1) / len(pixels)
        t1 = time.perf_counter()
        for p, b in zip(pixels, data.boxes):
            ms.extract(p, b, 0.2)
        t_ms = (time.perf_counter() - t1) / len(pixels)
        print(f"{ext.name:10s}: train {res.elapsed_s:6.1f} s for {res.steps_run} steps ({res.elapsed_s / res.steps_run:.3f} s/step, "
              f"batch {args.batch}); extract {t_one:.3f} s/image ({t_one / t_hand:.2f}x hand-crafted), "
              f"3 scales {t_ms:.3f} s/image; dim {ext.dim}")


if __name__ == "__main__":
    main()
