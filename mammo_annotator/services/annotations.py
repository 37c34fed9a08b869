"""Save, edit and delete contours; region labels are recomputed in the same transaction.

The flow of one contour: GUI -> ``save_contour`` -> ``core.contours.check_contour`` ->
``core.iom.label_regions`` -> store (annotation + region labels, one transaction) -> event.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..core.contours import check_contour
from ..core.consensus import LabelRule, consensus_labels
from ..core.records import AnnotationRecord
from ..core.types import AnnotationStatus, Lesion, LesionClass, Polygon
from ..store import annotations as ann_store
from ..store import images as image_store
from ..store import models as model_store
from ..store import regions as region_store
from .project import Project


LABEL_RULE_SETTING = "label_rule"


@dataclass(frozen=True)
class EditResult:
    """What an edit did: the annotation, the image's new revision and any repairs made."""

    annotation_id: int | None
    image_id: int
    revision: int
    repairs: tuple[str, ...] = ()


def announced(project: Project, result: EditResult) -> EditResult:
    """Tell the project's listeners about a committed edit; returns it. An edit made in a worker
    thread (``announce=False``) is announced from the GUI thread once it is taken up there, so
    the views refresh in the same order as after an edit made in place."""
    project.events.emit("annotations_changed", image_id=result.image_id)
    return result


def relabel_image(session: Session, image_id: int, alpha: float) -> None:
    """Recompute every grid's region labels of one image from its live contours.

    Labels exist only for images that count as locally annotated (a malignant contour drawn,
    or "no malignant finding" confirmed); for the others every BN would be a guess.
    """
    image = image_store.get_image(session, image_id)
    lesions: dict[str, list[Lesion]] = {}
    for a in ann_store.list_annotations(session, image_id):
        lesions.setdefault(a.annotator, []).append(Lesion(a.cls, a.polygon, a.id))
    rule = LabelRule.from_setting(model_store.get_setting(session, LABEL_RULE_SETTING))  # several annotators: core.consensus
    labelled = image.status in (AnnotationStatus.CONTOURED, AnnotationStatus.NO_MALIGNANT)
    for grid_id in region_store.grids_of_image(session, image_id):
        if not labelled:
            region_store.clear_labels(session, grid_id)
            continue
        regions = region_store.regions_of(session, grid_id)
        region_store.write_labels(session, grid_id, consensus_labels(regions, lesions, rule, alpha), alpha)


def _refresh_status(session: Session, image_id: int) -> None:
    """CONTOURED while a malignant contour lives; back to NOT_ANNOTATED when the last one goes."""
    image = image_store.get_image(session, image_id)
    has_m = any(a.cls is LesionClass.MALIGNANT for a in ann_store.list_annotations(session, image_id))
    if has_m:
        image_store.set_status(session, image_id, AnnotationStatus.CONTOURED)
    elif image.status is AnnotationStatus.CONTOURED:
        image_store.set_status(session, image_id, AnnotationStatus.NOT_ANNOTATED)


def save_contour(
    project: Project,
    image_id: int,
    points: Polygon | list | object,
    annotator: str,
    cls: LesionClass = LesionClass.MALIGNANT,
    expected_revision: int | None = None,
    source: str = "drawn",
    announce: bool = True,
) -> EditResult:
    """Store a new contour (checked and, where obvious, repaired) and relabel the image's regions."""
    alpha = project.alpha()
    with project.session() as s:
        image_store.lock_image(s, image_id, expected_revision)
        image = image_store.get_image(s, image_id)
        checked = check_contour(points, image.width, image.height)
        ann_id = ann_store.add_annotation(s, image_id, cls, checked.polygon, annotator, source)
        _refresh_status(s, image_id)
        relabel_image(s, image_id, alpha)
        revision = image_store.bump_revision(s, image_id, expected_revision)
    result = EditResult(ann_id, image_id, revision, checked.repairs)
    return announced(project, result) if announce else result


def edit_contour(
    project: Project,
    annotation_id: int,
    annotator: str,
    points: Polygon | list | None = None,
    cls: LesionClass | None = None,
    expected_revision: int | None = None,
    announce: bool = True,
) -> EditResult:
    """Change a contour's outline and/or class; the earlier state stays in the revision trail."""
    alpha = project.alpha()
    with project.session() as s:
        image_id = ann_store.image_of(s, annotation_id)
        image_store.lock_image(s, image_id, expected_revision)
        image = image_store.get_image(s, image_id)
        repairs: tuple[str, ...] = ()
        polygon = None
        if points is not None:
            checked = check_contour(points, image.width, image.height)
            polygon, repairs = checked.polygon, checked.repairs
        ann_store.update_annotation(s, annotation_id, annotator, polygon=polygon, cls=cls)
        _refresh_status(s, image_id)
        relabel_image(s, image_id, alpha)
        revision = image_store.bump_revision(s, image_id, expected_revision)
    result = EditResult(annotation_id, image_id, revision, repairs)
    return announced(project, result) if announce else result


def delete_contour(project: Project, annotation_id: int, annotator: str, expected_revision: int | None = None,
                   announce: bool = True) -> EditResult:
    """Soft-delete: the contour disappears from labels and views but stays restorable."""
    return _set_deleted(project, annotation_id, annotator, expected_revision, True, announce)


def restore_contour(project: Project, annotation_id: int, annotator: str, expected_revision: int | None = None,
                    announce: bool = True) -> EditResult:
    """Undo of a delete."""
    return _set_deleted(project, annotation_id, annotator, expected_revision, False, announce)


def _set_deleted(project: Project, annotation_id: int, annotator: str, expected: int | None, deleted: bool,
                 announce: bool) -> EditResult:
    alpha = project.alpha()
    with project.session() as s:
        image_id = ann_store.image_of(s, annotation_id)
        image_store.lock_image(s, image_id, expected)
        if deleted:
            ann_store.soft_delete(s, annotation_id, annotator)
        else:
            ann_store.restore(s, annotation_id, annotator)
        _refresh_status(s, image_id)
        relabel_image(s, image_id, alpha)
        revision = image_store.bump_revision(s, image_id, expected)
    result = EditResult(annotation_id, image_id, revision)
    return announced(project, result) if announce else result


def set_no_malignant(project: Project, image_id: int, annotator: str, confirmed: bool = True,
                     expected_revision: int | None = None, announce: bool = True) -> EditResult:
    """Confirm (or withdraw) that the image holds no malignant finding: all its regions become BN."""
    alpha = project.alpha()
    with project.session() as s:
        image_store.lock_image(s, image_id, expected_revision)
        anns = ann_store.list_annotations(s, image_id)
        if confirmed and any(a.cls is LesionClass.MALIGNANT for a in anns):
            from ..core.errors import MammoError

            raise MammoError("the image has malignant contours; delete them before confirming 'no malignant finding'")
        status = AnnotationStatus.NO_MALIGNANT if confirmed else AnnotationStatus.NOT_ANNOTATED
        image_store.set_status(s, image_id, status)
        relabel_image(s, image_id, alpha)
        revision = image_store.bump_revision(s, image_id, expected_revision)
    result = EditResult(None, image_id, revision)
    return announced(project, result) if announce else result


def contours(project: Project, image_id: int) -> list[AnnotationRecord]:
    with project.session() as s:
        return ann_store.list_annotations(s, image_id)
