"""Build the model's RegionDataset from the project database (cached features + labels)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..core.errors import MammoError
from ..core.types import Lesion, RegionLabel
from ..ml.dataset import REGION_BN, REGION_IGNORED, REGION_M, ImageRecord as MlImage, RegionDataset
from ..store import annotations as ann_store
from ..store import images as image_store
from ..store import regions as region_store
from .project import Project

_LABEL_CODE = {RegionLabel.M.value: REGION_M, RegionLabel.BN.value: REGION_BN, RegionLabel.IGNORED.value: REGION_IGNORED}


class NoTrainingDataError(MammoError, ValueError):
    """No image of the project can be trained or evaluated on (a ValueError too, for callers that
    already treat a missing dataset as one)."""


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
            rs = region_store.region_set(s, grid_id)
            if len(rs.boxes) == 0:  # checked first: such an image never gets features
                skipped.append((im.id, "no region inside the breast"))
                continue
            feats = region_store.get_features(s, grid_id, extractor_key)
            if feats is None:
                skipped.append((im.id, f"no cached features for {extractor_key}"))
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
        if not skipped:
            raise NoTrainingDataError(f"{project.path}: the project has no images yet; import mammograms first")
        reasons = Counter(reason for _, reason in skipped)
        raise NoTrainingDataError(
            f"{project.path}: none of its {len(skipped)} images has regions with features: "
            + "; ".join(f"{reason} ({n})" for reason, n in reasons.most_common()))
    return ProjectDataset(RegionDataset.from_records(records, feature_key=extractor_key), ids, grids, skipped)
