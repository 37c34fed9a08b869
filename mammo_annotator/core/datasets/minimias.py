"""mini-MIAS (Suckling et al. 1994) ``Info.txt`` -> one record per image.

Rules (from the dataset's own notes): one row per lesion, ``REFNUM BG CLASS SEVERITY X Y
RADIUS``; NORM rows mean a normal image; the origin is the BOTTOM-LEFT corner, so the pixel row
is ``height - Y`` (the image's own height, read from the PNG header, not a constant);
calcifications widely spread have no location (``*NOTE 3*`` or missing fields): the image keeps
its weak label without a local annotation. Consecutive pairs are one patient (mdb001+mdb002 ->
patient 1), odd numbers the right breast, even the left; every view is MLO. Pixels are 200 um.
Images in the folder without any row are reported in ``problems`` and skipped (all images of
the distribution have a row; an image without one has an unknown label).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..contours import circle_polygon
from ..errors import ImageReadError, LabelFileError
from ..imageio import png_size
from ..types import Lesion, LesionClass, WeakLabel

PIXEL_SPACING_MM = 0.2
CLASSES = {"CALC", "CIRC", "SPIC", "MISC", "ARCH", "ASYM", "NORM"}
_ROW = re.compile(r"^(mdb\d{3})\s+([FGD])\s+([A-Z]{4})\b(.*)$")


@dataclass(frozen=True)
class MiasRecord:
    """One mini-MIAS image with its labels (lesion circles as polygons in pixel coordinates)."""

    image_path: Path
    refnum: str
    patient_id: str
    laterality: str
    view: str
    weak_label: WeakLabel
    background_tissue: str  # F / G / D
    pathology: str  # e.g. "CIRC B; CIRC B" or "NORM"
    lesions: tuple[Lesion, ...]
    lesion_codes: tuple[str, ...]  # abnormality class per lesion (CALC, CIRC, ...)
    unlocated: tuple[str, ...] = ()  # "CALC M" per finding without a location
    notes: tuple[str, ...] = field(default_factory=tuple)
    pixel_spacing_mm: float = PIXEL_SPACING_MM


@dataclass
class _Row:
    line: int
    bg: str
    cls: str
    severity: str | None
    x: int | None
    y: int | None
    radius: int | None
    note: str


def _image_height(path: Path) -> int:
    """From the PNG header alone (no decoding); raises ImageReadError for a folder, an empty or
    a corrupt file, so that image alone is reported."""
    return png_size(path)[1]


def parse_info_rows(info_path: Path) -> tuple[dict[str, list[_Row]], list[LabelFileError]]:
    """Rows by reference number; prose lines skipped, malformed data rows reported."""
    rows: dict[str, list[_Row]] = {}
    problems: list[LabelFileError] = []
    text = Path(info_path).read_text(encoding="latin-1")
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        m = _ROW.match(line)
        if not m:
            if line.startswith("mdb"):
                problems.append(LabelFileError(info_path, f"unreadable row {line!r}", n))
            continue
        ref, bg, cls, rest = m.groups()
        if cls not in CLASSES:
            problems.append(LabelFileError(info_path, f"unknown abnormality class {cls!r}", n))
            continue
        note = ""
        if "*" in rest:
            note = rest[rest.index("*"):].strip()
            rest = rest[: rest.index("*")]
        fields = rest.split()
        severity = fields[0] if fields and fields[0] in ("B", "M") else None
        nums = fields[1:] if severity else fields
        if cls == "NORM":
            rows.setdefault(ref, []).append(_Row(n, bg, cls, None, None, None, None, note))
            continue
        if severity is None:
            problems.append(LabelFileError(info_path, f"{ref}: {cls} row without severity B/M", n))
            continue
        x = y = r = None
        if len(nums) >= 3 and all(v.isdigit() for v in nums[:3]):
            x, y, r = (int(v) for v in nums[:3])
        elif nums:
            problems.append(LabelFileError(info_path, f"{ref}: bad location fields {' '.join(nums)!r}", n))
        rows.setdefault(ref, []).append(_Row(n, bg, cls, severity, x, y, r, note))
    return rows, problems


def load_minimias(folder: str | Path) -> tuple[list[MiasRecord], list[LabelFileError]]:
    """Records for every image in ``folder`` (mdbNNN.png + Info.txt), and the problems found."""
    folder = Path(folder)
    info = folder / "Info.txt"
    if not info.is_file():
        raise LabelFileError(info, "Info.txt not found in the mini-MIAS folder")
    rows, problems = parse_info_rows(info)
    records: list[MiasRecord] = []
    images = {p.stem: p for p in sorted(folder.glob("mdb*.png"))}
    for ref in sorted(set(rows) - set(images)):
        problems.append(LabelFileError(info, f"{ref} has label rows but no image {ref}.png", rows[ref][0].line))
    for ref, path in images.items():
        if ref not in rows:
            problems.append(LabelFileError(info, f"{ref}.png has no row in Info.txt; label unknown, skipped"))
            continue
        num = int(ref[3:])
        try:
            height = _image_height(path)
        except ImageReadError as exc:
            problems.append(LabelFileError(path, f"{exc.reason}; skipped"))
            continue
        lesions: list[Lesion] = []
        codes: list[str] = []
        unlocated: list[str] = []
        notes: list[str] = []
        path_text: list[str] = []
        y_m = y_b = 0
        for row in rows[ref]:
            if row.cls == "NORM":
                path_text.append("NORM")
                continue
            path_text.append(f"{row.cls} {row.severity}")
            if row.severity == "M":
                y_m = 1
            else:
                y_b = 1
            cls = LesionClass.MALIGNANT if row.severity == "M" else LesionClass.BENIGN
            if row.x is None:
                unlocated.append(f"{row.cls} {row.severity}")
                notes.append(f"{row.cls} {row.severity} has no location{' (' + row.note + ')' if row.note else ''}")
                continue
            lesions.append(Lesion(cls, circle_polygon(float(row.x), float(height - row.y), float(row.radius))))
            codes.append(row.cls)
        if "NORM" in path_text and (y_m or y_b):
            notes.append("NORM row together with abnormal rows; abnormal rows win")
        bgs = {row.bg for row in rows[ref]}
        records.append(MiasRecord(
            image_path=path, refnum=ref, patient_id=f"mias{(num + 1) // 2:03d}",
            laterality="R" if num % 2 else "L", view="MLO", weak_label=WeakLabel(y_m, y_b if y_b or not y_m else None),
            background_tissue="".join(sorted(bgs)), pathology="; ".join(path_text),
            lesions=tuple(lesions), lesion_codes=tuple(codes), unlocated=tuple(unlocated), notes=tuple(notes),
        ))
    return records, problems
