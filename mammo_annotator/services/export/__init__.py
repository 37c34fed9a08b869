"""Exports of a project's labels for research and for hospitals.

Formats (``FORMATS``): image-level labels CSV, contours as GeoJSON and COCO, binary PNG masks,
region labels CSV, model predictions CSV, and for DICOM-sourced images DICOM SEG and a TID 1500
SR. Every export streams (one page of images in memory), reports ``(done, total, message)``
progress, stops between images when the cancel token is set, writes only below the path the
caller gives, and pseudonymises patient and image ids unless ``keep_ids`` is asked for
(``pseudonyms`` and ``dicom_source`` say how).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

from ...core.errors import MammoError
from ...core.progress import CancelToken, Cancelled, ProgressFn, no_progress
from ..project import Project
from .coco import export_coco
from .common import ExportOptions, ExportResult
from .geojson import export_geojson
from .masks import export_masks
from .paths import ExportPathError, out_file, out_folder
from .pseudonyms import project_secret, set_project_secret
from .regions_csv import export_regions_csv
from .staging import ExportRunError, commit, staging_folder
from .tables import NoModelError, export_labels_csv, export_predictions_csv

FORMATS = ("labels", "geojson", "coco", "masks", "regions", "predictions", "seg", "sr")
FOLDER_FORMATS = ("masks", "seg", "sr")  # and geojson per image
# where each format goes inside the folder of an "all" export
DEFAULT_NAMES = {"labels": "labels.csv", "geojson": "contours.geojson", "coco": "coco.json", "masks": "masks",
                 "regions": "regions.csv", "predictions": "predictions.csv", "seg": "dicom-seg", "sr": "dicom-sr"}


def _regions(project: Project, out, options: ExportOptions, progress: ProgressFn, cancel) -> ExportResult:
    path = out_file(out, "regions.csv")
    n = export_regions_csv(project, path, progress=progress, keep_ids=options.keep_ids, cancel=cancel)
    return ExportResult("regions", path, files=1, items=n)


def _seg(*args) -> ExportResult:
    from .dicom_seg import export_seg  # highdicom is loaded only when a DICOM export is asked for

    return export_seg(*args)


def _sr(*args) -> ExportResult:
    from .dicom_sr import export_sr

    return export_sr(*args)


EXPORTERS: dict[str, Callable[..., ExportResult]] = {
    "labels": export_labels_csv, "geojson": export_geojson, "coco": export_coco, "masks": export_masks,
    "regions": _regions, "predictions": export_predictions_csv, "seg": _seg, "sr": _sr,
}


def export(project: Project, fmt: str, out: str | os.PathLike, options: ExportOptions = ExportOptions(),
           progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> ExportResult:
    """Run one export format to ``out`` (a file or a folder, as the format needs). A format that
    writes a folder of files is written whole or not at all, as a run of several is."""
    if fmt not in EXPORTERS:
        raise ExportPathError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt in FOLDER_FORMATS or (fmt == "geojson" and options.per_image):
        return _whole_folder(project, fmt, out, options, progress, cancel)
    return EXPORTERS[fmt](project, out, options, progress, cancel)


def _whole_folder(project: Project, fmt: str, out: str | os.PathLike, options: ExportOptions,
                  progress: ProgressFn, cancel: CancelToken | None) -> ExportResult:
    """The files of one folder format staged beside the destination's, then put in place together:
    a failure or a stop halfway kept the files written so far, which looked like a whole export."""
    root = out_folder(out)
    with staging_folder(root) as staging:
        files = staging / "files"
        try:
            result = EXPORTERS[fmt](project, files, options, progress, cancel)
        except Cancelled:
            raise
        except Exception as exc:
            reason = str(exc) if isinstance(exc, MammoError) else f"{type(exc).__name__}: {exc}"
            raise ExportRunError(fmt, reason.replace(str(files), str(root)), root) from exc
        names = sorted(p.name for p in files.iterdir()) if files.is_dir() else []
        progress(1, 1, "putting the files in place")
        commit(files, root, {f"{fmt} ({name})": name for name in names})
        result.path = root
    return result


def export_many(project: Project, formats: Iterable[str], folder: str | os.PathLike,
                options: ExportOptions = ExportOptions(), progress: ProgressFn = no_progress,
                cancel: CancelToken | None = None) -> list[ExportResult]:
    """Several formats into one folder (``DEFAULT_NAMES`` inside it), written whole or not at all
    (``staging``): when a format fails (ExportRunError names it and why) or the run is stopped
    (Cancelled), the folder is as it was. Predictions are skipped without error when the project
    has no model yet."""
    root = out_folder(folder)
    entries = {fmt: "geojson" if fmt == "geojson" and options.per_image else DEFAULT_NAMES[fmt] for fmt in formats}
    results = []
    with staging_folder(root) as staging:
        for fmt, name in entries.items():
            try:
                results.append(EXPORTERS[fmt](project, staging / name, options, _prefixed(progress, fmt), cancel))
            except NoModelError as exc:
                results.append(ExportResult("predictions", root / name, skipped=[("predictions", str(exc))]))
            except Cancelled:
                raise
            except Exception as exc:  # any failure: nothing of the run is kept, and the user is told which format
                reason = str(exc) if isinstance(exc, MammoError) else f"{type(exc).__name__}: {exc}"
                raise ExportRunError(fmt, reason.replace(str(staging), str(root)), root) from exc
        progress(1, 1, "putting the files in place")
        commit(staging, root, entries)
        for result in results:
            result.path = _moved(result.path, staging, root)
    return results


def _moved(path: Path, staging: Path, root: Path) -> Path:
    """Where a staged path lies once its run is in place."""
    for base in (staging, staging.resolve()):
        if path.is_relative_to(base):
            return root / path.relative_to(base)
    return path


def _prefixed(progress: ProgressFn, fmt: str) -> ProgressFn:
    return lambda done, total, message: progress(done, total, f"{fmt}: {message}")


__all__ = [
    "FORMATS", "ExportOptions", "ExportResult", "export", "export_many", "export_regions_csv", "export_labels_csv",
    "export_predictions_csv", "export_geojson", "export_coco", "export_masks", "project_secret",
    "set_project_secret", "ExportPathError", "ExportRunError",
]
