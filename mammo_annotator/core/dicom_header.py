"""What a mammogram's DICOM header says about it (view, identifiers, dates, pixel spacing), read
so that a value the project cannot use is left unknown with a warning instead of stored wrong.

Every function takes the pydicom data set and the import's warning list; none decodes pixels.
"""

from __future__ import annotations

import warnings as pywarnings

from .spacing import implausible_spacing

# SNOMED / DICOM codes of ViewCodeSequence -> short view names
VIEW_CODES = {
    "R-10242": "CC", "399162004": "CC",
    "R-10226": "MLO", "399368009": "MLO",
    "R-10224": "ML", "399260004": "ML",
    "R-10228": "LM", "399352003": "LM",
    "R-1024A": "XCCL", "399101009": "XCCL",
    "R-1024B": "XCCM", "399065008": "XCCM",
    "R-1024E": "LMO", "399099002": "LMO",
    "R-1024D": "SIO", "399196006": "SIO",
}
VIEW_MEANINGS = {
    "cranio-caudal": "CC", "medio-lateral oblique": "MLO", "medio-lateral": "ML",
    "latero-medial": "LM", "latero-medial oblique": "LMO", "superolateral to inferomedial oblique": "SIO",
    "cranio-caudal exaggerated laterally": "XCCL", "cranio-caudal exaggerated medially": "XCCM",
}


def view(ds, warnings: list[str]) -> str | None:
    vp = bounded_text(ds, "ViewPosition", VIEW_MAX, warnings)
    if vp:
        return vp.upper()
    for item in getattr(ds, "ViewCodeSequence", []) or []:
        code = str(getattr(item, "CodeValue", "") or "").strip()
        if code in VIEW_CODES:
            return VIEW_CODES[code]
        meaning = str(getattr(item, "CodeMeaning", "") or "").strip().lower()
        if meaning in VIEW_MEANINGS:
            return VIEW_MEANINGS[meaning]
    return None


def text(ds, keyword: str) -> str | None:
    """A text element's value without DICOM's padding; None when absent or empty."""
    value = str(getattr(ds, keyword, "") or "").strip().strip("\x00").strip()
    return value or None


# the longest header texts the project keeps (its database columns); DICOM allows less
VIEW_MAX, MODALITY_MAX, IDENTIFIER_MAX = 16, 16, 128


def bounded_text(ds, keyword: str, max_len: int, warnings: list[str]) -> str | None:
    """A single-valued text element of at most ``max_len`` characters, else None with a warning:
    a multi-valued ViewPosition would be stored as "['CC', 'MLO']", and a value longer than its
    database column makes the import fail on PostgreSQL (SQLite would take it)."""
    raw = getattr(ds, keyword, None)
    if raw is not None and not isinstance(raw, (str, bytes)) and hasattr(raw, "__len__"):
        if len(raw) > 1:
            warnings.append(f"{keyword} has {len(raw)} values ({' / '.join(str(v)[:16] for v in raw[:4])}); left unknown")
            return None
        raw = raw[0] if len(raw) else None
    value = str(raw or "").strip().strip("\x00").strip()
    if len(value) > max_len:
        warnings.append(f"{keyword} is {len(value)} characters long (at most {max_len} kept); left unknown")
        return None
    return value or None


def study_date(ds, warnings: list[str]) -> str | None:
    """StudyDate as YYYYMMDD (the old "2024.01.05" form accepted); anything else is left unknown."""
    value = text(ds, "StudyDate")
    digits = (value or "").replace(".", "").replace("-", "")
    if value and not (len(digits) == 8 and digits.isdigit()):
        warnings.append(f"StudyDate is '{value[:40]}', not a date (YYYYMMDD); study date left unknown")
        return None
    return digits or None


ACCESSION_MAX = 64  # DICOM allows 16 characters; longer is not an accession number


def accession(ds, warnings: list[str]) -> str | None:
    value = text(ds, "AccessionNumber")
    if value and len(value) > ACCESSION_MAX:
        warnings.append(f"AccessionNumber is {len(value)} characters long (DICOM allows 16); left unknown")
        return None
    return value


def first_float(value) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value[0]) if hasattr(value, "__len__") and not isinstance(value, str) else float(value)
    except (TypeError, ValueError, IndexError):
        return None


def spacing(ds, width: int, height: int, warnings: list[str]) -> tuple[float, float] | None:
    """(row, column) spacing in mm from PixelSpacing, else ImagerPixelSpacing; a value present but
    unusable is named in a warning, since the unknown spacing changes the region grid."""
    for key in ("PixelSpacing", "ImagerPixelSpacing"):
        try:
            val = getattr(ds, key, None)
            values = [] if val is None or val == "" else (
                list(val) if hasattr(val, "__len__") and not isinstance(val, str) else [val])
            if not values:
                continue
            text = "\\".join(str(v) for v in values)[:40]
            spacing = tuple(float(v) for v in values)
        except (TypeError, ValueError):
            warnings.append(f"{key} is not a number; ignored")
            continue
        if len(spacing) != 2 or not (spacing[0] > 0 and spacing[1] > 0):
            warnings.append(f"{key} is '{text}', not two positive numbers (row, column) in mm; ignored")
            continue
        why = implausible_spacing(spacing, width, height)
        if why is None:
            return spacing
        warnings.append(f"{key} {spacing[0]:g} x {spacing[1]:g} mm {why}; ignored")
    return None


def patient_id(ds, warnings: list[str]) -> str | None:
    """PatientID; bytes that its character set cannot decode are read as Latin-1 instead of the
    replacement character, which would make "Jörg" and "Jürg" one patient ("J\ufffdrg")."""
    raw = ds.get_item("PatientID") if "PatientID" in ds else None
    raw_bytes = raw.value if raw is not None and isinstance(raw.value, bytes) else None
    with pywarnings.catch_warnings():
        pywarnings.simplefilter("ignore")  # pydicom warns about the replacement; the warning below says it
        value = bounded_text(ds, "PatientID", IDENTIFIER_MAX, warnings)
    if value and "\ufffd" in value and raw_bytes is not None:
        value = raw_bytes.decode("latin-1").strip(" \x00") or None
        warnings.append("PatientID is not valid in the file's character set; read as Latin-1")
        if value and len(value) > IDENTIFIER_MAX:
            return None
    return value
