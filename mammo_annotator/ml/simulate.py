"""Synthetic region features with a known answer, for tests, benchmarks and CV smoke runs.

Each image is a grid of 224 x 112-stride windows; a malignant (benign) finding is a circular
lesion whose overlapping windows get a class direction added to their features in proportion
to their IoM with the lesion. Normal structure varies per image (a random per-image offset) and
"decoy" windows carry a direction correlated with the malignant one in every image, so the
weak labels alone are ambiguous and local annotations help (what the semi-supervised test needs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.contours import circle_polygon
from ..core.iom import iom_matrix
from ..core.regions import grid_boxes
from ..core.types import Lesion, LesionClass
from .dataset import REGION_BN, REGION_IGNORED, REGION_M, ImageRecord, RegionDataset


@dataclass(frozen=True)
class SimSpec:
    n_patients: int = 150
    regions: tuple[int, int] = (150, 250)  # per image, uniform
    dim: int = 128
    class_probs: tuple[float, float, float, float] = (0.35, 0.35, 0.2, 0.1)  # breast classes N, B, M, MB
    signal_m: float = 4.0
    signal_b: float = 4.0
    mb_cos: float = 0.3  # cosine between the malignant and benign directions
    decoys: int = 0  # decoy windows per image
    decoy_signal: float = 4.0
    decoy_cos: float = 0.7  # cosine between the decoy and malignant directions
    image_offset: float = 0.5  # std of the per-image shift of all regions
    lesion_radius: tuple[float, float] = (60.0, 160.0)
    feature_key: str = "sim:1"


def _unit(rng: np.random.Generator, dim: int, base: np.ndarray | None = None, cos: float = 0.0) -> np.ndarray:
    v = rng.standard_normal(dim)
    if base is not None:
        v -= v.dot(base) * base
        v = cos * base + np.sqrt(1 - cos**2) * v / np.linalg.norm(v)
    return v / np.linalg.norm(v)


def _image(rng, spec: SimSpec, dirs: dict, classes: tuple[str, ...], pid: str, lat: str, view: str, iid: str):
    m = int(rng.integers(spec.regions[0], spec.regions[1] + 1))
    cols = 12
    all_boxes = grid_boxes(112 * (int(np.ceil(m / cols)) + 1), 112 * (cols + 1), 224, 112)
    boxes = all_boxes[:m]
    x = rng.standard_normal((m, spec.dim)) + spec.image_offset * rng.standard_normal(spec.dim)
    lesions = []
    for c in classes:
        centre = boxes[rng.integers(m)]
        cx = rng.uniform(centre[0] + 56, centre[2] - 56)
        cy = rng.uniform(centre[1] + 56, centre[3] - 56)
        lesions.append(Lesion(LesionClass(c), circle_polygon(cx, cy, rng.uniform(*spec.lesion_radius), 32)))
    iom = iom_matrix(boxes, lesions)
    for j, les in enumerate(lesions):
        s = spec.signal_m if les.cls is LesionClass.MALIGNANT else spec.signal_b
        x += np.outer(iom[:, j] * s, dirs[les.cls.value])
    decoy = rng.choice(m, size=min(spec.decoys, m), replace=False)
    x[decoy] += spec.decoy_signal * dirs["decoy"]
    mal = [j for j, les in enumerate(lesions) if les.cls is LesionClass.MALIGNANT]
    labels = np.full(m, REGION_BN, dtype=np.int8)
    if mal:
        best = iom[:, mal].max(axis=1)
        labels[best > 0] = REGION_IGNORED
        labels[best >= 0.5] = REGION_M
    return ImageRecord(
        features=x.astype(np.float32), boxes=boxes, y_m=float("M" in classes), y_b=float("B" in classes),
        region_labels=labels, patient_id=pid, laterality=lat, view=view, image_id=iid, lesions=tuple(lesions),
    )


def simulate_regions(spec: SimSpec = SimSpec(), seed: int = 0) -> RegionDataset:
    """Patients with two breasts (L, R), each imaged CC and MLO; every image carries region labels
    (drop them with ``with_local_labels`` to simulate partial annotation)."""
    rng = np.random.default_rng(seed)
    dir_rng = np.random.default_rng(12345)  # class directions fixed across seeds: same "disease"
    dirs = {"M": _unit(dir_rng, spec.dim)}
    dirs["B"] = _unit(dir_rng, spec.dim, dirs["M"], spec.mb_cos)
    dirs["decoy"] = _unit(dir_rng, spec.dim, dirs["M"], spec.decoy_cos)
    names = [(), ("B",), ("M",), ("M", "B")]
    records = []
    for p in range(spec.n_patients):
        for lat in ("L", "R"):
            classes = names[rng.choice(4, p=np.asarray(spec.class_probs) / sum(spec.class_probs))]
            for view in ("CC", "MLO"):
                records.append(_image(rng, spec, dirs, classes, f"P{p:05d}", lat, view, f"P{p:05d}_{lat}_{view}"))
    return RegionDataset.from_records(records, feature_key=spec.feature_key)


def sim_for_size(n_images: int, regions: int = 200, dim: int = 128, seed: int = 0, **kw) -> RegionDataset:
    """About ``n_images`` images (4 per patient) of ~``regions`` regions each."""
    spec = SimSpec(n_patients=max(1, n_images // 4), regions=(int(regions * 0.75), int(regions * 1.25)), dim=dim, **kw)
    return simulate_regions(spec, seed)
