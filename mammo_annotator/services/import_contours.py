"""Bring contours exported as GeoJSON or COCO (by this app or a compatible tool) into a project.

Each exported image is matched to a project image by content hash (``keep_ids`` exports), by
pseudonym (exports of a project that shares this project's pseudonym secret, e.g. a copy of it)
or by a unique file name, and must have the same size. Its contours are checked like drawn ones,
its annotation status is restored and its region labels recomputed, all in one transaction per
image, so the same contours give the same region labels as in the exporting project.

A file is read and checked in full (``contour_files``) before any of its images is written; an
image with any invalid contour is skipped whole, keeping the contours it had.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from ..core.contours import check_contour
from ..core.errors import InvalidContourError, LabelFileError
from ..core.progress import CancelToken, ProgressFn, check_cancel, no_progress
from ..core.types import AnnotationStatus, LesionClass
from ..store import annotations as ann_store
from ..store import batches
from ..store import images as image_store
from .annotations import relabel_image
from .contour_files import ExportedImage, raw_size, read_contour_file, short
from .export.pseudonyms import Pseudonyms
from .project import Project

__all__ = ["ContourImportReport", "import_contours", "read_contour_file"]

MAX_LISTED_PROBLEMS = 3  # invalid contours named in one skip reason


@dataclass
class ContourImportReport:
    images: int = 0
    contours: int = 0
    unmatched: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (image key, reason)
    warnings: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason): unreadable files

    def summary(self) -> str:
        text = (f"{self.contours} contours imported on {self.images} images, {len(self.unmatched)} images not found "
                f"in the project, {len(self.skipped)} skipped")
        return text + (f", {len(self.failed)} files unreadable" if self.failed else "")


class _Skip(Exception):
    """An exported image that cannot be applied; the reason goes to the report, the batch goes on."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Plan:
    """An exported image checked in full before its transaction, so it is written whole or not at all."""

    contours: list[tuple]  # (class, checked outline, annotator, created, modified)
    status: str | None  # the exported annotation status, when it is one this app knows
    notes: list[str]  # warnings reported once the image is written (repairs, an ignored status)


class _Matcher:
    """Finds the project image an exported image refers to."""

    def __init__(self, project: Project):
        pseudo = Pseudonyms.for_project(project)
        self.by_sha, self.by_pseudonym, self.size = {}, {}, {}
        names: dict[str, list[int]] = defaultdict(list)
        after = 0
        while True:
            with project.session() as s:
                page = batches.images_after(s, after, 500)
            if not page:
                break
            for im in page:
                self.by_sha[im.sha256] = im.id
                self.by_pseudonym[pseudo.image(im.sha256)] = im.id
                names[PurePath(im.source_path.replace("\\", "/")).name].append(im.id)
                self.size[im.id] = (im.width, im.height)
            after = page[-1].id
        self.by_name = {k: v[0] for k, v in names.items() if len(v) == 1}

    def find(self, props: dict) -> int | None:
        for value, table in ((props.get("sha256"), self.by_sha), (props.get("image"), self.by_pseudonym),
                             (props.get("image_file") or props.get("file_name"), self.by_name)):
            if value and str(value) in table:
                return table[str(value)]
        return None


def import_contours(project: Project, paths: list[str | os.PathLike], replace: bool = False,
                    progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> ContourImportReport:
    """Import the contours of GeoJSON / COCO files; images that already hold contours are skipped
    unless ``replace`` (their contours are then soft-deleted first, so nothing is lost).

    A file that cannot be read fails alone; an image whose size, status or any contour is wrong is
    skipped with the reason and keeps what it had: an image's contours are imported all or none."""
    report = ContourImportReport()
    matcher = _Matcher(project)
    alpha = project.alpha()
    for path in paths:
        try:  # one unreadable file is reported; the other files are still imported
            header, images = read_contour_file(path)
        except LabelFileError as exc:
            report.failed.append((str(path), exc.reason))
            continue
        warning = _alpha_warning(header, alpha)
        if warning:
            report.warnings.append(f"{path}: {warning}")
        for k, (key, entry) in enumerate(images.items()):
            check_cancel(cancel)
            progress(k, len(images), f"importing contours from {Path(path).name}")
            image_id = matcher.find(entry.props)
            if image_id is None:
                report.unmatched.append(key)
                continue
            try:
                plan = _plan(entry, matcher.size[image_id], key)
            except _Skip as exc:
                report.skipped.append((key, exc.reason))
                continue
            _apply(project, image_id, plan, replace, alpha, report, key)
    return report


def _alpha_warning(header: dict, alpha: float) -> str | None:
    """Why region labels will differ from the exporting project's, or None when they will not."""
    if "alpha" not in header:
        return None
    try:
        same = float(header["alpha"]) == alpha
    except (TypeError, ValueError, OverflowError):  # text, a list, a 400-digit integer
        same = False
    return None if same else f"exported with alpha {short(header['alpha'])}, this project uses {alpha}; region labels will differ"


def _dimension(value: object) -> int:
    """A pixel count as exported: an integer, an integral float or decimal text (ValueError otherwise)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():  # False for inf and nan
        return int(value)
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value)
    raise ValueError(value)


def _check_size(props: dict, size: tuple[int, int]) -> None:
    """Skip an image exported at another size; an absent size is not checked."""
    raw = raw_size(props)
    if not all(raw):
        return
    try:
        exported = (_dimension(raw[0]), _dimension(raw[1]))
    except ValueError:  # also the digit limit of int(text)
        raise _Skip(f"unreadable image size {short(raw)}") from None
    if exported != size:
        raise _Skip(f"size {exported[0]}x{exported[1]} differs from the project image")


def _exported_status(props: dict, key: str, notes: list[str]) -> str | None:
    """The exported annotation status when this app knows it; an unknown name is ignored with a note."""
    value = props.get("image_status")
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Skip(f"image_status {short(value)} is not text")
    if value not in {st.value for st in AnnotationStatus}:
        notes.append(f"{key}: unknown image_status {short(value)!r} ignored")
        return None
    return value


def _check_contours(entry: ExportedImage, size: tuple[int, int], key: str, notes: list[str]) -> list[tuple]:
    """Every contour checked like a drawn one; one invalid contour skips the whole image, so a
    replace never leaves part of an outline set (or none) in place of the image's contours."""
    checked, problems = [], []
    for n, (cls, polygon, *rest) in enumerate(entry.contours, 1):
        try:
            result = check_contour(polygon, *size)
        except InvalidContourError as exc:
            problems.append(f"contour {n}: {exc}")
            continue
        checked.append((cls, result.polygon, *rest))
        if result.repairs:
            notes.append(f"{key}: contour {n} repaired ({', '.join(result.repairs)})")
    if problems:
        more = f"; and {len(problems) - MAX_LISTED_PROBLEMS} more" if len(problems) > MAX_LISTED_PROBLEMS else ""
        raise _Skip(f"{len(problems)} of {len(entry.contours)} contours invalid, the image is left unchanged: "
                    + "; ".join(problems[:MAX_LISTED_PROBLEMS]) + more)
    return checked


def _plan(entry: ExportedImage, size: tuple[int, int], key: str) -> _Plan:
    """Everything about one exported image checked before anything is written (raises _Skip)."""
    _check_size(entry.props, size)
    if entry.excess:  # the contours kept fill the cap exactly
        raise _Skip(f"{len(entry.contours) + entry.excess} contours on one image (at most {len(entry.contours)}); "
                    "not a set of lesion outlines")
    notes: list[str] = list(entry.notes)
    status = _exported_status(entry.props, key, notes)
    return _Plan(_check_contours(entry, size, key, notes), status, notes)


def _apply(project: Project, image_id: int, plan: _Plan, replace: bool, alpha: float,
           report: ContourImportReport, key: str) -> None:
    """Write one checked image in one transaction: its contours, status and region labels."""
    with project.session() as s:
        image = image_store.get_image(s, image_id)
        existing = ann_store.list_annotations(s, image_id)
        if existing and not replace:
            report.skipped.append((key, "the image already has contours (use replace)"))
            return
        for ann in existing:
            ann_store.soft_delete(s, ann.id, "import")
        for cls, polygon, annotator, created, modified in plan.contours:
            ann_store.add_annotation(s, image_id, cls, polygon, annotator, source="import", created_at=created, modified_at=modified)
        has_m = any(c[0] is LesionClass.MALIGNANT for c in plan.contours)
        status = AnnotationStatus(plan.status or ("contoured" if has_m else image.status.value))
        if has_m and status is AnnotationStatus.NO_MALIGNANT or not has_m and status is AnnotationStatus.CONTOURED:
            status = AnnotationStatus.CONTOURED if has_m else AnnotationStatus.NOT_ANNOTATED
        image_store.set_status(s, image_id, status)
        relabel_image(s, image_id, alpha)
        image_store.bump_revision(s, image_id, None)
    report.images += 1
    report.contours += len(plan.contours)
    report.warnings.extend(plan.notes)
    project.events.emit("annotations_changed", image_id=image_id)
