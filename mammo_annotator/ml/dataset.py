"""The data contract between the store/services and the model: cached region features per image.

Regions of all images are kept in one flat array (rows of image i are ``offsets[i]:offsets[i+1]``)
so that packing, mini-batching and subsetting are array operations, never Python loops over
images in the hot path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
import torch

from ..core.types import Lesion

REGION_M, REGION_BN, REGION_IGNORED = 1, 0, -1


@dataclass(frozen=True)
class ImageRecord:
    """One image as the model sees it (what services hand over per image)."""

    features: np.ndarray  # (m, D) float32
    boxes: np.ndarray  # (m, 4) x0, y0, x1, y1 in full-resolution pixels
    y_m: float  # 1, 0 or NaN (unknown)
    y_b: float
    region_labels: np.ndarray | None = None  # (m,) int8: 1 = M, 0 = BN, -1 = ignored; None = no local annotation
    patient_id: str = ""
    laterality: str = ""
    view: str = ""
    image_id: str = ""
    lesions: tuple[Lesion, ...] = ()  # true lesion polygons (all classes), for FROC


def _rows_of(offsets: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat row indices of images ``idx`` (in that order) and the per-image counts, vectorised."""
    counts = offsets[idx + 1] - offsets[idx]
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), counts
    starts = np.repeat(offsets[idx] - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    return starts + np.arange(total, dtype=np.int64), counts


@dataclass
class RegionDataset:
    """Region features, boxes and labels of n images, stored flat (see module doc)."""

    features: np.ndarray  # (N, D) float32, all regions of all images
    boxes: np.ndarray  # (N, 4)
    offsets: np.ndarray  # (n + 1,) int64
    y_m: np.ndarray  # (n,) float32, NaN = unknown
    y_b: np.ndarray  # (n,) float32
    region_labels: np.ndarray  # (N,) int8, -1 where ignored or where the image has no local annotation
    has_local: np.ndarray  # (n,) bool: the image carries region labels
    patient_ids: np.ndarray  # (n,) object (str)
    laterality: np.ndarray
    view: np.ndarray
    image_ids: np.ndarray
    lesions: list[tuple[Lesion, ...]] = field(default_factory=list)
    feature_key: str = ""

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_records(cls, records: Sequence[ImageRecord], feature_key: str = "") -> "RegionDataset":
        if not records:
            raise ValueError("a RegionDataset needs at least one image")
        dims = {r.features.shape[1] for r in records}
        if len(dims) != 1:
            raise ValueError(f"all images must have the same feature dimension, got {sorted(dims)}")
        counts = np.array([len(r.features) for r in records], dtype=np.int64)
        if np.any(counts == 0):
            bad = [r.image_id for r, c in zip(records, counts) if c == 0][:5]
            raise ValueError(f"images without regions cannot be used: {bad}")
        labels = []
        for r, c in zip(records, counts):
            if len(r.boxes) != c:
                raise ValueError(f"image {r.image_id!r}: {len(r.boxes)} boxes for {c} feature rows")
            if r.region_labels is None:
                labels.append(np.full(c, REGION_IGNORED, dtype=np.int8))
            else:
                lab = np.asarray(r.region_labels, dtype=np.int8)
                if lab.shape != (c,):
                    raise ValueError(f"image {r.image_id!r}: region labels of shape {lab.shape}, expected ({c},)")
                labels.append(lab)
        obj = lambda xs: np.array([str(x) for x in xs], dtype=object)  # noqa: E731
        ds = cls(
            features=np.ascontiguousarray(np.concatenate([r.features for r in records]), dtype=np.float32),
            boxes=np.concatenate([np.asarray(r.boxes, dtype=np.float64).reshape(-1, 4) for r in records]),
            offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            y_m=np.array([r.y_m for r in records], dtype=np.float32),
            y_b=np.array([r.y_b for r in records], dtype=np.float32),
            region_labels=np.concatenate(labels),
            has_local=np.array([r.region_labels is not None for r in records]),
            patient_ids=obj(r.patient_id for r in records),
            laterality=obj(r.laterality for r in records),
            view=obj(r.view for r in records),
            image_ids=obj(r.image_id or str(i) for i, r in enumerate(records)),
            lesions=[tuple(r.lesions) for r in records],
            feature_key=feature_key,
        )
        ds.validate()
        return ds

    def validate(self) -> None:
        """Fail early and plainly on inconsistent arrays (NaN features would poison training)."""
        n, total = len(self.y_m), len(self.features)
        if self.offsets.shape != (n + 1,) or self.offsets[0] != 0 or self.offsets[-1] != total:
            raise ValueError("offsets do not match the number of images / regions")
        if np.any(np.diff(self.offsets) <= 0):
            raise ValueError("every image needs at least one region")
        if not np.all(np.isfinite(self.features)):
            raise ValueError("region features contain NaN or infinite values")
        for name in ("y_m", "y_b"):
            v = getattr(self, name)
            ok = np.isnan(v) | (v == 0) | (v == 1)
            if not np.all(ok):
                raise ValueError(f"{name} must be 0, 1 or NaN")
        if not np.all(np.isin(self.region_labels, (REGION_M, REGION_BN, REGION_IGNORED))):
            raise ValueError("region labels must be 1 (M), 0 (BN) or -1 (ignored)")
        if not self.lesions:
            self.lesions = [()] * n

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return len(self.y_m)

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    @property
    def n_regions(self) -> np.ndarray:
        return np.diff(self.offsets)

    def region_slice(self, i: int) -> slice:
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def __getitem__(self, i: int) -> ImageRecord:
        s = self.region_slice(i)
        return ImageRecord(
            features=self.features[s], boxes=self.boxes[s], y_m=float(self.y_m[i]), y_b=float(self.y_b[i]),
            region_labels=self.region_labels[s] if self.has_local[i] else None,
            patient_id=self.patient_ids[i], laterality=self.laterality[i], view=self.view[i],
            image_id=self.image_ids[i], lesions=self.lesions[i],
        )

    def class_names(self) -> np.ndarray:
        """'N', 'B', 'M', 'MB' or '?' per image (used for stratification and plots); a malignant
        image whose benign findings are unknown is 'M'."""
        table = {(0, 0): "N", (0, 1): "B", (1, 0): "M", (1, 1): "MB"}
        out = []
        for m, b in zip(self.y_m, self.y_b):
            if m == 1 and np.isnan(b):
                out.append("M")
            else:
                out.append("?" if np.isnan(m) or np.isnan(b) else table[(int(m), int(b))])
        return np.array(out, dtype=object)

    def subset(self, indices: Sequence[int] | np.ndarray) -> "RegionDataset":
        """A new dataset of the given images, in the given order (arrays copied)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        rows, counts = _rows_of(self.offsets, idx)
        return RegionDataset(
            features=self.features[rows], boxes=self.boxes[rows],
            offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            y_m=self.y_m[idx], y_b=self.y_b[idx], region_labels=self.region_labels[rows],
            has_local=self.has_local[idx], patient_ids=self.patient_ids[idx], laterality=self.laterality[idx],
            view=self.view[idx], image_ids=self.image_ids[idx], lesions=[self.lesions[i] for i in idx],
            feature_key=self.feature_key,
        )

    def with_local_labels(self, keep: np.ndarray) -> "RegionDataset":
        """Copy where only images with ``keep[i]`` (bool, n) retain their region labels."""
        keep = np.asarray(keep, dtype=bool) & self.has_local
        labels = np.where(np.repeat(keep, self.n_regions), self.region_labels, REGION_IGNORED).astype(np.int8)
        # features and boxes are shared, not copied: they are never written after construction,
        # and a copy of a 3,000-image feature matrix cost half a second per retrain
        return replace(self, region_labels=labels, has_local=keep.copy(), lesions=list(self.lesions))

    def without_local_labels(self) -> "RegionDataset":
        return self.with_local_labels(np.zeros(len(self), dtype=bool))

    def summary(self) -> dict:
        """Plain-JSON description stored with a trained model."""
        names = self.class_names()
        return {
            "n_images": int(len(self)), "n_regions": int(len(self.features)), "dim": self.dim,
            "n_patients": int(len(set(self.patient_ids.tolist()))),
            "classes": {c: int(np.sum(names == c)) for c in ("N", "B", "M", "MB", "?")},
            "n_local": int(self.has_local.sum()),
            "n_region_labels": {"M": int(np.sum(self.region_labels == REGION_M)),
                                "BN": int(np.sum(self.region_labels == REGION_BN))},
            "feature_key": self.feature_key,
            "label_digests": self.label_digests(),
        }

    def label_digests(self) -> dict[str, str]:
        """A short digest per image id of everything a label can change (the weak labels and, for a
        locally annotated image, its region labels): a warm retrain finds the changed images by it."""
        out = {}
        for i, image_id in enumerate(self.image_ids):
            h = hashlib.blake2b(np.array([self.y_m[i], self.y_b[i]], dtype=np.float32).tobytes(), digest_size=8)
            if self.has_local[i]:
                h.update(np.ascontiguousarray(self.region_labels[self.region_slice(i)], dtype=np.int8).tobytes())
            out[str(image_id)] = h.hexdigest()
        return out

    def pack(self, device: torch.device | str = "cpu") -> "PackedData":
        return PackedData.from_dataset(self, device)


@dataclass
class PackedData:
    """Torch view of a dataset: flat region rows plus per-image tensors; padding by masks.

    The shared FC layer runs on the flat rows only (no compute on padding); its small outputs
    are scattered into (n, m_max, .) tensors with a validity mask for the per-image softmaxes.
    """

    x: torch.Tensor  # (N, D) float32
    img: torch.Tensor  # (N,) image index in this pack
    pos: torch.Tensor  # (N,) position of the region inside its image
    counts: torch.Tensor  # (n,)
    valid: torch.Tensor  # (n, m_max) bool
    y_m: torch.Tensor  # (n,) float, NaN unknown
    y_b: torch.Tensor
    region_labels: torch.Tensor  # (n, m_max) int8, -1 where none/padding
    has_local: torch.Tensor  # (n,) bool
    offsets: np.ndarray  # (n + 1,) numpy, for batching

    @property
    def n(self) -> int:
        return int(self.counts.shape[0])

    @property
    def m_max(self) -> int:
        return int(self.valid.shape[1])

    @classmethod
    def from_dataset(cls, ds: RegionDataset, device: torch.device | str = "cpu") -> "PackedData":
        counts = ds.n_regions
        n, m_max = len(ds), int(counts.max())
        img = np.repeat(np.arange(n), counts)
        pos = np.arange(len(img)) - np.repeat(ds.offsets[:-1], counts)
        valid = np.zeros((n, m_max), dtype=bool)
        valid[img, pos] = True
        labels = np.full((n, m_max), REGION_IGNORED, dtype=np.int8)
        labels[img, pos] = ds.region_labels
        dev = torch.device(device)
        return cls(
            x=torch.from_numpy(np.ascontiguousarray(ds.features, dtype=np.float32)).to(dev),
            img=torch.from_numpy(img).to(dev), pos=torch.from_numpy(pos).to(dev),
            counts=torch.from_numpy(counts.copy()).to(dev), valid=torch.from_numpy(valid).to(dev),
            y_m=torch.from_numpy(ds.y_m.copy()).to(dev), y_b=torch.from_numpy(ds.y_b.copy()).to(dev),
            region_labels=torch.from_numpy(labels).to(dev), has_local=torch.from_numpy(ds.has_local.copy()).to(dev),
            offsets=ds.offsets.copy(),
        )

    def batch(self, idx: np.ndarray) -> "PackedData":
        """Images ``idx`` of this pack with all their regions (vectorised gather, same device)."""
        idx = np.asarray(idx, dtype=np.int64)
        rows, counts = _rows_of(self.offsets, idx)
        dev = self.x.device
        n = len(idx)
        m_max = int(counts.max())
        t_idx = torch.from_numpy(idx).to(dev)
        img = torch.from_numpy(np.repeat(np.arange(n), counts)).to(dev)
        pos = self.pos[torch.from_numpy(rows).to(dev)]
        valid = self.valid[t_idx, :m_max]
        return PackedData(
            x=self.x[torch.from_numpy(rows).to(dev)], img=img, pos=pos, counts=self.counts[t_idx], valid=valid,
            y_m=self.y_m[t_idx], y_b=self.y_b[t_idx], region_labels=self.region_labels[t_idx, :m_max],
            has_local=self.has_local[t_idx], offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        )


def concat_datasets(parts: Sequence[RegionDataset]) -> RegionDataset:
    """Images of several datasets in one (same feature dimension and feature key)."""
    keys = {p.feature_key for p in parts}
    if len(keys) > 1:
        raise ValueError(f"cannot mix features of different extractors: {sorted(keys)}")
    if len({p.dim for p in parts}) > 1:
        raise ValueError("cannot mix feature dimensions")
    counts = np.concatenate([p.n_regions for p in parts])
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
    ds = RegionDataset(
        features=cat("features"), boxes=cat("boxes"),
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        y_m=cat("y_m"), y_b=cat("y_b"), region_labels=cat("region_labels"), has_local=cat("has_local"),
        patient_ids=cat("patient_ids"), laterality=cat("laterality"), view=cat("view"), image_ids=cat("image_ids"),
        lesions=[les for p in parts for les in p.lesions], feature_key=parts[0].feature_key,
    )
    ds.validate()
    return ds
