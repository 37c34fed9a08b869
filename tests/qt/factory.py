"""A small demo project for GUI tests and screenshots (Qt-free): synthetic 16-bit mammograms
imported through the real importer, plus a fake model version with region scores.

The real synthetic generator and trainer live elsewhere; this stays deliberately simple.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mammo_annotator.core.types import GridSpec, WeakLabel
from mammo_annotator.services.importing import ImportItem, import_items
from mammo_annotator.services.project import Project, open_project
from mammo_annotator.store import models as model_store
from mammo_annotator.store import regions as region_store


@dataclass(frozen=True)
class DemoImage:
    patient: str
    laterality: str
    view: str
    weak: WeakLabel
    mass: tuple[float, float] | None  # centre as fractions of (width, height) from the chest wall


def _smooth_noise(rng: np.random.Generator, h: int, w: int, scale: int) -> np.ndarray:
    small = rng.normal(size=(max(2, h // scale), max(2, w // scale)))
    img = Image.fromarray(((small - small.min()) / np.ptp(small) * 255).astype(np.uint8))
    return np.asarray(img.resize((w, h), Image.BICUBIC), dtype=np.float32) / 255.0


def synthetic_mammogram(h: int, w: int, laterality: str, view: str, mass: tuple[float, float] | None,
                        seed: int = 0) -> np.ndarray:
    """uint16, 12-bit: a half-ellipse breast against the chest wall (right side for R, standard
    display orientation), tissue texture, optional pectoral (MLO) and a bright spiculated mass."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = xx if laterality == "L" else (w - 1 - xx)  # distance from the chest wall
    r = np.sqrt((d / (0.78 * w)) ** 2 + ((yy - h / 2) / (0.46 * h)) ** 2)
    breast = r < 1.0
    thickness = np.sqrt(np.clip(1 - r**2, 0, 1))
    tissue = 0.55 * _smooth_noise(rng, h, w, 40) + 0.3 * _smooth_noise(rng, h, w, 12) + 0.15 * _smooth_noise(rng, h, w, 4)
    dense = np.clip(1.2 - r, 0, 1) * tissue
    img = 900 + 1400 * thickness + 1300 * dense
    if view == "MLO":
        pect = d < (0.35 * w) * (1 - yy / (0.55 * h))
        img = np.where(pect & breast, img + 700, img)
    if mass is not None:
        cx = mass[0] * w if laterality == "L" else w - 1 - mass[0] * w
        cy = mass[1] * h
        ang = np.arctan2(yy - cy, xx - cx)
        rad = 0.045 * min(h, w) * (1 + 0.25 * np.sin(7 * ang))
        dist = np.hypot(xx - cx, yy - cy)
        img += 1100 * np.clip(1.5 - dist / rad, 0, 1)
    img = img + rng.normal(0, 25, size=img.shape)
    img = np.where(breast, img, 40 + rng.normal(0, 6, size=img.shape))
    return np.clip(img, 0, 4095).astype(np.uint16)


DEFAULT_IMAGES = (
    DemoImage("P001", "R", "CC", WeakLabel(0, 0), None),
    DemoImage("P001", "L", "CC", WeakLabel(1, 0), (0.45, 0.40)),
    DemoImage("P001", "R", "MLO", WeakLabel(0, 0), None),
    DemoImage("P001", "L", "MLO", WeakLabel(1, 0), (0.50, 0.45)),
    DemoImage("P002", "L", "CC", WeakLabel(0, 1), (0.35, 0.60)),
    DemoImage("P003", "R", "MLO", WeakLabel(0, 0), None),
)


def build_demo_project(folder: Path, size: tuple[int, int] = (512, 416), grid: GridSpec = GridSpec(64, 32),
                       images: tuple[DemoImage, ...] = DEFAULT_IMAGES, with_model: bool = True) -> Project:
    """Write the PNGs, import them, and (optionally) add an active model with region scores."""
    folder.mkdir(parents=True, exist_ok=True)
    project = open_project(folder / "project.sqlite", create=True)
    project.set_grid_spec(grid)
    h, w = size
    items = []
    for k, im in enumerate(images):
        pixels = synthetic_mammogram(h, w, im.laterality, im.view, im.mass, seed=k)
        path = folder / f"{im.patient}_{im.laterality}{im.view}.png"
        Image.fromarray(pixels).save(path)
        items.append(ImportItem(path=path, patient_key=im.patient, study_key=f"{im.patient}-S1", weak=im.weak,
                                laterality=im.laterality, view=im.view, label_source="demo"))
    report = import_items(project, items)
    assert not report.failed, report.failed
    if with_model:
        add_fake_model(project, images, size)
    return project


def add_fake_model(project: Project, images: tuple[DemoImage, ...], size: tuple[int, int], name: str = "demo-v1") -> int:
    """A model version whose d_M peaks at each image's mass and d_B somewhere plausible."""
    h, w = size
    from mammo_annotator.services.viewing import worklist

    rows = {(r.patient, r.laterality, r.view): r.image_id for r in worklist(project)}
    with project.session() as s:
        vid = model_store.add_model_version(s, name, "demo-extractor", GridSpec(64, 32).key(), {}, {"images": len(rows)},
                                            {"auroc": 0.8}, b"")
        rng = np.random.default_rng(1)
        for im in images:
            image_id = rows[(im.patient, im.laterality, im.view)]
            grid_id = region_store.grid_id_for(s, image_id)
            boxes = region_store.region_set(s, grid_id).boxes.astype(float)
            cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
            if im.mass is not None:
                mx = im.mass[0] * w if im.laterality == "L" else w - 1 - im.mass[0] * w
                near = np.exp(-((cx - mx) ** 2 + (cy - im.mass[1] * h) ** 2) / (2 * (0.08 * w) ** 2))
            else:
                near = np.zeros(len(boxes))
            p_m = np.clip(0.05 + 0.85 * near + rng.uniform(0, 0.05, len(boxes)), 0, 0.95)
            p_b = np.clip(rng.uniform(0.02, 0.3, len(boxes)), 0, 1 - p_m)
            p_n = 1 - p_m - p_b
            det_m = np.exp(4 * p_m) / np.exp(4 * p_m).sum()
            det_b = np.exp(4 * p_b) / np.exp(4 * p_b).sum()
            scores = np.stack([p_n, p_b, p_m, det_b, det_m, p_b * det_b, p_m * det_m], axis=1)
            scores[:, 5:] /= max(scores[:, 5:].max(), 1e-6)  # readable scores for the demo
            model_store.put_prediction(s, vid, image_id, grid_id, float(p_m.max() * 0.9), float(p_b.max()), scores)
        model_store.activate(s, vid)
    project.events.emit("model_activated", version_id=vid)
    return vid
