"""Patients, studies and images: insert, find by hash, list, update labels and status."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..core.errors import MammoError
from ..core.records import ImageRecord, PacsOrigin
from ..core.types import AnnotationStatus, ImageMeta, WeakLabel
from .convert import image_record
from .schema import ImageRow, PacsInstanceRow, PatientRow, StudyRow


def _patient(session: Session, key: str) -> PatientRow:
    row = session.scalar(select(PatientRow).where(PatientRow.patient_key == key))
    if row is None:
        row = PatientRow(patient_key=key)
        session.add(row)
        session.flush()
    return row


def _study(session: Session, patient: PatientRow, key: str, date: str | None, accession: str | None) -> StudyRow:
    """The study, created on first sight; a date or accession number it lacks is taken from a
    later image of it that carries one."""
    row = session.scalar(select(StudyRow).where(StudyRow.patient_id == patient.id, StudyRow.study_key == key))
    if row is None:
        row = StudyRow(patient_id=patient.id, study_key=key, study_date=date, accession_number=accession)
        session.add(row)
        session.flush()
    else:
        row.study_date = row.study_date or date
        row.accession_number = row.accession_number or accession
    return row


def image_id_by_hash(session: Session, sha256: str) -> int | None:
    return session.scalar(select(ImageRow.id).where(ImageRow.sha256 == sha256))


def image_ids_by_sop_uid(session: Session, uids: list[str]) -> dict[str, int]:
    """SOP Instance UID -> image id of those already in the project (a PACS import skips them)."""
    out: dict[str, int] = {}
    for k in range(0, len(uids), 500):
        rows = session.execute(select(ImageRow.sop_instance_uid, ImageRow.id).where(ImageRow.sop_instance_uid.in_(uids[k:k + 500])))
        out.update({uid: i for uid, i in rows})
    return out


def add_image(
    session: Session,
    meta: ImageMeta,
    sha256: str,
    patient_key: str,
    study_key: str,
    weak: WeakLabel,
    birads: str | None = None,
    pathology: str | None = None,
    label_source: str | None = None,
    study_date: str | None = None,
    pacs: PacsOrigin | None = None,
) -> int:
    """Insert one image (its patient and study created on first sight; the study's date and
    accession number from ``study_date`` or the file's header); returns its id."""
    patient = _patient(session, patient_key)
    study = _study(session, patient, study_key, study_date or meta.study_date, meta.accession_number)
    spacing = meta.pixel_spacing_mm or (None, None)
    row = ImageRow(
        study_id=study.id,
        source_path=meta.source_path,
        sha256=sha256,
        width=meta.width,
        height=meta.height,
        bits_stored=meta.bits_stored,
        spacing_row_mm=spacing[0],
        spacing_col_mm=spacing[1],
        laterality=meta.laterality,
        view=meta.view,
        photometric=meta.photometric,
        modality=meta.modality,
        window_center=meta.window_center,
        window_width=meta.window_width,
        sop_instance_uid=meta.sop_instance_uid,
        y_m=weak.y_m,
        y_b=weak.y_b,
        birads=birads,
        pathology=pathology,
        label_source=label_source,
        import_warnings="\n".join(meta.warnings) or None,
    )
    session.add(row)
    session.flush()
    if pacs is not None:
        set_pacs_origin(session, row.id, pacs)
    return row.id


def set_pacs_origin(session: Session, image_id: int, pacs: PacsOrigin) -> None:
    """Record (or replace) where the image lives on a PACS."""
    row = session.get(PacsInstanceRow, image_id)
    if row is None:
        session.add(PacsInstanceRow(image_id=image_id, url=pacs.url, study_uid=pacs.study_uid, series_uid=pacs.series_uid,
                                    sop_uid=pacs.sop_uid))
    else:
        row.url, row.study_uid, row.series_uid, row.sop_uid = pacs.url, pacs.study_uid, pacs.series_uid, pacs.sop_uid
    session.flush()


def ids_without_pacs_origin(session: Session, image_ids: list[int]) -> list[int]:
    """Those of ``image_ids`` with no PACS origin recorded (imported from files, or before it was)."""
    out: list[int] = []
    for k in range(0, len(image_ids), 500):
        chunk = image_ids[k:k + 500]
        have = set(session.scalars(select(PacsInstanceRow.image_id).where(PacsInstanceRow.image_id.in_(chunk))))
        out.extend(i for i in chunk if i not in have)
    return out


def record_query():
    """SELECT of what ``image_record`` needs: the image, its patient and study keys, its PACS origin."""
    return (
        select(ImageRow, PatientRow.patient_key, StudyRow.study_key, PacsInstanceRow)
        .join(StudyRow, ImageRow.study_id == StudyRow.id)
        .join(PatientRow, StudyRow.patient_id == PatientRow.id)
        .outerjoin(PacsInstanceRow, PacsInstanceRow.image_id == ImageRow.id)
    )


def get_image(session: Session, image_id: int) -> ImageRecord:
    row = session.execute(record_query().where(ImageRow.id == image_id)).one_or_none()
    if row is None:
        raise KeyError(f"no image with id {image_id}")
    return image_record(*row)


def list_images(session: Session) -> list[ImageRecord]:
    rows = session.execute(record_query().order_by(PatientRow.patient_key, ImageRow.laterality, ImageRow.view, ImageRow.id))
    return [image_record(*r) for r in rows]


def set_status(session: Session, image_id: int, status: AnnotationStatus) -> None:
    row = session.get(ImageRow, image_id)
    row.status = status.value


def set_weak_label(session: Session, image_id: int, weak: WeakLabel, source: str) -> None:
    row = session.get(ImageRow, image_id)
    row.y_m, row.y_b, row.label_source = weak.y_m, weak.y_b, source


def lock_image(session: Session, image_id: int, expected: int | None = None) -> int:
    """Hold the image's row for the rest of the transaction and refuse a stale edit up front.

    On a server, ``SELECT ... FOR UPDATE`` makes a second machine's edit of the same image wait,
    then read the first one's committed revision (and contours), so it is refused instead of
    overwriting; SQLite already lets one writer in at a time (the clause is omitted there).
    """
    rev = session.execute(select(ImageRow.revision).where(ImageRow.id == image_id).with_for_update()).scalar_one_or_none()
    if rev is None:
        raise KeyError(f"no image with id {image_id}")
    if expected is not None and rev != expected:
        raise StaleImageError(image_id, expected, rev)
    return rev


def bump_revision(session: Session, image_id: int, expected: int | None) -> int:
    """Optimistic concurrency: raise ``StaleImageError`` when someone else edited the image first.

    One compare-and-set statement, so two writers can never both move the same revision on."""
    stmt = update(ImageRow).where(ImageRow.id == image_id)
    if expected is not None:
        stmt = stmt.where(ImageRow.revision == expected)
    new = session.execute(stmt.values(revision=ImageRow.revision + 1).returning(ImageRow.revision)).scalar_one_or_none()
    if new is None:
        actual = session.scalar(select(ImageRow.revision).where(ImageRow.id == image_id))
        if actual is None:
            raise KeyError(f"no image with id {image_id}")
        raise StaleImageError(image_id, expected, actual)
    return new


def counts(session: Session) -> dict[str, int]:
    n_images = session.scalar(select(func.count(ImageRow.id)))
    n_patients = session.scalar(select(func.count(PatientRow.id)))
    return {"images": n_images or 0, "patients": n_patients or 0}


class StaleImageError(MammoError):
    """The image changed in the database since the caller read it."""

    def __init__(self, image_id: int, expected: int, actual: int):
        self.image_id = image_id
        super().__init__(
            f"image {image_id} was changed by someone else (revision {actual}, you edited {expected}); "
            "reload it before editing"
        )
