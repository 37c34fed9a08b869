"""mini-MIAS (Suckling et al. 1994) ``Info.txt`` -> one record per image.

Rules (from the dataset's own notes): one row per lesion, ``REFNUM BG CLASS SEVERITY X Y
RADIUS``; NORM rows mean a normal image; the origin is the BOTTOM-LEFT corner, so the pixel row
is ``height - Y`` (the image's own height, read from the PNG header, not a constant);
calcifications widely spread have no location (``*NOTE 3*`` or missing fields): the image keeps
its weak label without a local annotation. Consecutive pairs are one patient (mdb001+mdb002 ->
patient 1), odd numbers the right breast, even the left; every view is MLO. Pixels are 200 um.
Images in the folder without any row are reported in ``problems`` and skipped (all images of
the distribution have a row; an image without one has an unknown label).

Hostile or damaged rows: a lesion row whose location cannot be read (non-ASCII digits, absurdly
long numbers, too few fields) or is not a plausible lesion circle (see ``implausible_circle``) is
reported with its line and then treated like the dataset's own rows without a location: its
SEVERITY still counts for the image's weak label, and it gives no local annotation (so a
malignant one leaves the image not locally annotated). A finding whose severity cannot be read
makes the image's label unknown where it could change it (y_M unknown unless another row is
malignant); a row whose class cannot be read is reported and dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..contours import circle_polygon
from ..errors import ImageReadError, LabelFileError
from ..imageio import png_size
from ..types import Lesion, LesionClass, WeakLabel
from .textfile import MAX_LABEL_FILE_BYTES, LabelWarning, decode_label_bytes, read_regular_file

PIXEL_SPACING_MM = 0.2
CLASSES = {"CALC", "CIRC", "SPIC", "MISC", "ARCH", "ASYM", "NORM"}
_ROW = re.compile(r"^(mdb[0-9]{3})\s+([FGD])\s+([A-Z]{4})\b(.*)$")
_NUMBER = re.compile(r"[0-9]{1,6}")  # ASCII digits, short: int() and float() cannot fail on it
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # not str.splitlines: Latin-1 0x85 (NEL) is no line break here
MIN_INSIDE_FRACTION = 0.5  # a circle mostly outside the image outlines no lesion in it


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


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG header alone (no decoding); raises ImageReadError for a folder,
    a FIFO or device (opening one would block), an empty or a corrupt file, so that image alone is
    reported."""
    if path.exists() and not path.is_dir() and not path.is_file():
        raise ImageReadError(path, "not a regular file (a pipe, socket or device)")
    return png_size(path)


def _location(nums: list[str]) -> tuple[int, int, int] | None:
    """X, Y, RADIUS from the fields after SEVERITY, or None when they are not three plain numbers
    (``str.isdigit`` accepts '²', which ``int`` refuses; 400 digits overflow a float)."""
    if len(nums) < 3 or not all(_NUMBER.fullmatch(v) for v in nums[:3]):
        return None
    x, y, r = (int(v) for v in nums[:3])
    return x, y, r


def inside_fraction(cx: float, cy: float, r: float, width: int, height: int) -> float:
    """Share of the circle's area inside the ``width`` x ``height`` image."""
    from shapely.geometry import Point, box

    circle = Point(cx, cy).buffer(r, quad_segs=32)
    return float(circle.intersection(box(0, 0, width, height)).area / circle.area)


def implausible_circle(x: int, y: int, r: int, width: int, height: int) -> str | None:
    """Why the circle (X, Y from the bottom-left corner) is not a lesion outline in this image, or
    None. Refused: a radius of 0, a centre outside the image, a radius over half the image's
    shorter side, or a circle mostly outside the image. Such a circle would become a contour
    covering most of the image (every region labelled with that class); the largest real radius,
    197 px on a 1024 px image, passes every test."""
    if r <= 0:
        return f"lesion radius {r} is not positive"
    if not (0 <= x <= width and 0 <= y <= height):
        return f"lesion centre ({x}, {y}) is outside the {width}x{height} image"
    if 2 * r > min(width, height):
        return f"lesion radius {r} exceeds half the image's shorter side ({min(width, height) // 2} px)"
    if inside_fraction(x, height - y, r, width, height) < MIN_INSIDE_FRACTION:
        return f"lesion circle ({x}, {y}, r={r}) lies mostly outside the {width}x{height} image"
    return None


def _data_row(info_path: Path, n: int, line: str, problems: list[LabelFileError]) -> tuple[str, _Row] | None:
    """(refnum, row) of one Info.txt line; None for prose lines and for rows reported as unusable."""
    m = _ROW.match(line)
    if not m:
        if line[:3].lower() == "mdb":  # 'MDB012 ...' is a row too: skipped as prose, its finding would go unseen
            problems.append(LabelFileError(info_path, f"unreadable row {line[:120]!r}", n))
        return None
    ref, bg, cls, rest = m.groups()
    if cls not in CLASSES:
        problems.append(LabelFileError(info_path, f"unknown abnormality class {cls!r}", n))
        return None
    note = ""
    if "*" in rest:
        note = rest[rest.index("*"):].strip()[:120]  # e.g. "*NOTE 3*"; a runaway one is not echoed whole
        rest = rest[: rest.index("*")]
    fields = rest.split()
    severity = fields[0] if fields and fields[0] in ("B", "M") else None
    nums = fields[1:] if severity else fields
    if cls == "NORM":
        return ref, _Row(n, bg, cls, None, None, None, None, note)
    if severity is None:  # kept: it may be the image's malignant finding, so the label becomes unknown
        problems.append(LabelWarning(info_path, f"{ref}: {cls} row without severity B/M; the image's label is "
                                                "unknown where this row could change it", n))
        return ref, _Row(n, bg, cls, None, None, None, None, note)
    loc = _location(nums)
    if loc is None and nums:
        shown = " ".join(nums)
        shown = shown if len(shown) <= 60 else shown[:60] + "..."
        problems.append(LabelWarning(info_path, f"{ref}: bad location fields {shown!r}; "
                                                "kept without a location", n))
        note = note or f"location fields unreadable, Info.txt line {n}"
    x, y, r = loc if loc else (None, None, None)
    return ref, _Row(n, bg, cls, severity, x, y, r, note)


def read_info_text(info_path: Path) -> str:
    """Info.txt's text. Unlike label CSVs, NUL bytes do not refuse the file: a garbage row is one
    reported row and the others still count; only a UTF-16 file (its BOM) is refused, with why."""
    data = read_regular_file(info_path, MAX_LABEL_FILE_BYTES, "label file")  # FIFOs, huge files refused
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise LabelFileError(info_path, "UTF-16 text is not supported; save Info.txt as UTF-8 or Latin-1")
    return decode_label_bytes(data)


def parse_info_rows(info_path: Path) -> tuple[dict[str, list[_Row]], list[LabelFileError]]:
    """Rows by reference number; prose lines skipped, malformed data rows reported (the others
    still read). An unreadable file raises LabelFileError naming it."""
    rows: dict[str, list[_Row]] = {}
    problems: list[LabelFileError] = []
    text = read_info_text(info_path)
    for n, raw in enumerate(_LINE_BREAK.split(text), start=1):
        parsed = _data_row(info_path, n, raw.strip(), problems)
        if parsed is not None:
            rows.setdefault(parsed[0], []).append(parsed[1])
    return rows, problems


def _record(info: Path, ref: str, path: Path, rows: list[_Row], size: tuple[int, int],
            problems: list[LabelFileError]) -> MiasRecord:
    """One image's record from its rows; a located row with an implausible circle is reported and
    kept as an unlocated finding (weak label from its severity, no local annotation)."""
    width, height = size
    num = int(ref[3:])
    lesions: list[Lesion] = []
    codes: list[str] = []
    unlocated: list[str] = []
    notes: list[str] = []
    path_text: list[str] = []
    y_m = y_b = 0
    unknown = False  # a finding whose severity is unreadable: it could be malignant or benign
    for row in rows:
        if row.cls == "NORM":
            path_text.append("NORM")
            continue
        if row.severity is None:
            unknown = True
            path_text.append(f"{row.cls} ?")
            continue
        finding = f"{row.cls} {row.severity}"
        path_text.append(finding)
        if row.severity == "M":
            y_m = 1
        else:
            y_b = 1
        why = None
        if row.x is not None:
            why = implausible_circle(row.x, row.y, row.radius, width, height)
            if why is None:
                cls = LesionClass.MALIGNANT if row.severity == "M" else LesionClass.BENIGN
                lesions.append(Lesion(cls, circle_polygon(float(row.x), float(height - row.y), float(row.radius))))
                codes.append(row.cls)
                continue
            problems.append(LabelWarning(info, f"{ref}: {why}; the image keeps its weak label, "
                                               "no local annotation from this row", row.line))
        unlocated.append(finding)
        reason = f"location refused: {why}" if why else row.note
        notes.append(f"{finding} has no location{' (' + reason + ')' if reason else ''}")
    weak = WeakLabel(1 if y_m else (None if unknown else 0), 1 if y_b else (None if y_m or unknown else 0))
    if "NORM" in path_text and (y_m or y_b or unknown):
        notes.append("NORM row together with abnormal rows; abnormal rows win")
    bgs = {row.bg for row in rows}
    return MiasRecord(
        image_path=path, refnum=ref, patient_id=f"mias{(num + 1) // 2:03d}",
        laterality="R" if num % 2 else "L", view="MLO", weak_label=weak,
        background_tissue="".join(sorted(bgs)), pathology="; ".join(path_text),
        lesions=tuple(lesions), lesion_codes=tuple(codes), unlocated=tuple(unlocated), notes=tuple(notes),
    )


def load_minimias(folder: str | Path) -> tuple[list[MiasRecord], list[LabelFileError]]:
    """Records for every image in ``folder`` (mdbNNN.png + Info.txt), and the problems found."""
    folder = Path(folder)
    info = folder / "Info.txt"
    if not info.exists():
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
        try:
            size = _image_size(path)
        except ImageReadError as exc:
            problems.append(LabelFileError(path, f"{exc.reason}; skipped"))
            continue
        records.append(_record(info, ref, path, rows[ref], size, problems))
    return records, problems
