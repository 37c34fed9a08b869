"""The export dialog shows the warnings of a result (DICOM values cut to fit their VR), not only a count."""

from __future__ import annotations

from pathlib import Path

from mammo_annotator.qt.export_dialog import skip_reasons
from mammo_annotator.services.export import ExportResult


def test_the_first_warnings_are_listed():
    warnings = [("I-1", f"I-1_seg.dcm: PatientID (LO) left empty ({k})") for k in range(5)]
    result = ExportResult("seg", Path("out"), files=1, items=1, warnings=warnings)
    text = result.summary() + skip_reasons(result)
    assert "(5 warnings)" in text
    assert "\n    warning: I-1_seg.dcm: PatientID (LO) left empty (0)" in text
    assert "(3)" not in text and text.endswith("and 2 other warnings")
