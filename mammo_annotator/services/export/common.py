"""What every export shares: its options, its result, and a paged walk over the project's images."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from ...core.progress import CancelToken, ProgressFn, check_cancel
from ...core.records import AnnotationRecord, ImageRecord
from ...store import batches
from ..project import Project

PAGE = 200  # images read per short transaction

CLASS_NAMES = {"M": "malignant", "B": "benign"}


def iso_time(moment: datetime) -> str:
    """ISO 8601 with the zone; the store keeps UTC but SQLite hands times back naive."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.isoformat()


@dataclass(frozen=True)
class ExportOptions:
    """``keep_ids`` writes original patient/image ids instead of pseudonyms (never names or dates);
    ``per_image`` writes one GeoJSON file per image; ``model_version`` picks the predictions
    (default: the active version, else the newest); ``top_regions`` per image in that CSV."""

    keep_ids: bool = False
    per_image: bool = False
    model_version: int | None = None
    top_regions: int = 5


@dataclass
class ExportResult:
    """Where an export went and what it left out (and why)."""

    format: str
    path: Path
    files: int = 0
    items: int = 0  # rows, features, annotations or images written, as fits the format
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (image key, reason)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (image key, what was changed and where)

    def summary(self) -> str:
        text = f"{self.format}: {self.items} items in {self.files} file(s) at {self.path}"
        notes = []
        if self.skipped:
            notes.append(f"{len(self.skipped)} skipped")
        if self.warnings:
            notes.append(f"{len(self.warnings)} warnings")
        return f"{text} ({', '.join(notes)})" if notes else text


def iter_images(
    project: Project, progress: ProgressFn, cancel: CancelToken | None, what: str
) -> Iterator[tuple[ImageRecord, list[AnnotationRecord]]]:
    """Every image with its live contours, a page at a time, reporting progress and checking the
    cancel token between images (raises ``Cancelled``)."""
    with project.session() as s:
        total = batches.image_count(s)
    done, after = 0, 0
    progress(0, total, what)
    while True:
        with project.session() as s:
            page = batches.images_after(s, after, PAGE)
            anns = batches.live_annotations_of(s, [im.id for im in page])
        if not page:
            break
        for image in page:
            check_cancel(cancel)
            yield image, anns[image.id]
            done += 1
            progress(done, total, what)
        after = page[-1].id
