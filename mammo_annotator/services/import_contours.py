"""Bring contours exported as GeoJSON or COCO (by this app or a compatible tool) into a project.

Each exported image is matched to a project image by content hash (``keep_ids`` exports), by
pseudonym (exports of a project that shares this project's pseudonym secret, e.g. a copy of it)
or by a unique file name, and must have the same size. Its contours are checked like drawn ones,
its annotation status is restored and its region labels recomputed, all in one transaction per
image, so the same contours give the same region labels as in the exporting project.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from ..core.contours import check_contour
from ..core.errors import InvalidContourError, LabelFileError
from ..core.progress import CancelToken, ProgressFn, check_cancel, no_progress
from ..core.types import AnnotationStatus, LesionClass, Polygon
from ..store import annotations as ann_store
from ..store import batches
from ..store import images as image_store
from .annotations import relabel_image
from .export.pseudonyms import Pseudonyms
from .project import Project

CLASS_CODES = {"m": "M", "malignant": "M", "b": "B", "benign": "B"}


@dataclass
class ExportedImage:
    """One image of an export file: what identifies it, its status and its contours."""

    props: dict
    contours: list[tuple] = field(default_factory=list)  # (class, outline, annotator, created, modified)


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


def _cls(value: object, path: Path) -> LesionClass:
    code = CLASS_CODES.get(str(value).strip().lower())
    if code is None:
        raise LabelFileError(path, f"unknown lesion class {value!r} (expected malignant or benign)")
    return LesionClass(code)


def _image_key(props: dict) -> str:
    return str(props.get("sha256") or props.get("image") or props.get("image_file") or props.get("file_name") or "?")


def _time(text: object) -> datetime | None:
    """An exported ISO time, or None when absent or unreadable (the import time is used then)."""
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def read_geojson(doc: dict, path: Path) -> dict[str, ExportedImage]:
    images: dict[str, ExportedImage] = {}
    top = doc.get("image") or {}
    if top:  # a per-image file: the image counts even without features (a confirmed negative)
        images[_image_key(top)] = ExportedImage(dict(top))
    for feat in doc.get("features") or []:
        props = {**top, **(feat.get("properties") or {})}
        entry = images.setdefault(_image_key(props), ExportedImage(props))
        geom = feat.get("geometry")
        if geom is None:
            continue
        polys = [geom["coordinates"]] if geom.get("type") == "Polygon" else geom.get("coordinates", [])
        if geom.get("type") not in ("Polygon", "MultiPolygon"):
            raise LabelFileError(path, f"geometry {geom.get('type')!r} is not a polygon")
        cls = _cls(props.get("class_code") or props.get("class") or "malignant", path)
        for rings in polys:
            entry.contours.append((cls, Polygon.from_array(rings[0]), str(props.get("annotator") or "import"),
                                   _time(props.get("created")), _time(props.get("modified"))))
    return images


def read_coco(doc: dict, path: Path) -> dict[str, ExportedImage]:
    cats = {c["id"]: c.get("name", "") for c in doc.get("categories", [])}
    by_id = {im["id"]: ExportedImage(im) for im in doc.get("images", [])}
    for ann in doc.get("annotations", []):
        entry = by_id.get(ann.get("image_id"))
        seg = ann.get("segmentation")
        if entry is None or not isinstance(seg, list):
            raise LabelFileError(path, f"annotation {ann.get('id')} has no image or no polygon segmentation (RLE is not supported)")
        cls = _cls((ann.get("attributes") or {}).get("class") or cats.get(ann.get("category_id"), ""), path)
        attrs = ann.get("attributes") or {}
        annotator = str(attrs.get("annotator") or "import")
        times = (_time(attrs.get("created")), _time(attrs.get("modified")))
        for flat in seg:
            if len(flat) % 2:
                raise LabelFileError(path, f"annotation {ann.get('id')} has an odd number of polygon coordinates")
            entry.contours.append((cls, Polygon.from_array(flat), annotator, *times))
    return {_image_key(e.props): e for e in by_id.values()}


def read_contour_file(path: str | os.PathLike) -> tuple[dict, dict[str, ExportedImage]]:
    """(header, images) of a GeoJSON FeatureCollection or COCO file."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabelFileError(path, f"not a readable JSON file ({exc})") from None
    try:
        if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
            return doc, read_geojson(doc, path)
        if isinstance(doc, dict) and "images" in doc and "annotations" in doc:
            header = doc.get("info") or {}
            return header if isinstance(header, dict) else {}, read_coco(doc, path)
    except (TypeError, KeyError, AttributeError, IndexError, ValueError) as exc:  # parses, but wrong types
        raise LabelFileError(path, f"unexpected structure ({type(exc).__name__}: {exc})") from None
    raise LabelFileError(path, "neither a GeoJSON FeatureCollection nor a COCO file")


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
    unless ``replace`` (their contours are then soft-deleted first, so nothing is lost)."""
    report = ContourImportReport()
    matcher = _Matcher(project)
    alpha = project.alpha()
    for path in paths:
        try:  # one unreadable file is reported; the other files are still imported
            header, images = read_contour_file(path)
        except LabelFileError as exc:
            report.failed.append((str(path), exc.reason))
            continue
        try:
            other_alpha = "alpha" in header and float(header["alpha"]) != alpha
        except (TypeError, ValueError):
            other_alpha = True
        if other_alpha:
            report.warnings.append(f"{path}: exported with alpha {header['alpha']}, this project uses {alpha}; region labels will differ")
        for k, (key, entry) in enumerate(images.items()):
            check_cancel(cancel)
            progress(k, len(images), f"importing contours from {Path(path).name}")
            image_id = matcher.find(entry.props)
            if image_id is None:
                report.unmatched.append(key)
                continue
            size = (entry.props.get("image_width") or entry.props.get("width"), entry.props.get("image_height") or entry.props.get("height"))
            try:
                wrong_size = all(size) and tuple(map(int, size)) != matcher.size[image_id]
            except (TypeError, ValueError):
                report.skipped.append((key, f"unreadable image size {size!r}"))
                continue
            if wrong_size:
                report.skipped.append((key, f"size {size[0]}x{size[1]} differs from the project image"))
                continue
            _apply(project, image_id, entry, replace, alpha, report, key)
    return report


def _apply(project: Project, image_id: int, entry: ExportedImage, replace: bool, alpha: float,
           report: ContourImportReport, key: str) -> None:
    with project.session() as s:
        image = image_store.get_image(s, image_id)
        existing = ann_store.list_annotations(s, image_id)
        if existing and not replace:
            report.skipped.append((key, "the image already has contours (use replace)"))
            return
        checked = []
        for cls, polygon, annotator, created, modified in entry.contours:
            try:
                checked.append((cls, check_contour(polygon, image.width, image.height).polygon, annotator, created, modified))
            except InvalidContourError as exc:
                report.warnings.append(f"{key}: contour skipped: {exc}")
        for ann in existing:
            ann_store.soft_delete(s, ann.id, "import")
        for cls, polygon, annotator, created, modified in checked:
            ann_store.add_annotation(s, image_id, cls, polygon, annotator, source="import", created_at=created, modified_at=modified)
        has_m = any(c[0] is LesionClass.MALIGNANT for c in checked)
        known = {st.value for st in AnnotationStatus}
        exported = entry.props.get("image_status")
        status = AnnotationStatus(exported if exported in known else ("contoured" if has_m else image.status.value))
        if has_m and status is AnnotationStatus.NO_MALIGNANT or not has_m and status is AnnotationStatus.CONTOURED:
            status = AnnotationStatus.CONTOURED if has_m else AnnotationStatus.NOT_ANNOTATED
        image_store.set_status(s, image_id, status)
        relabel_image(s, image_id, alpha)
        image_store.bump_revision(s, image_id, None)
    report.images += 1
    report.contours += len(checked)
    project.events.emit("annotations_changed", image_id=image_id)
