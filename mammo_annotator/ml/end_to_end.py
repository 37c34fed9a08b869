"""End-to-end training: the backbone's last stage and the dual-branch heads trained together
with the method's objective (L_W + lambda2 L_F), which the paper names as future work.

CPU budget: the backbone's trunk is frozen and its maps are computed once per image (cached);
only the last stage (the tuned part of the backbone's ``top``, BatchNorm statistics frozen) and
the heads learn, on whole images, with window features pooled from the map by differentiable box
means and box maxima. The result is a new extractor (mode "e2e", its own key) plus the head
trained with it.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Callable, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .dataset import PackedData, RegionDataset
from .features.base import scale_boxes
from .features.learned import LearnedExtractor
from .losses import ObjectiveWeights, objective
from .model import DualBranchHead, HeadConfig, TrainedModel
from .train import CancelToken, resolve_device, torch_threads


def torch_box_features(fmap: torch.Tensor, boxes: np.ndarray, scale: float, pool: str = "avgmax") -> torch.Tensor:
    """(C, h, w) map -> (m, C or 2C) box means (+ maxima), differentiable; matches pool_boxes.

    The cells are grouped by size on the host and their indices moved to the map's device: mixed
    with a GPU map, host index tensors fail (and a grouping on the GPU would wait for it)."""
    c, h, w = fmap.shape
    cells_np = scale_boxes(boxes, scale, (h, w))
    cells = torch.from_numpy(cells_np).to(fmap.device)
    integral = F.pad(fmap.cumsum(1).cumsum(2), (1, 0, 1, 0))
    x0, y0, x1, y1 = cells.T
    s = integral[:, y1, x1] - integral[:, y0, x1] - integral[:, y1, x0] + integral[:, y0, x0]
    parts = [(s / ((x1 - x0) * (y1 - y0)).to(fmap.dtype)).T]
    if pool == "avgmax":
        out = fmap.new_zeros((len(cells), c))
        sizes = np.stack([cells_np[:, 3] - cells_np[:, 1], cells_np[:, 2] - cells_np[:, 0]], 1)
        for hh, ww in np.unique(sizes, axis=0).tolist():
            sel = torch.from_numpy(np.flatnonzero((sizes[:, 0] == hh) & (sizes[:, 1] == ww))).to(fmap.device)
            pooled = F.max_pool2d(F.max_pool2d(fmap[None], (hh, 1), stride=1), (1, ww), stride=1)[0]
            out = out.index_put((sel,), pooled[:, y0[sel], x0[sel]].T)
        parts.append(out)
    return torch.cat(parts, 1)


def split_top(net: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(frozen, tuned) parts of a backbone's ``top``: the part a top names frozen (EfficientNet-Lite:
    stage 6) runs once per image with the trunk; the other part is what end-to-end training tunes."""
    split = getattr(net.top, "split", None)
    return split() if split is not None else (torch.nn.Identity(), net.top)


class FrozenMap(NamedTuple):
    """An image's frozen map with its work image's downsampling factor: the factor sets the
    windows' scale on the map, and keeping it here spares a second decode of the image."""
    map: torch.Tensor
    factor: int


class MapCache:
    """Frozen maps by extractor key and image id, kept in memory up to ``max_bytes``; a map past
    the budget is computed again whenever it is needed (a 3,000-image full-field project's maps
    would take about 25 GB)."""

    def __init__(self, max_bytes: int = 2 << 30):
        self.max_bytes, self.bytes = max_bytes, 0
        self._maps: dict[str, FrozenMap] = {}

    def get(self, key: str) -> FrozenMap | None:
        return self._maps.get(key)

    def put(self, key: str, m: FrozenMap) -> None:
        size = m.map.numel() * m.map.element_size()
        if key not in self._maps and self.bytes + size <= self.max_bytes:
            self._maps[key] = m
            self.bytes += size

    def clear(self) -> None:
        self._maps.clear()
        self.bytes = 0

    def __iter__(self):
        return iter(self._maps)

    def __len__(self) -> int:
        return len(self._maps)


def cached_maps(ext: LearnedExtractor, image_ids: Sequence[str], work_of: Callable[[str], tuple[np.ndarray, int]],
                cache: MapCache | None = None) -> list[FrozenMap]:
    """The frozen maps (trunk, then the top's frozen part) of each image, on the extractor's device;
    ``work_of`` is called only for a map that is not in ``cache``.

    ``cache`` shares them between the epochs and runs of one backbone: they depend on its frozen
    weights only. A Lite backbone runs through its folded copy.
    """
    net = ext.inference_net
    frozen = split_top(net)[0]
    stride, out = ext.cfg.stride, []
    with torch.no_grad():
        for i in image_ids:
            key = f"{ext.key}/{i}"
            m = cache.get(key) if cache is not None else None
            if m is None:
                work, factor = work_of(i)
                h, w = work.shape
                pad = np.pad(work, ((0, -h % stride), (0, -w % stride)))
                t = torch.from_numpy(np.ascontiguousarray(pad, np.float32))[None, None].to(ext.device)
                if net is not ext.net:
                    t = t.contiguous(memory_format=torch.channels_last)
                m = FrozenMap(frozen(net.trunk(t))[0].contiguous(), int(factor))
                if cache is not None:
                    cache.put(key, m)
            out.append(m)
    return out


def tuned_box_features(tuned: torch.nn.Module, maps: Sequence[torch.Tensor], boxes: Sequence[np.ndarray],
                       scales: Sequence[float], pool: str) -> list[torch.Tensor]:
    """Window features of each image from its frozen map through the tuned part; maps of one
    shape go through it as one batch."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for k, m in enumerate(maps):
        groups.setdefault(tuple(m.shape), []).append(k)
    out: list[torch.Tensor | None] = [None] * len(maps)
    for members in groups.values():
        # unbind, not top[j]: each indexing would back-propagate a zero-filled copy of the whole batch
        for k, top in zip(members, tuned(torch.stack([maps[k] for k in members])).unbind(0)):
            out[k] = torch_box_features(top, boxes[k], scales[k], pool)
    return out  # type: ignore[return-value]


def train_end_to_end(ext: LearnedExtractor, ds: RegionDataset, work_of: Callable[[str], tuple[np.ndarray, int]],
                     cfg: HeadConfig, epochs: int = 5, lr: float = 1e-3, batch_images: int = 16, seed: int = 0,
                     device: str = "auto", num_threads: int | None = None, cancel: CancelToken | None = None,
                     progress: Callable[[int, int, float, float], None] | None = None,
                     cache: MapCache | None = None, init_head: DualBranchHead | None = None
                     ) -> tuple[LearnedExtractor, TrainedModel, list[float]]:
    """Fine-tune ``ext``'s last stage with a head on ``ds`` (labels as the caller chose): a fresh
    head, or a copy of ``init_head`` (heads trained on ``ext``'s frozen features, normaliser kept),
    so joint training starts where heads-only training ended."""
    t0 = time.perf_counter()
    dev = resolve_device(device)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = copy.deepcopy(ext.net).to(dev).eval()
    tuned = split_top(net)[1]
    stride = ext.cfg.stride
    with torch_threads(num_threads):
        cache = cache if cache is not None else MapCache()
        ids = [str(i) for i in ds.image_ids]

        def features(idx: np.ndarray) -> torch.Tensor:
            fms = cached_maps(ext, [ids[i] for i in idx], work_of, cache)
            boxes = [ds.boxes[ds.region_slice(int(i))] for i in idx]
            return torch.cat(tuned_box_features(tuned, [f.map.to(dev) for f in fms], boxes,
                                                [f.factor * stride for f in fms], ext.cfg.pool))

        if init_head is not None:
            head = copy.deepcopy(init_head).to(dev)
        else:
            head = DualBranchHead(ext.dim, cfg).to(dev)
            with torch.no_grad():
                x0 = torch.cat([features(np.arange(b0, min(b0 + batch_images, len(ds))))
                                for b0 in range(0, len(ds), batch_images)])
                head.set_normaliser(x0.mean(0), x0.std(0))
        weights = ObjectiveWeights.from_dataset(ds, cfg)
        packed = ds.pack(dev)
        params = list(tuned.parameters()) + list(head.parameters())
        opt = torch.optim.Adam([{"params": list(tuned.parameters()), "lr": lr},
                                {"params": list(head.parameters()), "lr": lr * 3}], weight_decay=1e-4)
        n, history = len(ds), []
        steps = epochs * math.ceil(n / batch_images)
        step = 0
        for epoch in range(epochs):
            head.train()
            order = rng.permutation(n)
            total = 0.0
            for b0 in range(0, n, batch_images):
                if cancel is not None and cancel.is_set():
                    break
                idx = order[b0:b0 + batch_images]
                data: PackedData = packed.batch(idx)
                data.x = head.normalise(features(idx))
                for g, base in zip(opt.param_groups, (lr, lr * 3)):
                    g["lr"] = base * 0.5 * (1 + math.cos(math.pi * step / max(1, steps)))
                loss = objective(head(data, normalised=True), data, cfg, weights, n / len(idx))[0]
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 5.0)
                opt.step()
                total += float(loss.detach()) * len(idx) / n
                step += 1
            history.append(total)
            if progress is not None:
                progress(epoch + 1, epochs, total, time.perf_counter() - t0)
            if cancel is not None and cancel.is_set():
                break
    net.eval()  # the extractor below puts it on its own device
    head.cpu().eval()
    new_ext = LearnedExtractor(net, ext.cfg, "e2e", {**ext.meta, "e2e_from": ext.key, "e2e_epochs": len(history)})
    model = TrainedModel(head=head, config=cfg, feature_key=new_ext.key, train_summary=ds.summary(),
                         metrics={"final_loss": history[-1] if history else None}, train_config={"epochs": epochs, "lr": lr})
    return new_ext, model, history
