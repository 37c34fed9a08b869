"""Plain records that the store returns: what the services and the GUI read about a project."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from .types import AnnotationStatus, LesionClass, Polygon, WeakLabel


@dataclass(frozen=True)
class PacsOrigin:
    """Where an image imported over DICOMweb lives on its PACS: enough for another machine,
    which lacks the importing machine's file, to retrieve the same instance (WADO-RS).
    ``url`` is the DICOMweb root without credentials (they come from each machine's environment)."""

    url: str
    study_uid: str
    series_uid: str
    sop_uid: str


@dataclass(frozen=True)
class ImageRecord:
    id: int
    patient_key: str
    study_key: str
    source_path: str
    sha256: str
    width: int
    height: int
    bits_stored: int
    pixel_spacing_mm: tuple[float, float] | None
    laterality: str | None
    view: str | None
    photometric: str
    modality: str | None
    window_center: float | None
    window_width: float | None
    weak: WeakLabel
    birads: str | None
    pathology: str | None
    label_source: str | None
    status: AnnotationStatus
    revision: int
    sop_instance_uid: str | None = None
    pacs: PacsOrigin | None = None  # set for images imported from a PACS

    @property
    def mean_spacing_mm(self) -> float | None:
        if not self.pixel_spacing_mm:
            return None
        return float(sum(self.pixel_spacing_mm) / 2.0)

    @property
    def display_name(self) -> str:
        side = f"{self.laterality or '?'}-{self.view or '?'}"
        return f"{self.patient_key} {side}"


@dataclass(frozen=True)
class AnnotationRecord:
    id: int
    image_id: int
    cls: LesionClass
    polygon: Polygon
    annotator: str
    source: str
    created_at: datetime
    modified_at: datetime
    deleted: bool = False


@dataclass(frozen=True)
class RegionSet:
    """The regions of one image under one grid, with their current labels (None = not labelled)."""

    image_id: int
    grid_id: int
    grid_key: str
    boxes: np.ndarray  # (m, 4) int: x0, y0, x1, y1
    inside_fraction: np.ndarray  # (m,)
    labels: list[str | None] = field(default_factory=list)  # "M" / "BN" / "ignored" / None
    iom: np.ndarray | None = None
    annotation_ids: list[int | None] = field(default_factory=list)


@dataclass(frozen=True)
class ModelVersionRecord:
    id: int
    created_at: datetime
    name: str
    extractor_key: str
    grid_key: str
    config: dict
    summary: dict
    metrics: dict
    state: str
    is_active: bool
    note: str | None = None


@dataclass(frozen=True)
class PredictionRecord:
    """One image's outputs under one model version. ``region_scores`` columns:
    p_cls N, B, M; p_det B, M; d_B, d_M."""

    model_version_id: int
    image_id: int
    p_m: float
    p_b: float
    grid_id: int
    region_scores: np.ndarray
