"""Adapters from what users point at (folders, label CSVs, public datasets) to ``ImportItem``s.

Problems found while reading the sources (a malformed CSV row, a label row without an image)
go into the import report with the file and line; they never stop the other images.
"""

from __future__ import annotations

from pathlib import Path

from ..core.birads import INBREAST, PAPER, BiradsMapping
from ..core.datasets.csvlabels import load_label_csv
from ..core.datasets.inbreast import load_inbreast
from ..core.datasets.minimias import load_minimias
from ..core.datasets.textfile import LabelWarning
from ..core.errors import LabelFileError
from ..core.imageio import missing_reason, resolved, sniff_preamble
from ..core.types import LesionClass, WeakLabel
from .importing import ImportItem, ImportReport

IMAGE_SUFFIXES = {".dcm", ".dicom", ".png", ".tif", ".tiff", ""}


def _problem(report: ImportReport | None, err: LabelFileError) -> None:
    """A label problem in the report: a warning when its image is still imported (LabelWarning)."""
    if report is not None:
        into = report.warnings if isinstance(err, LabelWarning) else report.failed
        into.append((f"{err.path}:{err.line}" if err.line else err.path, err.reason))


LABEL_SOURCE_MAX = 64  # the database's label_source column; PostgreSQL refuses a longer value


def csv_label_source(labels_csv: Path) -> str:
    """'csv:<file name>', shortened in the middle to fit the column: a long, descriptive CSV name
    failed every image of the import on PostgreSQL (and only there)."""
    name = labels_csv.name
    room = LABEL_SOURCE_MAX - len("csv:")
    if len(name) > room:
        name = name[:room // 2 - 1] + "~" + name[-(room - room // 2):]
    return f"csv:{name}"


def find_images(paths: list[Path], report: ImportReport | None = None) -> list[Path]:
    """Files under ``paths`` (folders searched recursively) that look like images by their bytes."""
    found: list[Path] = []
    for root in paths:
        if not root.exists():
            if report is not None:
                why = missing_reason(root)
                report.failed.append((str(root), "no such file or folder" if why == "file not found" else why))
            continue
        if root.is_dir() and report is not None:  # a dangling link or loop in a folder: skipped, but said
            report.warnings.extend((str(p), f"{missing_reason(p)}; skipped")
                                   for p in sorted(root.rglob("*")) if p.is_symlink() and not p.exists())
        candidates = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for p in candidates:
            if root.is_dir() and (p.name.startswith(".") or p.suffix.lower() not in IMAGE_SUFFIXES):
                continue  # in folders, skip notes, CSVs, XML; a file named explicitly is always tried
            if root.is_dir() and p.suffix == "":
                try:
                    if not sniff_preamble(p):
                        continue  # extension-less files count only with a DICOM preamble
                except OSError:
                    continue
            # a file named like an image is always tried: if it is empty, corrupt or not what its
            # name says, the import reports it with the reason instead of skipping it silently
            found.append(p)
    return found


def items_from_paths(paths: list[Path], labels_csv: Path | None = None, mapping: BiradsMapping = PAPER,
                     report: ImportReport | None = None) -> list[ImportItem]:
    """Images found under ``paths``; labels and patient ids from ``labels_csv`` when given.

    With a CSV, its rows define the images to import (relative paths resolved against the CSV's
    folder) and the images found under ``paths`` are imported too, without labels, when no row
    names them. An image named by a bad row is not imported at all: imported unlabelled, it
    would count as "already imported" when the corrected CSV is run again, and keep no label.
    """
    items: dict[Path, ImportItem] = {}
    held_back: set[Path] = set()  # named by a bad row: imported once the row is fixed, with its label
    if labels_csv is not None:
        records, problems = load_label_csv(labels_csv, mapping)
        for err in problems:
            _problem(report, err)
            if err.image is not None:
                held_back.add(err.image)
        for r in records:
            weak = r.weak_label or WeakLabel(None, None)
            items[resolved(r.image_path)] = ImportItem(
                path=r.image_path, patient_key=r.patient_id, weak=weak, birads=r.birads, pathology=r.pathology,
                label_source=csv_label_source(labels_csv), laterality=r.laterality, view=r.view,
                notes=() if r.weak_label is not None else ("label excluded by the BI-RADS mapping (weak label unknown)",),
            )
    for p in find_images(paths, report):
        if resolved(p) not in held_back:
            items.setdefault(resolved(p), ImportItem(path=p))
    return list(items.values())


def minimias_items(folder: Path, report: ImportReport | None = None) -> list[ImportItem]:
    records, problems = load_minimias(folder)
    for err in problems:
        _problem(report, err)
    items = []
    for r in records:
        unlocated_m = any(u.endswith(" M") for u in r.unlocated)
        notes = tuple(r.notes)  # the parser already names each finding without a location
        items.append(
            ImportItem(
                path=r.image_path, patient_key=f"mias-{r.patient_id}", study_key=f"mias-{r.patient_id}",
                weak=r.weak_label, pathology=r.pathology, label_source="mini-mias", laterality=r.laterality,
                view=r.view, pixel_spacing_mm=(r.pixel_spacing_mm, r.pixel_spacing_mm), lesions=tuple(r.lesions),
                lesions_complete=not unlocated_m, annotator="dataset:mini-mias", notes=notes,
            )
        )
    return items


def inbreast_items(root: Path, mapping: BiradsMapping = INBREAST, report: ImportReport | None = None) -> list[ImportItem]:
    records, problems = load_inbreast(root, mapping)
    for err in problems:
        _problem(report, err)
    items = []
    for r in records:
        weak = r.weak_label or WeakLabel(None, None)
        has_m = any(les.cls is LesionClass.MALIGNANT for les in r.lesions)
        items.append(
            ImportItem(
                path=r.image_path, patient_key=f"inbreast-{r.patient_id}", study_key=f"inbreast-{r.patient_id}-{r.acquisition_date}",
                weak=weak, birads=r.birads, label_source="inbreast", laterality=r.laterality, view=r.view,
                lesions=tuple(r.lesions), lesions_complete=has_m, annotator="dataset:inbreast", notes=tuple(r.notes),
            )
        )
    return items


def dataset_items(kind: str, path: Path, report: ImportReport | None = None, limit: int | None = None) -> list[ImportItem]:
    """Import items of a public dataset by name."""
    if kind == "mini-mias":
        items = minimias_items(path, report)
    elif kind == "inbreast":
        items = inbreast_items(path, report=report)
    else:
        raise LabelFileError(path, f"unknown dataset kind {kind!r} (mini-mias or inbreast)")
    return items[:limit] if limit else items
