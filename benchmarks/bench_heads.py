"""Head training / scoring speed on 3,000 images x ~200 regions x 128-d cached features, with the
test accuracy next to every time, and a straightforward implementation timed in the same run, as is
the backward over every row (before ``shared_fc`` skipped the rows without a gradient).

    .venv/bin/python benchmarks/bench_heads.py [--reference]

Data: ml.simulate (synthetic region features with a known answer; the oracle max-projection
AUROC is about 0.87). Times are wall-clock on this machine with torch's default thread count.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from contextlib import contextmanager

import numpy as np
import torch

from mammo_annotator.ml import shared_fc
from mammo_annotator.ml.allocator import keep_freed_memory
from mammo_annotator.ml.cv import select_local
from mammo_annotator.ml.losses import ObjectiveWeights, objective
from mammo_annotator.ml.metrics import auroc, top1_hit_rate
from mammo_annotator.ml.model import RegionOutputs, method
from mammo_annotator.ml.scoring import score
from mammo_annotator.ml.simulate import sim_for_size
from mammo_annotator.ml.train import WARM_START, TrainConfig, train, use_bf16
from mammo_annotator.ml.warm import changed_images


def accuracy(model, te) -> str:
    sc = score(model, te)
    hits = top1_hit_rate(te.region_labels, sc.d[:, 1], te.offsets, np.flatnonzero(te.y_m == 1))
    return (f"test AUROC M {auroc(te.y_m, sc.p_m):.3f}  B {auroc(te.y_b, sc.p_b):.3f}  "
            f"top-1 d_M hits lesion {hits:.2f}")


def straightforward_epoch(ds, cfg, batch: int = 256) -> float:
    """The obvious implementation: padded (n, m, D) batches, FC on padding too, nn.Dropout,
    normalisation inside every forward. Returns seconds per epoch (one epoch)."""
    torch.manual_seed(0)
    packed = ds.pack()
    fc, cls, det = torch.nn.Linear(ds.dim, 128), torch.nn.Linear(128, 3), torch.nn.Linear(128, 2)
    drop = torch.nn.Dropout(0.5)
    mean, std = packed.x.mean(0), packed.x.std(0)
    params = [*fc.parameters(), *cls.parameters(), *det.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3, weight_decay=1e-4)
    w = ObjectiveWeights.from_dataset(ds, cfg)
    order = np.random.default_rng(0).permutation(len(ds))
    t0 = time.perf_counter()
    for b0 in range(0, len(ds), batch):
        data = packed.batch(order[b0:b0 + batch])
        x = torch.zeros(data.n, data.m_max, ds.dim)
        x[data.img, data.pos] = data.x
        h = drop(torch.relu(fc((x - mean) / std)))
        out = RegionOutputs(cls(h), det(h), data.valid)
        loss = objective(out, data, cfg, w, len(ds) / data.n)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


@contextmanager
def full_backward():
    """The backward over every row, as before ``shared_fc`` skipped the rows without a gradient."""
    before = shared_fc.SPARSE_BELOW
    shared_fc.SPARSE_BELOW = 0.0
    try:
        yield
    finally:
        shared_fc.SPARSE_BELOW = before


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", action="store_true", help="also a 60-epoch lr 3e-3 run (accuracy ceiling)")
    args = ap.parse_args()
    kept = keep_freed_memory()  # as the app's training process and the command line do
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, freed memory kept for reuse: {kept}")
    t = time.perf_counter()
    tr, te = sim_for_size(3000, seed=1), sim_for_size(1000, seed=2)
    print(f"data: train {len(tr)} images / {len(tr.features)} regions / {tr.dim}-d, test {len(te)} "
          f"({time.perf_counter() - t:.1f} s to simulate)")
    weak = tr.without_local_labels()
    cfg = method("cls_det_rs")
    tc = TrainConfig()
    base = straightforward_epoch(weak, cfg)
    res = train(weak, cfg, tc)
    per_epoch = res.elapsed_s / res.epochs_run
    print(f"epoch: straightforward {base:.2f} s, ours {per_epoch:.2f} s  -> {base / per_epoch:.1f}x")
    print(f"weak Cls-Det-RS full training ({tc.epochs} epochs, batch {tc.batch_size}, lr {tc.lr}): "
          f"{res.elapsed_s:.2f} s   {accuracy(res.model, te)}")
    with full_backward():
        full = train(weak, cfg, tc)
    print(f"  same with the backward over every row: {full.elapsed_s:.2f} s -> {full.elapsed_s / res.elapsed_s:.2f}x   "
          f"{accuracy(full.model, te)}")
    res32 = train(weak, cfg, TrainConfig(bf16=False))
    print(f"  same in float32 (the default uses bfloat16 where the CPU has it: {use_bf16(None, torch.device('cpu'))}): "
          f"{res32.elapsed_s:.2f} s -> {res32.elapsed_s / res.elapsed_s:.2f}x   {accuracy(res32.model, te)}")
    semi_data = select_local(tr, 0.5, 0)
    semi = train(semi_data, method("ss_cls_det_rs"), tc)
    print(f"semi-supervised SS-Cls-Det-RS (50% of M images annotated) full training: {semi.elapsed_s:.2f} s   "
          f"{accuracy(semi.model, te)}")
    with full_backward():
        semi_full = train(semi_data, method("ss_cls_det_rs"), tc)
    print(f"  same with the backward over every row: {semi_full.elapsed_s:.2f} s -> "
          f"{semi_full.elapsed_s / semi.elapsed_s:.2f}x   {accuracy(semi_full.model, te)}")
    # one more annotated image, then a warm-started retrain
    extra = np.flatnonzero((tr.y_m == 1) & ~semi_data.has_local)[0]
    keep = semi_data.has_local.copy()
    keep[extra] = True
    plus_one = tr.with_local_labels(keep)
    focus = changed_images(plus_one, semi.model)  # the app's warm retrain: the changed image in every batch
    warm = train(plus_one, method("ss_cls_det_rs"), WARM_START, init=semi.model, focus=focus)
    print(f"warm-started retrain after one more annotated image ({WARM_START.epochs} epoch, lr {WARM_START.lr}, "
          f"{len(focus)} image in every batch): {warm.elapsed_s:.2f} s   {accuracy(warm.model, te)}")
    # a CPU without native bfloat16 kernels trains in float32: the same two runs there
    semi32 = train(semi_data, method("ss_cls_det_rs"), TrainConfig(bf16=False))
    warm32 = train(plus_one, method("ss_cls_det_rs"), dataclasses.replace(WARM_START, bf16=False), init=semi32.model,
                   focus=changed_images(plus_one, semi32.model))
    print(f"  the same two in float32: {semi32.elapsed_s:.2f} s   {accuracy(semi32.model, te)}\n"
          f"                           {warm32.elapsed_s:.2f} s   {accuracy(warm32.model, te)}")
    t = time.perf_counter()
    score(semi.model, tr)
    print(f"scoring {len(tr)} images: {time.perf_counter() - t:.2f} s")
    if args.reference:
        ref = train(weak, cfg, TrainConfig(epochs=60, lr=3e-3, batch_size=256))
        print(f"reference weak run (60 epochs, lr 3e-3, batch 256): {ref.elapsed_s:.1f} s   {accuracy(ref.model, te)}")


if __name__ == "__main__":
    main()
