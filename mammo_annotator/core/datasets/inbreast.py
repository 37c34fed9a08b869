"""INbreast (Moreira et al. 2012) -> one record per image, from its CSV, DICOMs and XML ROIs.

Layout: ``INbreast.csv`` (``;``-separated: Laterality;View;Acquisition date;File Name;ACR;
Bi-Rads), DICOMs ``<FileName>_<patient>_MG_<lat>_<view>_ANON.dcm`` and OsiriX plist XMLs
``<FileName>.xml`` anywhere under the root (AllDICOMs/, AllXML/ in the distribution).

Lesion class rule: INbreast has no per-lesion pathology, only the image's BI-RADS. A lesion ROI
(Mass, Spiculated Region, Cluster, Calcification outline, Distortion, Asymmetry) takes the
image's class under the BI-RADS mapping: MALIGNANT in a 4/5/6 image, BENIGN otherwise. In a
suspicious image this over-calls some ROIs (not every outlined finding is the cancer); that is
the dataset's limit, recorded in each record's notes when several ROIs share a malignant image.
Point ROIs (1-2 points: single calcifications) are not lesion domains: skipped by default and
counted in the notes; pass ``point_radius`` to keep them as small circles instead.
"""

from __future__ import annotations

import plistlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..birads import INBREAST, BiradsMapping, parse_birads
from ..contours import circle_polygon
from ..errors import LabelFileError
from ..types import Lesion, LesionClass, Polygon, WeakLabel
from .textfile import csv_rows, data_rows, read_label_text, read_regular_file

LESION_NAMES = {"mass", "spiculated region", "cluster", "calcification", "calcifications", "distortion",
                "asymmetry", "assymetry", "espiculated region"}
MAX_ROI_XML_BYTES = 64 << 20  # far above any real ROI plist; a bigger "XML" is something else
_POINT = re.compile(r"\(\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)(?:\s*,\s*[-+0-9.eE]+)?\s*\)")


@dataclass(frozen=True)
class InbreastRecord:
    """One INbreast image: where it is, its labels and its lesion contours."""

    image_path: Path
    file_name: str
    patient_id: str
    laterality: str
    view: str
    acquisition_date: str
    acr: str
    birads: str
    weak_label: WeakLabel | None  # None: excluded by the mapping
    lesions: tuple[Lesion, ...]
    lesion_names: tuple[str, ...]
    notes: tuple[str, ...] = ()


def parse_point(text: str) -> tuple[float, float]:
    """'(123.5, 456.25)' -> (123.5, 456.25)."""
    if not isinstance(text, str):
        raise ValueError(f"a point must be a string like '(x, y)', got {type(text).__name__}")
    m = _POINT.search(text)
    if not m:
        raise ValueError(f"not a point: {text!r}")
    return float(m.group(1)), float(m.group(2))


def parse_roi_xml(path: Path, lesion_class: LesionClass | None, point_radius: float | None = None
                  ) -> tuple[list[Lesion], list[str], list[str]]:
    """Lesions, their ROI names and notes from one OsiriX plist XML. Only a regular file within
    ``MAX_ROI_XML_BYTES`` is read (a FIFO named like an XML would block the import forever)."""
    data = read_regular_file(path, MAX_ROI_XML_BYTES, "ROI XML file")
    try:
        plist = plistlib.loads(data)
    except Exception as exc:
        raise LabelFileError(path, f"unreadable ROI plist ({type(exc).__name__}: {exc})") from None
    lesions: list[Lesion] = []
    names: list[str] = []
    notes: list[str] = []
    points_skipped = 0
    if not isinstance(plist, dict):
        raise LabelFileError(path, f"the ROI plist holds a {type(plist).__name__}, not a dictionary with 'Images'")
    for image in _items(path, plist.get("Images", []), "Images", dict):
        for roi in _items(path, image.get("ROIs", []), "ROIs", dict):
            name = str(roi.get("Name", "")).strip()
            if name.lower() not in LESION_NAMES:
                notes.append(f"ROI '{name}' is not a lesion type; skipped")
                continue
            try:
                pts = [parse_point(p) for p in _items(path, roi.get("Point_px", []), f"ROI '{name}' Point_px", str)]
            except ValueError as exc:
                notes.append(f"ROI '{name}': {exc}; skipped")
                continue
            if len(pts) < 3:
                if point_radius is None:
                    points_skipped += 1
                    continue
                cx = sum(p[0] for p in pts) / len(pts)
                cy = sum(p[1] for p in pts) / len(pts)
                poly = circle_polygon(cx, cy, point_radius, n=16)
            else:
                poly = Polygon.from_array(pts)
            if lesion_class is not None:
                lesions.append(Lesion(lesion_class, poly))
                names.append(name)
    if points_skipped:
        notes.append(f"{points_skipped} point ROI(s) (single calcifications) skipped")
    return lesions, names, notes


def _items(path: Path, value: object, what: str, kind: type) -> list:
    """``value`` as a list of ``kind``, or a LabelFileError naming the file and the wrong type."""
    if not isinstance(value, list):
        raise LabelFileError(path, f"{what} is a {type(value).__name__}, not a list")
    wrong = next((v for v in value if not isinstance(v, kind)), None)
    if wrong is not None:
        raise LabelFileError(path, f"{what} holds a {type(wrong).__name__} where a {kind.__name__} belongs")
    return value


def _patient_from_dicom_name(name: str, file_name: str) -> str:
    parts = name.split("_")
    return parts[1] if len(parts) > 2 and parts[0] == file_name else file_name


def load_inbreast(root: str | Path, mapping: BiradsMapping = INBREAST, point_radius: float | None = None
                  ) -> tuple[list[InbreastRecord], list[LabelFileError]]:
    """Records for every CSV row whose DICOM exists; problems (bad rows, missing files) collected."""
    root = Path(root)
    csv_path = next(iter(sorted(root.rglob("INbreast.csv"))), None)
    if csv_path is None:
        raise LabelFileError(root / "INbreast.csv", "INbreast.csv not found under the dataset folder")
    dicoms = {}
    for p in sorted(root.rglob("*.dcm")):
        dicoms.setdefault(p.name.split("_")[0], p)  # a folder named like a DICOM fails at import, named
    xmls = {p.stem: p for p in root.rglob("*.xml")}
    records: list[InbreastRecord] = []
    problems: list[LabelFileError] = []
    rows = csv_rows(read_label_text(csv_path), csv_path, delimiter=";")
    _, head = next(rows, (1, []))
    if isinstance(head, LabelFileError):
        raise head
    header = [h.strip().lower() for h in head]
    need = {"laterality": None, "view": None, "acquisition date": None, "file name": None, "acr": None,
            "bi-rads": None}
    for key in need:
        if key not in header:
            raise LabelFileError(csv_path, f"missing column '{key}' (header: {';'.join(header)[:200]})", 1)
        need[key] = header.index(key)
    for line, row in data_rows(rows, problems):
        try:
            vals = {k: row[i].strip() for k, i in need.items()}
        except IndexError:
            problems.append(LabelFileError(csv_path, f"expected {len(header)} fields, got {len(row)}", line))
            continue
        fname = vals["file name"]
        try:
            parse_birads(vals["bi-rads"])
            weak = mapping.weak_label(vals["bi-rads"])
        except ValueError as exc:
            problems.append(LabelFileError(csv_path, str(exc), line))
            continue
        lat = vals["laterality"].upper()
        if lat not in ("L", "R"):
            problems.append(LabelFileError(csv_path, f"laterality {vals['laterality']!r} is not L or R", line))
            continue
        dcm = dicoms.get(fname)
        if dcm is None:
            problems.append(LabelFileError(csv_path, f"no DICOM named {fname}_*.dcm for this row", line))
            continue
        lesion_class = None
        if weak is not None:
            lesion_class = LesionClass.MALIGNANT if weak.y_m == 1 else LesionClass.BENIGN
        lesions: list[Lesion] = []
        names: list[str] = []
        notes: list[str] = []
        if fname in xmls:
            try:
                lesions, names, notes = parse_roi_xml(xmls[fname], lesion_class, point_radius)
            except LabelFileError as exc:
                problems.append(exc)
            if weak is None and names == [] and lesion_class is None:
                notes.append("image excluded by the BI-RADS mapping; its ROIs are not used")
        if lesion_class is LesionClass.MALIGNANT and len(lesions) > 1:
            notes.append(f"{len(lesions)} ROIs all marked malignant from the image BI-RADS; "
                         "INbreast has no per-lesion pathology")
        records.append(InbreastRecord(
            image_path=dcm, file_name=fname, patient_id=_patient_from_dicom_name(dcm.name, fname),
            laterality=lat, view=vals["view"].upper(), acquisition_date=vals["acquisition date"],
            acr=vals["acr"], birads=vals["bi-rads"], weak_label=weak, lesions=tuple(lesions),
            lesion_names=tuple(names), notes=tuple(notes),
        ))
    return records, problems
