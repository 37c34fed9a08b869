"""File > Import from PACS: the DICOMweb URL and what to fetch (minimal form; the import itself
runs in the importer's worker with its progress dialog and Stop button)."""

from __future__ import annotations

import re

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QPlainTextEdit, QWidget

from ..core.errors import MammoError
from ..services.pacs_session import auth_description, check_url
from ..services.qido import qido_date

KEY_URL = "pacs/url"
UID = re.compile(r"[0-9]+(\.[0-9]+)*")
UID_MAX = 64  # DICOM's limit for a UI value
SEPARATORS = re.compile(r"[\s,;|]+")  # a list pasted from a spreadsheet, an e-mail or a report


def study_uids(text: str) -> tuple[list[str], list[str]]:
    """(valid StudyInstanceUIDs in order, each once; the pieces that are not UIDs), from text
    separated by lines, spaces, commas, semicolons or bars (only whitespace split them before:
    a comma-separated list reached the PACS client as one UID and failed the whole import)."""
    uids, bad = [], []
    for piece in SEPARATORS.split(text):
        piece = piece.strip("\"'")
        if not piece:
            continue
        (uids if UID.fullmatch(piece) and len(piece) <= UID_MAX else bad).append(piece)
    return list(dict.fromkeys(uids)), bad


def since_date(text: str) -> str | None:
    """'2024-05-01' or '20240501' as 2024-05-01, None when empty; a MammoError for anything else
    (the service's check, said in the form before it closes)."""
    digits = qido_date(text) if text.strip() else None
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}" if digits else None


class PacsDialog(QDialog):
    """URL, StudyInstanceUIDs (one per line; empty: query by modality and date), modality, date."""

    def __init__(self, parent: QWidget | None = None, settings: QSettings | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import from PACS (DICOMweb)")
        self.settings = settings
        form = QFormLayout(self)
        self.url = QLineEdit(str(settings.value(KEY_URL, "")) if settings is not None else "")
        self.url.setPlaceholderText("https://pacs.example/dicom-web")
        self.studies = QPlainTextEdit()
        self.studies.setPlaceholderText("StudyInstanceUIDs, one per line (empty: every study matching below)")
        self.studies.setMaximumHeight(90)
        self.modality = QLineEdit("MG")
        self.since = QLineEdit()
        self.since.setPlaceholderText("2024-05-01 (optional)")
        form.addRow("DICOMweb URL", self.url)
        form.addRow("Studies", self.studies)
        form.addRow("Modality", self.modality)
        form.addRow("Studies since", self.since)
        form.addRow(QLabel(f"Authentication: {auth_description()} (MAMMO_DICOMWEB_* variables); TLS verified."))
        self.problem = QLabel("")  # why OK did not close the dialog
        self.problem.setObjectName("error")
        self.problem.setStyleSheet("color: #ff8a80;")
        self.problem.setWordWrap(True)
        self.problem.hide()
        form.addRow(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def params(self) -> dict:
        """Keyword arguments of ``services.dicomweb.import_dicomweb`` (checked by ``accept``)."""
        since = self.since.text().strip()
        try:
            since = since_date(since)
        except MammoError:
            pass
        return {"url": self.url.text().strip(), "studies": study_uids(self.studies.toPlainText())[0],
                "modality": self.modality.text().strip().upper() or None, "since": since or None}

    def check(self) -> tuple[QWidget, str] | None:
        """The first field that cannot work and why, or None: said here, with the form still filled
        in, rather than after the dialog closed (an empty URL did nothing at all)."""
        url = self.url.text().strip()
        if not url:
            return self.url, "Enter the PACS's DICOMweb URL, e.g. https://pacs.example/dicom-web."
        try:
            check_url(url)
        except MammoError as exc:
            return self.url, str(exc)
        uids, bad = study_uids(self.studies.toPlainText())
        if bad:
            shown = ", ".join(f"'{b[:70]}'" for b in bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
            return self.studies, (f"Not a Study Instance UID: {shown}. A UID is digits and dots (at most {UID_MAX} "
                                  "characters); put one per line or separate them with commas.")
        try:
            since_date(self.since.text())
        except MammoError as exc:
            return self.since, str(exc)
        return None

    def accept(self) -> None:
        problem = self.check()
        if problem is not None:
            widget, text = problem
            self.problem.setText(text)
            self.problem.show()
            widget.setFocus()
            return
        self.problem.hide()
        if self.settings is not None:
            self.settings.setValue(KEY_URL, self.url.text().strip())
        super().accept()
