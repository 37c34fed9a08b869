"""Read-side queries the viewer needs, Qt-free: the worklist, one image's bundle, the hanging.

The GUI never touches the store directly: it asks these functions for plain records, so the
same views can be rendered headless (screenshots, tests) and the data model stays Qt-free.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np

from ..core.records import AnnotationRecord, ImageRecord, ModelVersionRecord, PredictionRecord, RegionSet
from ..store import annotations as ann_store
from ..store import images as image_store
from ..store import leases as lease_store
from ..store import models as model_store
from ..store import regions as region_store
from .project import Project

# columns of PredictionRecord.region_scores
COL_P_N, COL_P_B, COL_P_M, COL_DET_B, COL_DET_M, COL_D_B, COL_D_M = range(7)
STANDARD_VIEWS = ("R-CC", "L-CC", "R-MLO", "L-MLO")


@dataclass(frozen=True)
class WorklistRow:
    """One line of the worklist: what a reader sorts and filters on."""

    image_id: int
    patient: str
    laterality: str
    view: str
    weak: str  # N / B / M / MB / unknown
    status: str  # AnnotationStatus value
    p_m: float | None
    p_b: float | None
    n_contours: int
    file_name: str = ""
    study_date: str = ""  # as stored (DICOM YYYYMMDD), "" unknown
    study_key: str = ""  # StudyInstanceUID or the dataset's grouping
    on_it: str = ""  # annotators whose lease on the image is live now (team use), comma-separated
    accession: str = ""  # the study's DICOM AccessionNumber, "" unknown

    @property
    def side(self) -> str:
        return f"{self.laterality}-{self.view}"

    @property
    def patient_label(self) -> str:
        return patient_label(self.patient)

    def matches(self, text: str) -> bool:
        """The worklist search: patient id, file name, accession number, study (UID or the
        dataset's grouping) or study date (2024-01-05 and 20240105 alike), case-insensitive."""
        t = text.strip().lower()
        if not t:
            return True
        fields = (self.patient, self.file_name, self.accession, self.study_key, self.study_date)
        if any(t in f.lower() for f in fields):
            return True
        digits = t.replace("-", "").replace(".", "").replace("/", "")
        return bool(digits) and digits.isdigit() and digits in self.study_date.replace("-", "")


def patient_label(key: str) -> str:
    """A patient key for display, without a doubled dataset prefix: "mias-mias002" -> "mias002"."""
    head, sep, rest = key.partition("-")
    return rest if sep and head and rest.lower().startswith(head.lower()) else key


@dataclass(frozen=True)
class Proposal:
    """A region the model points at: its box, class and score d_c."""

    region_index: int
    cls: str  # "M" / "B"
    box: tuple[int, int, int, int]
    score: float


@dataclass(frozen=True)
class ImageBundle:
    """Everything the viewer shows for one image, read in one session."""

    record: ImageRecord
    contours: list[AnnotationRecord]
    regions: RegionSet | None  # the labelling grid (first grid) with its current labels
    model: ModelVersionRecord | None  # active model version
    prediction: PredictionRecord | None  # that model's output for this image
    prediction_boxes: np.ndarray | None = None  # (m, 4) boxes of the prediction's grid
    hanging: dict[str, ImageRecord] = field(default_factory=dict)
    views: dict[str, list[ImageRecord]] = field(default_factory=dict)  # every image of each view, the hung one first

    def proposals(self, cls: str, k: int = 5, threshold: float = 0.0) -> list[Proposal]:
        return top_proposals(self.prediction, self.prediction_boxes, cls, k, threshold)


def worklist(project: Project, image_ids: Collection[int] | None = None, reader: str | None = None) -> list[WorklistRow]:
    """All images (or those of ``image_ids`` that exist) with their status and the active
    model's image probabilities. The rows of a few images are what a save needs: the window
    updates one row instead of re-reading the list. ``reader``: who asks; their own leases are
    left out of ``on_it`` (it says who *else* is on an image)."""
    from sqlalchemy import func, select

    from ..store.schema import AnnotationRow, ImageRow, PredictionRow, StudyRow

    ids = None if image_ids is None else sorted({int(i) for i in image_ids})
    with project.session() as s:
        if ids is None:
            images = image_store.list_images(s)
        else:
            query = image_store.record_query().where(ImageRow.id.in_(ids)).order_by(ImageRow.id)
            images = [image_store.image_record(*r) for r in s.execute(query)]

        def only(query, column):
            return query if ids is None else query.where(column.in_(ids))

        studies = {i: (date, accession) for i, date, accession in s.execute(only(
            select(ImageRow.id, StudyRow.study_date, StudyRow.accession_number).join(StudyRow, ImageRow.study_id == StudyRow.id),
            ImageRow.id))}
        active = model_store.active_model_id(s)
        probs = {} if active is None else {i: (pm, pb) for i, pm, pb in s.execute(only(
            select(PredictionRow.image_id, PredictionRow.p_m, PredictionRow.p_b).where(PredictionRow.model_version_id == active),
            PredictionRow.image_id))}
        on_it = {i: ", ".join(a for a, _, _ in held if a != reader) for i, held in lease_store.image_holders(s).items()}
        counts = dict(s.execute(only(
            select(AnnotationRow.image_id, func.count()).where(AnnotationRow.deleted_at.is_(None)),
            AnnotationRow.image_id).group_by(AnnotationRow.image_id)).all())
    rows = []
    for im in images:
        pm, pb = probs.get(im.id, (None, None))
        date, accession = studies.get(im.id, (None, None))
        rows.append(
            WorklistRow(im.id, im.patient_key, im.laterality or "?", im.view or "?", im.weak.name, im.status.value,
                        pm, pb, int(counts.get(im.id, 0)), _file_name(im.source_path), date or "", im.study_key,
                        on_it.get(im.id, ""), accession or "")
        )
    return rows


def image_names(project: Project, image_ids: Collection[int]) -> dict[int, str]:
    """image id -> "patient R-CC", as the worklist shows it (for lists that name images)."""
    from sqlalchemy import select

    from ..store.schema import ImageRow, PatientRow, StudyRow

    ids = sorted({int(i) for i in image_ids})
    if not ids:
        return {}
    with project.session() as s:
        rows = s.execute(select(ImageRow.id, PatientRow.patient_key, ImageRow.laterality, ImageRow.view)
                         .join(StudyRow, ImageRow.study_id == StudyRow.id)
                         .join(PatientRow, StudyRow.patient_id == PatientRow.id)
                         .where(ImageRow.id.in_(ids))).all()
    return {i: f"{patient_label(key)} {lat or '?'}-{view or '?'}" for i, key, lat, view in rows}


def _file_name(source: str) -> str:
    return source.replace("\\", "/").rsplit("/", 1)[-1]


def active_model(project: Project) -> ModelVersionRecord | None:
    with project.session() as s:
        vid = model_store.active_model_id(s)
        return model_store.get_model_version(s, vid) if vid is not None else None


def image_record(project: Project, image_id: int) -> ImageRecord:
    with project.session() as s:
        return image_store.get_image(s, image_id)


def load_bundle(project: Project, image_id: int) -> ImageBundle:
    """The image's record, live contours, labelled regions, active prediction and hanging."""
    with project.session() as s:
        record = image_store.get_image(s, image_id)
        contours = ann_store.list_annotations(s, image_id)
        grid_id = region_store.grid_id_for(s, image_id)
        regions = region_store.region_set(s, grid_id) if grid_id is not None else None
        vid = model_store.active_model_id(s)
        model = model_store.get_model_version(s, vid) if vid is not None else None
        pred = model_store.prediction(s, vid, image_id) if vid is not None else None
        pboxes = None
        if pred is not None:
            pboxes = regions.boxes if regions is not None and pred.grid_id == grid_id else region_store.region_set(s, pred.grid_id).boxes
        views = _hanging_views(s, record)
    return ImageBundle(record, contours, regions, model, pred, pboxes, {k: v[0] for k, v in views.items()}, views)


def _hanging(session, record: ImageRecord) -> dict[str, ImageRecord]:
    """The patient's standard views (same study preferred), keyed 'R-CC' ... 'L-MLO'."""
    return {k: v[0] for k, v in _hanging_views(session, record).items()}


def _hanging_views(session, record: ImageRecord) -> dict[str, list[ImageRecord]]:
    """Every image of each standard view of the patient, in hanging order (the opened image,
    its study, then the rest): a repeated or spot view is not hidden behind the first one."""
    from sqlalchemy import select

    from ..store.schema import ImageRow, PatientRow, StudyRow

    ids = session.scalars(
        select(ImageRow.id)
        .join(StudyRow, ImageRow.study_id == StudyRow.id)
        .join(PatientRow, StudyRow.patient_id == PatientRow.id)
        .where(PatientRow.patient_key == record.patient_key)
        .order_by(ImageRow.id)
    ).all()
    others = [image_store.get_image(session, i) for i in ids]
    out: dict[str, list[ImageRecord]] = {}
    # the opened image first, then its own study, then the rest
    others.sort(key=lambda r: (r.id != record.id, r.study_key != record.study_key, r.id))
    for im in others:
        key = f"{(im.laterality or '').upper()}-{(im.view or '').upper()}"
        if key in STANDARD_VIEWS:
            out.setdefault(key, []).append(im)
    return out


def hanging(project: Project, image_id: int) -> dict[str, ImageRecord]:
    with project.session() as s:
        return _hanging(s, image_store.get_image(s, image_id))


def top_proposals(pred: PredictionRecord | None, boxes: np.ndarray | None, cls: str, k: int = 5,
                  threshold: float = 0.0, overlap: float = 0.3) -> list[Proposal]:
    """The k best distinct regions by d_c (c = "M" or "B") at or above ``threshold``, best first.

    Grid windows overlap by half, so neighbours of a hot region score nearly as high; a region
    overlapping an already chosen one by more than ``overlap`` (IoU) is skipped (non-maximum
    suppression), so the k boxes point at k places.
    """
    if pred is None or boxes is None or len(boxes) == 0:
        return []
    col = COL_D_M if cls == "M" else COL_D_B
    scores = np.asarray(pred.region_scores[:, col], dtype=float)
    n = min(len(scores), len(boxes))
    b = np.asarray(boxes[:n], dtype=float)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    chosen: list[int] = []
    for i in np.argsort(-scores[:n], kind="stable"):
        if len(chosen) >= k or scores[i] < threshold:
            break
        if chosen:
            c = np.asarray(chosen)
            iw = np.clip(np.minimum(b[c, 2], b[i, 2]) - np.maximum(b[c, 0], b[i, 0]), 0, None)
            ih = np.clip(np.minimum(b[c, 3], b[i, 3]) - np.maximum(b[c, 1], b[i, 1]), 0, None)
            inter = iw * ih
            if np.any(inter / (area[c] + area[i] - inter) > overlap):
                continue
        chosen.append(int(i))
    return [Proposal(i, cls, tuple(int(v) for v in boxes[i]), float(scores[i])) for i in chosen]


def score_map(pred: PredictionRecord | None, boxes: np.ndarray | None, height: int, width: int,
              cls: str = "M", max_side: int = 512, column: int | None = None) -> tuple[np.ndarray, float] | None:
    """A low-resolution heat map of d_c, or of another score ``column`` such as ``COL_P_M`` (max
    over the regions covering each cell), and its scale.

    Returns (map, scale) where one map pixel covers ``scale`` image pixels; None without a prediction.
    """
    if pred is None or boxes is None or len(boxes) == 0:
        return None
    col = column if column is not None else (COL_D_M if cls == "M" else COL_D_B)
    scores = np.asarray(pred.region_scores[:, col], dtype=np.float32)
    scale = max(1.0, max(height, width) / max_side)
    h, w = int(np.ceil(height / scale)), int(np.ceil(width / scale))
    out = np.zeros((h, w), dtype=np.float32)
    b = np.floor(np.asarray(boxes[: len(scores)], dtype=float) / scale).astype(int)
    for (x0, y0, x1, y1), v in zip(b, scores):
        sl = out[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]
        np.maximum(sl, v, out=sl)
    return out, scale


def chest_wall_on_right(pixels: np.ndarray, laterality: str | None) -> bool:
    """Which side the chest wall is on, measured (falls back to the standard display orientation)."""
    try:
        from ..core.breast_mask import chest_wall_side

        return chest_wall_side(np.asarray(pixels)) == "right"
    except Exception:  # an image the segmenter cannot read: trust the header
        return (laterality or "").upper() == "R"


LABEL_CODES = {"BN": 1, "ignored": 2, "M": 3}  # drawing priority: M over ignored over BN


def label_map(regions: RegionSet | None, height: int, width: int, max_side: int = 1024) -> tuple[np.ndarray, float] | None:
    """Low-resolution map of region labels (0 none, 1 BN, 2 ignored, 3 M) and its scale.

    Grid windows overlap (stride = half the size), so each region paints the central half of
    its box: the cells tile the breast and each shows the label of the window centred on it.
    """
    if regions is None or len(regions.boxes) == 0 or not any(regions.labels):
        return None
    scale = max(1.0, max(height, width) / max_side)
    h, w = int(np.ceil(height / scale)), int(np.ceil(width / scale))
    out = np.zeros((h, w), dtype=np.uint8)
    boxes = np.asarray(regions.boxes, dtype=float)
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    hw, hh = (boxes[:, 2] - boxes[:, 0]) / 4, (boxes[:, 3] - boxes[:, 1]) / 4
    codes = np.asarray([LABEL_CODES.get(lab or "", 0) for lab in regions.labels], dtype=np.uint8)
    for k in np.argsort(codes, kind="stable"):
        if codes[k] == 0:
            continue
        x0, x1 = int((cx[k] - hw[k]) / scale), int(np.ceil((cx[k] + hw[k]) / scale))
        y0, y1 = int((cy[k] - hh[k]) / scale), int(np.ceil((cy[k] + hh[k]) / scale))
        out[y0:y1, x0:x1] = np.maximum(out[y0:y1, x0:x1], codes[k])
    return out, scale
