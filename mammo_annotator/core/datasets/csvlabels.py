"""Image-level labels from a CSV, for importing PNG / TIFF / DICOM files that come without any.

Columns (header names case-insensitive): ``image`` (path relative to the CSV, or absolute),
``patient_id``, and one label source: ``birads`` | ``pathology`` (normal / benign / malignant,
or combinations such as ``benign+malignant``; N / B / M / MB also accepted) | ``y_m`` and
``y_b`` (0/1). Optional: ``laterality`` (L/R), ``view``. Delimiter: comma, semicolon or tab.

A problem with one row (bad value, missing image file) becomes a LabelFileError with that line
in ``problems`` and the other rows still load; a problem with the file itself (missing, no
header, no label column) raises LabelFileError, since no row can be read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..birads import PAPER, BiradsMapping, parse_birads
from ..errors import LabelFileError
from ..types import WeakLabel
from .textfile import csv_rows, data_rows, first_line, read_label_text

COLUMNS = {"image", "patient_id", "birads", "pathology", "y_m", "y_b", "laterality", "view"}
MAX_VIEW_CHARS = 16  # the database's view column; PostgreSQL refuses a longer value


@dataclass(frozen=True)
class LabelRecord:
    """One labelled image from a CSV row."""

    image_path: Path
    patient_id: str
    weak_label: WeakLabel | None  # None: excluded (e.g. BI-RADS 3 under the paper's mapping)
    birads: str | None
    pathology: str | None
    laterality: str | None
    view: str | None
    line: int


_PATHOLOGY_WORDS = {"normal": "N", "n": "N", "benign": "B", "b": "B", "malignant": "M", "m": "M",
                    "cancer": "M", "mb": "MB", "bm": "MB"}


def parse_pathology(text: str) -> WeakLabel:
    """'normal' -> (0,0), 'benign' -> (0,1), 'malignant' -> (1, unknown), 'benign+malignant' / 'MB' -> (1,1)."""
    parts = [p for p in re.split(r"[\s+,;/&|]+|\band\b", text.strip().lower()) if p]
    if not parts:
        raise ValueError("empty pathology")
    codes = set()
    for p in parts:
        if p not in _PATHOLOGY_WORDS:
            raise ValueError(f"unknown pathology {text!r} (use normal, benign, malignant or a combination)")
        codes.update(_PATHOLOGY_WORDS[p].replace("N", ""))
        if _PATHOLOGY_WORDS[p] == "N" and len(parts) > 1:
            raise ValueError(f"pathology {text!r} combines normal with a finding")
    if "M" in codes and "B" not in codes:
        return WeakLabel(1, None)  # benign findings unknown (see WeakLabel)
    return WeakLabel(int("M" in codes), int("B" in codes))


def _flag(text: str, name: str) -> int:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "1.0"):
        return 1
    if t in ("0", "false", "no", "0.0"):
        return 0
    raise ValueError(f"{name} must be 0 or 1, got {text!r}")


def load_label_csv(path: str | Path, mapping: BiradsMapping = PAPER, check_files: bool = True
                   ) -> tuple[list[LabelRecord], list[LabelFileError]]:
    """Parse a label CSV; returns the good rows and one LabelFileError per bad row."""
    path = Path(path)
    text = read_label_text(path)
    if not text.strip():
        raise LabelFileError(path, "the label file is empty")
    first = first_line(text)
    delimiter = max([",", ";", "\t"], key=first.count)
    rows = csv_rows(text, path, delimiter)
    head: list[str] | LabelFileError = []
    while not any(h.strip() for h in head):  # blank lines above the header are skipped (the text is not blank)
        header_line, head = next(rows)
        if isinstance(head, LabelFileError):
            raise head
    header = [h.strip().lower() for h in head]
    col = {h: i for i, h in enumerate(header)}
    twice = sorted({h for h in header if h in COLUMNS and header.count(h) > 1})
    if twice:  # which of the two holds the label? reading either would be a guess
        raise LabelFileError(path, f"column {', '.join(repr(h) for h in twice)} appears more than once in the header",
                             header_line)
    for req in ("image", "patient_id"):
        if req not in col:
            raise LabelFileError(path, f"missing column '{req}' (header: {', '.join(header)[:200]})", header_line)
    if "birads" in col:
        source = "birads"
    elif "pathology" in col:
        source = "pathology"
    elif "y_m" in col and "y_b" in col:
        source = "flags"
    else:
        raise LabelFileError(path, "no label column: need 'birads', 'pathology' or both 'y_m' and 'y_b'", header_line)
    records: list[LabelRecord] = []
    problems: list[LabelFileError] = []
    img_path: Path | None = None
    for line, row in data_rows(rows, problems):

        def get(name: str) -> str:
            i = col.get(name)
            return row[i].strip() if i is not None and i < len(row) else ""

        try:
            image = get("image")
            img_path = None
            if not image:
                raise ValueError("empty image path")
            if "\x00" not in image:
                img_path = Path(image)
                if not img_path.is_absolute():
                    img_path = (path.parent / img_path).resolve()
            if any("\x00" in c for c in row):  # past the file's first 64 KiB, which read_label_text checks
                raise ValueError("the row holds a NUL byte (binary data, not text)")
            assert img_path is not None
            pid = get("patient_id")
            if not pid:
                raise ValueError("empty patient_id")
            birads = pathology = None
            if source == "birads":
                birads = get("birads")
                parse_birads(birads)
                weak = mapping.weak_label(birads)
            elif source == "pathology":
                pathology = get("pathology")
                weak = parse_pathology(pathology)
            else:
                weak = WeakLabel(_flag(get("y_m"), "y_m"), _flag(get("y_b"), "y_b"))
            lat = get("laterality").upper() or None
            if lat is not None and lat not in ("L", "R"):
                lat = {"LEFT": "L", "RIGHT": "R"}.get(lat)
                if lat is None:
                    raise ValueError(f"laterality must be L or R, got {get('laterality')!r}")
            view = get("view").upper() or None
            if view is not None and len(view) > MAX_VIEW_CHARS:
                raise ValueError(f"view {view[:20]!r}... is longer than {MAX_VIEW_CHARS} characters (CC, MLO, ML...)")
            if check_files and not img_path.is_file():
                raise ValueError(f"image file not found: {img_path}")
        except (ValueError, OSError) as exc:  # OSError: a path the system refuses (too long...)
            problems.append(LabelFileError(path, str(exc), line, image=img_path and _same_file(img_path)))
            continue
        records.append(LabelRecord(img_path, pid, weak, birads, pathology, lat, view, line))
    return _without_conflicts(records, path, problems), problems


def _same_file(p: Path) -> Path:
    try:
        return p.resolve()
    except (OSError, RuntimeError):  # a symlink loop: the path as written
        return p


def _without_conflicts(records: list[LabelRecord], path: Path, problems: list[LabelFileError]) -> list[LabelRecord]:
    """One record per image file: repeated rows that agree count once; rows that disagree (label,
    patient, view) are all refused, since no row can be trusted over the other."""
    by_file: dict[Path, list[LabelRecord]] = {}
    for r in records:
        by_file.setdefault(_same_file(r.image_path), []).append(r)
    kept = []
    for rows in by_file.values():
        what = {(r.patient_id, r.weak_label, r.birads, r.pathology, r.laterality, r.view) for r in rows}
        if len(what) == 1:
            kept.append(rows[0])
            continue
        lines = ", ".join(str(r.line) for r in rows)
        for r in rows:
            problems.append(LabelFileError(path, f"{r.image_path.name} has conflicting rows (lines {lines}): "
                                                 "not imported until one row remains", r.line, image=_same_file(r.image_path)))
    return kept
