"""Import images with their labels: each image in its own transaction, failures reported, never fatal.

Adapters (DICOM folders, PNG/TIFF + CSV, mini-MIAS, INbreast) turn their sources into
``ImportItem``s; ``import_items`` does the rest: read, hash, skip duplicates, segment the
breast, lay the region grid, store the image, its lesion contours and their region labels.
"""

from __future__ import annotations

import dataclasses
import os
from contextlib import nullcontext
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
from sqlalchemy.exc import IntegrityError

from ..core.breast_mask import breast_mask
from ..core.contours import check_contour
from ..core.errors import InvalidContourError, MammoError
from ..core.imageio import content_sha256, read_image, resolved
from ..core.progress import CancelToken, ProgressFn, check_cancel, no_progress
from ..core.records import PacsOrigin
from ..core.regions import region_grid
from ..core.spacing import implausible_spacing
from ..core.types import AnnotationStatus, ImageMeta, Lesion, LesionClass, LoadedImage, WeakLabel
from ..store import annotations as ann_store
from ..store import images as image_store
from ..store import regions as region_store
from ..store.engine import DatabaseError
from .annotations import relabel_image
from .import_outcome import KEY_MAX, fit_key, outcome  # noqa: F401 - KEY_MAX: importable from here
from .pixels import put_cached
from .project import Project

READERS = 2  # images read and segmented ahead of the one being stored (at most the machine's cores)
NOT_IMPORTED = "not imported: the import stopped when the project's database could no longer store images"


@dataclass(frozen=True)
class ImportItem:
    """One image to import and what its source says about it (None = take it from the file)."""

    path: Path
    patient_key: str | None = None
    study_key: str | None = None
    weak: WeakLabel = WeakLabel(None, None)
    birads: str | None = None
    pathology: str | None = None
    label_source: str | None = None
    laterality: str | None = None
    view: str | None = None
    pixel_spacing_mm: tuple[float, float] | None = None
    lesions: tuple[Lesion, ...] = ()
    lesions_complete: bool = False  # every malignant finding located: its contours label the regions
    annotator: str = "import"
    notes: tuple[str, ...] = ()
    pacs: PacsOrigin | None = None  # retrieved over DICOMweb: recorded so other machines can fetch it


@dataclass
class ImportReport:
    imported: list[int] = field(default_factory=list)
    duplicates: list[tuple[str, int]] = field(default_factory=list)  # (path, existing image id)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (path, warning)
    cancelled: bool = False
    stopped: str = ""  # why the batch stopped early: the project's database cannot store images (server gone, locked, full)

    def summary(self) -> str:
        parts = [f"{len(self.imported)} imported", f"{len(self.duplicates)} already in the project", f"{len(self.failed)} failed"]
        if self.cancelled:
            parts.append("stopped by the user")
        if self.stopped:
            parts.append(f"stopped: {self.stopped}; run the import again once that is resolved "
                         "(the images already imported are recognised)")
        return ", ".join(parts)


def _meta_with_overrides(meta: ImageMeta, item: ImportItem, report: ImportReport) -> ImageMeta:
    changes = {}
    if item.laterality:
        changes["laterality"] = item.laterality
    if item.view:
        changes["view"] = item.view
    if item.pixel_spacing_mm and not meta.pixel_spacing_mm:
        why = implausible_spacing(item.pixel_spacing_mm, meta.width, meta.height)
        if why is None:
            changes["pixel_spacing_mm"] = item.pixel_spacing_mm
        else:
            row, col = item.pixel_spacing_mm
            report.warnings.append((str(item.path), f"the dataset's pixel spacing {row:g} x {col:g} mm {why}; ignored"))
    return dataclasses.replace(meta, **changes) if changes else meta


def import_one(project: Project, item: ImportItem, report: ImportReport) -> int | None:
    """Import one image file in one transaction; records the outcome in ``report``."""
    item = dataclasses.replace(item, path=resolved(item.path))  # stored paths work from any folder
    with outcome(project, str(item.path), report):
        sha = content_sha256(item.path)
        if _known(project, sha, str(item.path), report):
            return None
        return import_loaded(project, item, read_image(item.path), sha, report)
    return None


def _existing(project: Project, sha: str) -> int | None:
    with project.session() as s:
        return image_store.image_id_by_hash(s, sha)


def _known(project: Project, sha: str, path: str, report: ImportReport) -> bool:
    existing = _existing(project, sha)
    if existing is not None:
        report.duplicates.append((path, existing))
    return existing is not None


def import_loaded(project: Project, item: ImportItem, loaded: LoadedImage, sha: str, report: ImportReport,
                  mask: np.ndarray | None = None) -> int | None:
    """Store an image whose pixels are already read: mask (unless given), grid, contours and
    labels, one transaction."""
    path = str(item.path)
    if _known(project, sha, path, report):
        return None
    meta = _meta_with_overrides(loaded.meta, item, report)
    if mask is None:
        mask = breast_mask(loaded.pixels, view=meta.view, laterality=meta.laterality)
    spec = project.grid_spec()
    spacing = meta.mean_spacing_mm
    regions = region_grid(mask, spec, spacing)
    lesions, complete = [], item.lesions_complete
    for lesion in item.lesions:
        try:
            lesions.append(dataclasses.replace(lesion, polygon=check_contour(lesion.polygon, meta.width, meta.height).polygon))
        except InvalidContourError as exc:
            report.warnings.append((path, f"lesion contour skipped: {exc}"))
            complete = complete and lesion.cls is not LesionClass.MALIGNANT
    patient = fit_key(item.patient_key or meta.patient_id or item.path.stem, "patient", path, report)
    study = fit_key(item.study_key or meta.study_uid or patient, "study", path, report)
    alpha = project.alpha()
    for attempt in (1, 2):
        try:
            with project.session() as s:
                image_id = image_store.add_image(s, meta, sha, patient, study, item.weak, item.birads, item.pathology,
                                                 item.label_source, pacs=item.pacs)
                region_store.add_grid(s, image_id, spec, spacing, regions)
                for lesion in lesions:
                    ann_store.add_annotation(s, image_id, lesion.cls, lesion.polygon, item.annotator,
                                             source=item.label_source or "import")
                if complete and any(les.cls is LesionClass.MALIGNANT for les in lesions):
                    image_store.set_status(s, image_id, AnnotationStatus.CONTOURED)
                relabel_image(s, image_id, alpha)
            break
        except DatabaseError as exc:
            # another importer (a colleague on the same server) stored this image, its patient or
            # its study between our check and our write: once rolled back, the retry finds them
            if attempt == 2 or not isinstance(exc.__cause__, IntegrityError):
                raise
            if _known(project, sha, path, report):
                return None
    try:
        put_cached(sha, loaded.pixels)
    except OSError as exc:  # the image is stored; its pixels are read from the source file instead
        report.warnings.append((path, f"pixel cache not written ({exc.strerror or exc}); the source file is read on open"))
    for w in (*meta.warnings, *item.notes):
        report.warnings.append((path, w))
    if not regions:
        report.warnings.append((path, "no region of the grid lies inside the breast (image too small or mask empty)"))
    report.imported.append(image_id)
    return image_id


def _read_and_segment(item: ImportItem) -> tuple[LoadedImage, np.ndarray]:
    """The slow part of an import, free of the database: it runs in a reader thread (numpy,
    scipy and the image decoders release the GIL), ahead of the images being stored."""
    loaded = read_image(item.path)
    meta = _meta_with_overrides(loaded.meta, item, ImportReport())  # its warnings are recorded when stored
    return loaded, breast_mask(loaded.pixels, view=meta.view, laterality=meta.laterality)


@dataclass
class _Ahead:
    """One item of the batch, checked in order on the calling thread: a new image has its read
    running; a file already in the project, or one that failed the check, is settled when its
    turn comes, so the report keeps the items' order."""

    item: ImportItem
    sha: str | None = None
    existing: int | None = None
    error: Exception | None = None
    read: Future | None = None


def _check(project: Project, item: ImportItem, pool: ThreadPoolExecutor) -> _Ahead:
    item = dataclasses.replace(item, path=resolved(item.path))  # stored paths work from any folder
    ahead = _Ahead(item)
    try:
        ahead.sha = content_sha256(item.path)
        ahead.existing = _existing(project, ahead.sha)
    except Exception as exc:  # recorded in the item's turn, as import_one records it
        ahead.error = exc
        return ahead
    if ahead.existing is None:
        ahead.read = pool.submit(_read_and_segment, item)
    return ahead


def _store(project: Project, ahead: _Ahead, report: ImportReport) -> None:
    path = str(ahead.item.path)
    if isinstance(ahead.error, DatabaseError):  # the database failed at the check, maybe for a moment: once more, alone
        import_one(project, ahead.item, report)
        return
    with outcome(project, path, report):
        if ahead.error is not None:
            raise ahead.error
        if ahead.existing is not None:
            report.duplicates.append((path, ahead.existing))
            return
        loaded, mask = ahead.read.result()
        import_loaded(project, ahead.item, loaded, ahead.sha, report, mask=mask)


def import_items(
    project: Project,
    items: Iterable[ImportItem],
    progress: ProgressFn = no_progress,
    cancel: CancelToken | None = None,
    report: ImportReport | None = None,
    readers: int = READERS,
) -> ImportReport:
    """Import every item; a failing image is reported and the others go on. A database server
    that went away ends the batch (each file would wait for its connection timeout to fail):
    the files left are reported as not imported, and running the import again finishes it.

    Images are stored one at a time, in order, on the calling thread. With ``readers`` > 0 the
    next ones are read and segmented meanwhile in that many threads (1.4-1.9x faster on two
    cores); a file already in the project is recognised by its content before it is read. The
    window imports with ``readers=0``: its thread shares the GIL with the readers, and they made
    it stall for about half a second (``benchmarks/bench_import_stall.py``)."""
    items = list(items)
    report = report or ImportReport()
    readers = max(0, min(readers, os.cpu_count() or 1))
    ahead: deque[_Ahead] = deque()
    checked = 0
    pool_or_none = ThreadPoolExecutor(readers, thread_name_prefix="import-read") if readers else nullcontext()
    with pool_or_none as pool:
        try:
            for k, item in enumerate(items):
                progress(k, len(items), f"importing {item.path.name}")
                try:
                    check_cancel(cancel)
                except MammoError:
                    report.cancelled = True
                    break
                if readers == 0:
                    import_one(project, item, report)
                else:
                    while checked < len(items) and len(ahead) <= readers:  # this item and the next ones
                        ahead.append(_check(project, items[checked], pool))
                        checked += 1
                    _store(project, ahead.popleft(), report)
                if report.stopped:
                    report.failed += [(str(rest.path), NOT_IMPORTED) for rest in items[k + 1:]]
                    break
        finally:
            for left in ahead:  # cancelled, stopped or failed: the reads not begun are dropped
                if left.read is not None:
                    left.read.cancel()
    progress(len(items), len(items), report.summary())
    if report.imported:
        project.events.emit("images_imported", image_ids=list(report.imported))
    return report
