"""Build the model's RegionDataset from the project database (cached features + labels)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.types import Lesion, RegionLabel
from ..ml.dataset import REGION_BN, REGION_IGNORED, REGION_M, ImageRecord as MlImage, RegionDataset
from ..store import annotations as ann_store
from ..store import images as image_store
from ..store import regions as region_store
from .project import Project

_LABEL_CODE = {RegionLabel.M.value: REGION_M, RegionLabel.BN.value: REGION_BN, RegionLabel.IGNORED.value: REGION_IGNORED}


@dataclass(frozen=True)
class ProjectDataset:
    """The dataset plus how its rows map back to the database."""

    data: RegionDataset
    image_ids: list[int]
    grid_ids: list[int]
    skipped: list[tuple[int, str]]  # (image id, why it is not in the dataset)


def _nan(v: int | None) -> float:
    return float("nan") if v is None else float(v)


def load_dataset(project: Project, extractor_key: str, grid_key: str | None = None, image_ids: list[int] | None = None) -> ProjectDataset:
    """Every image with cached features for ``extractor_key`` (one grid per image).

    Region labels are passed only for locally annotated images; the others contribute their
    weak labels alone. Images without regions or features are listed in ``skipped``.
    """
    records: list[MlImage] = []
    ids: list[int] = []
    grids: list[int] = []
    skipped: list[tuple[int, str]] = []
    with project.session() as s:
        images = image_store.list_images(s)
        if image_ids is not None:
            wanted = set(image_ids)
            images = [im for im in images if im.id in wanted]
        for im in images:
            grid_id = region_store.grid_id_for(s, im.id, grid_key)
            if grid_id is None:
                skipped.append((im.id, "no region grid"))
                continue
            feats = region_store.get_features(s, grid_id, extractor_key)
            if feats is None:
                skipped.append((im.id, f"no cached features for {extractor_key}"))
                continue
            rs = region_store.region_set(s, grid_id)
            if len(rs.boxes) == 0:
                skipped.append((im.id, "no region inside the breast"))
                continue
            labelled = any(lab is not None for lab in rs.labels)
            labels = np.array([_LABEL_CODE[lab] for lab in rs.labels], dtype=np.int8) if labelled else None
            lesions = tuple(Lesion(a.cls, a.polygon, a.id) for a in ann_store.list_annotations(s, im.id))
            records.append(
                MlImage(
                    features=feats, boxes=rs.boxes, y_m=_nan(im.weak.y_m), y_b=_nan(im.weak.y_b), region_labels=labels,
                    patient_id=im.patient_key, laterality=im.laterality or "", view=im.view or "", image_id=str(im.id),
                    lesions=lesions,
                )
            )
            ids.append(im.id)
            grids.append(grid_id)
    if not records:
        raise ValueError("no image of the project has regions with cached features yet")
    return ProjectDataset(RegionDataset.from_records(records, feature_key=extractor_key), ids, grids, skipped)
