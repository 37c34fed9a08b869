"""The project database tables. Only the store package sees these classes."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class PatientRow(Base):
    __tablename__ = "patients"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_key: Mapped[str] = mapped_column(String(128), unique=True)  # id from the source
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StudyRow(Base):
    __tablename__ = "studies"
    __table_args__ = (UniqueConstraint("patient_id", "study_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    study_key: Mapped[str] = mapped_column(String(128))  # StudyInstanceUID or the dataset's grouping
    study_date: Mapped[str | None] = mapped_column(String(16))
    accession_number: Mapped[str | None] = mapped_column(String(64))  # DICOM AccessionNumber (an identifier)


class ImageRow(Base):
    __tablename__ = "images"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    source_path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bits_stored: Mapped[int] = mapped_column(Integer, default=8)
    spacing_row_mm: Mapped[float | None] = mapped_column(Float)
    spacing_col_mm: Mapped[float | None] = mapped_column(Float)
    laterality: Mapped[str | None] = mapped_column(String(1))
    view: Mapped[str | None] = mapped_column(String(16))
    photometric: Mapped[str] = mapped_column(String(16), default="MONOCHROME2")
    modality: Mapped[str | None] = mapped_column(String(16))
    window_center: Mapped[float | None] = mapped_column(Float)
    window_width: Mapped[float | None] = mapped_column(Float)
    sop_instance_uid: Mapped[str | None] = mapped_column(String(128))
    y_m: Mapped[int | None] = mapped_column(Integer)
    y_b: Mapped[int | None] = mapped_column(Integer)
    birads: Mapped[str | None] = mapped_column(String(8))
    pathology: Mapped[str | None] = mapped_column(Text)
    label_source: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="not_annotated")
    revision: Mapped[int] = mapped_column(Integer, default=1)  # bumped on every annotation edit
    import_warnings: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class AnnotationRow(Base):
    __tablename__ = "annotations"
    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    cls: Mapped[str] = mapped_column(String(1))  # "M" or "B"
    polygon_json: Mapped[str] = mapped_column(Text)  # [[x, y], ...] in image pixels
    annotator: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(64), default="drawn")  # drawn / dataset name / import
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # soft delete


class AnnotationRevisionRow(Base):
    """Every earlier state of an annotation, so an edit never destroys the previous outline."""

    __tablename__ = "annotation_revisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    annotation_id: Mapped[int] = mapped_column(ForeignKey("annotations.id", ondelete="CASCADE"), index=True)
    cls: Mapped[str] = mapped_column(String(1))
    polygon_json: Mapped[str] = mapped_column(Text)
    annotator: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))  # create / edit / delete / restore
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RegionGridRow(Base):
    __tablename__ = "region_grids"
    __table_args__ = (UniqueConstraint("image_id", "grid_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    grid_key: Mapped[str] = mapped_column(String(64))
    size_px: Mapped[int] = mapped_column(Integer)
    stride_px: Mapped[int] = mapped_column(Integer)
    min_inside: Mapped[float] = mapped_column(Float)


class RegionRow(Base):
    __tablename__ = "regions"
    __table_args__ = (UniqueConstraint("grid_id", "idx"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("region_grids.id", ondelete="CASCADE"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    x0: Mapped[int] = mapped_column(Integer)
    y0: Mapped[int] = mapped_column(Integer)
    x1: Mapped[int] = mapped_column(Integer)
    y1: Mapped[int] = mapped_column(Integer)
    inside_fraction: Mapped[float] = mapped_column(Float)


class RegionLabelRow(Base):
    __tablename__ = "region_labels"
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(8))  # M / BN / ignored
    iom: Mapped[float] = mapped_column(Float)
    alpha: Mapped[float] = mapped_column(Float)
    annotation_id: Mapped[int | None] = mapped_column(ForeignKey("annotations.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FeatureRow(Base):
    __tablename__ = "features"
    __table_args__ = (UniqueConstraint("grid_id", "extractor_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("region_grids.id", ondelete="CASCADE"), index=True)
    extractor_key: Mapped[str] = mapped_column(String(128))
    n_regions: Mapped[int] = mapped_column(Integer)
    dim: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)  # float32, row-major (n_regions, dim)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    name: Mapped[str] = mapped_column(String(64))  # configuration, e.g. "SS-Cls-Det-RS"
    extractor_key: Mapped[str] = mapped_column(String(128))
    grid_key: Mapped[str] = mapped_column(String(64))
    config_json: Mapped[str] = mapped_column(Text)
    summary_json: Mapped[str] = mapped_column(Text)  # training-set summary
    metrics_json: Mapped[str] = mapped_column(Text)
    weights: Mapped[bytes] = mapped_column(LargeBinary)  # torch tensors only, loaded weights_only
    state: Mapped[str] = mapped_column(String(16), default="done")  # done / diverged / worse / failed
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)


class ExtractorWeightsRow(Base):
    """Weights of a feature extractor trained in the project (issue 7), keyed by the extractor
    key that cached features and model versions record: the project file is self-contained."""

    __tablename__ = "extractor_weights"
    extractor_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    meta_json: Mapped[str] = mapped_column(Text)  # how it was trained (mode, steps, images, seconds)
    weights: Mapped[bytes] = mapped_column(LargeBinary)  # tensors and strings only, loaded weights_only


class PredictionRow(Base):
    __tablename__ = "predictions"
    __table_args__ = (UniqueConstraint("model_version_id", "image_id"), Index("ix_pred_image", "image_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    p_m: Mapped[float] = mapped_column(Float)
    p_b: Mapped[float] = mapped_column(Float)
    grid_id: Mapped[int] = mapped_column(ForeignKey("region_grids.id", ondelete="CASCADE"))
    region_scores: Mapped[bytes] = mapped_column(LargeBinary)  # float32 (n_regions, 7): p_cls N,B,M, p_det B,M, d_B, d_M


class SettingRow(Base):
    """Project-wide settings (grid, alpha, default extractor), key -> JSON value."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value_json: Mapped[str] = mapped_column(Text)


class ImageLeaseRow(Base):
    """Who has an image open now (issue 14): renewed while the image is shown, expires on its own
    when the app is closed or the machine dies. Presence only: edits are guarded by revisions."""

    __tablename__ = "image_leases"
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    annotator: Mapped[str] = mapped_column(String(128), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[float] = mapped_column(Float, index=True)  # Unix time


class JobLockRow(Base):
    """One project-wide job at a time across machines (the retraining job): the row is taken by
    one atomic insert or by an update of an expired row, and renewed while the job runs."""

    __tablename__ = "job_locks"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))  # annotator@host pid
    started_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)


class PacsInstanceRow(Base):
    """Where an image imported over DICOMweb came from (issue 14): its PACS and UIDs, so a machine
    without the importing machine's file retrieves the same instance again. No credentials."""

    __tablename__ = "pacs_instances"
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    url: Mapped[str] = mapped_column(Text)  # the DICOMweb root, user/password, query and fragment removed
    study_uid: Mapped[str] = mapped_column(String(128))
    series_uid: Mapped[str] = mapped_column(String(128))
    sop_uid: Mapped[str] = mapped_column(String(128))
