"""Every value a DICOM export writes fits its VR (PS3.5 table 6.2-1): one rule for SEG and SR.

Values kept from a source file (an overlong PatientID, an orientation, a UID) and values the
project writes (annotator names, descriptions) can be longer than their VR allows, and the
whole object then fails validation. ``fit_dataset`` walks a data set, nested sequences included,
and applies one rule, reporting each change so the export report can name it:

* free text (LO, SH, ST, LT, PN per component group) is cut at the limit, counted in UTF-8
  bytes as validators count them, never through a character, trailing spaces dropped;
* a decimal string (DS) is rewritten as the same number in at most 16 characters;
* identifiers (PatientID, AccessionNumber, StudyID, code values) are never cut, since a cut id
  names another patient or study: an overlong one is left empty;
* a value whose meaning a cut would change (UI, DA, TM, DT, AS, IS, CS, AE) is left empty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import format_number_as_ds

# the most bytes one value may hold (PS3.5 table 6.2-1; a PN's limit is per component group)
MAX_BYTES: dict[str, int] = {
    "AE": 16, "AS": 4, "CS": 16, "DA": 8, "DS": 16, "DT": 26, "IS": 12, "LO": 64, "LT": 10240, "PN": 64,
    "SH": 16, "ST": 1024, "TM": 14, "UI": 64,
}
CUT = ("LO", "SH", "ST", "LT", "PN")  # free text: shortened keeps it meaningful
IDENTIFIERS = ("PatientID", "OtherPatientIDs", "IssuerOfPatientID", "AccessionNumber", "StudyID", "CodeValue")


@dataclass(frozen=True)
class Fitted:
    """One value changed to fit its VR: where it sits, its VR and what was done."""

    path: str  # keyword, with the enclosing sequences ("ContentSequence > PersonName")
    vr: str
    action: str
    value: str  # the value now held, as ``shown`` writes it

    def __str__(self) -> str:
        return f"{self.path} ({self.vr}) {self.action}"


def shown(value: object) -> str:
    """A value as text, for comparing what a source held with what an object holds."""
    if value is None:
        return ""
    if isinstance(value, (list, MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value)


def holds(ds: Dataset, change: Fitted) -> bool:
    """Whether ``ds`` (nested sequences too) holds the element ``change`` made, with its value: a
    source value that no derived object copies needs no warning."""
    keyword = change.path.rsplit(" > ", 1)[-1]
    return any(e.keyword == keyword and shown(e.value) == change.value for e in ds.iterall())


def cut_bytes(text: str, limit: int) -> str:
    """At most ``limit`` bytes of UTF-8 (validators count bytes), never half a character."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def _size(vr: str, value: object) -> int:
    """The longest part of a value that its VR's limit applies to (a PN's limit is per group)."""
    text = str(value)
    parts = text.split("=") if vr == "PN" else [text]
    return max(len(p.encode("utf-8")) for p in parts)


def _cut(vr: str, value: object, limit: int) -> str:
    if vr == "PN":
        return "=".join(cut_bytes(group, limit).rstrip() for group in str(value).split("="))
    return cut_bytes(str(value), limit).rstrip()


def _as_ds(value: object) -> str | None:
    """The same number in at most 16 characters, or None when it is no finite number."""
    try:
        number = float(str(value))
    except ValueError:
        return None
    return format_number_as_ds(number) if math.isfinite(number) else None


def fit_element(elem, path: str) -> Fitted | None:
    """Make one element's values fit its VR in place; what was done, or None when they fit."""
    limit = MAX_BYTES.get(elem.VR)
    if limit is None or elem.value is None or elem.VM == 0:
        return None
    values = list(elem.value) if elem.VM > 1 else [elem.value]
    longest = max(_size(elem.VR, v) for v in values)
    if longest <= limit:
        return None
    if elem.VR in CUT and elem.keyword not in IDENTIFIERS:
        elem.value = [_cut(elem.VR, v, limit) for v in values] if len(values) > 1 else _cut(elem.VR, values[0], limit)
        return Fitted(path, elem.VR, f"cut from {longest} to at most {limit} bytes, the most {elem.VR} allows",
                      shown(elem.value))
    if elem.VR == "DS":
        numbers = [_as_ds(v) for v in values]
        if None not in numbers:
            elem.value = numbers if len(numbers) > 1 else numbers[0]
            return Fitted(path, elem.VR, f"rounded to at most {limit} characters (was {longest})", shown(elem.value))
    if elem.keyword in IDENTIFIERS:
        why = "a cut id would name another patient or study"
    else:
        why = "a cut value would mean something else"
    elem.value = ""
    return Fitted(path, elem.VR, f"left empty: {longest} bytes, more than the {limit} {elem.VR} allows, and {why}", "")


def fit_dataset(ds: Dataset, prefix: str = "") -> list[Fitted]:
    """Fit every value of ``ds`` (nested sequences too) to its VR, in place; the changes made."""
    changes: list[Fitted] = []
    for elem in ds:
        path = f"{prefix}{elem.keyword or elem.tag}"
        if elem.VR == "SQ":
            for item in elem.value or []:
                changes += fit_dataset(item, f"{path} > ")
            continue
        change = fit_element(elem, path)
        if change is not None:
            changes.append(change)
    return changes
