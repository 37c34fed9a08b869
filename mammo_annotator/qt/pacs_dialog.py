"""File > Import from PACS: the DICOMweb URL and what to fetch (minimal form; the import itself
runs in the importer's worker with its progress dialog and Stop button)."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QPlainTextEdit, QWidget

from ..services.dicomweb import auth_description

KEY_URL = "pacs/url"


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
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def params(self) -> dict:
        """Keyword arguments of ``services.dicomweb.import_dicomweb``."""
        return {"url": self.url.text().strip(), "studies": [s.strip() for s in self.studies.toPlainText().split() if s.strip()],
                "modality": self.modality.text().strip() or None, "since": self.since.text().strip() or None}

    def accept(self) -> None:
        if not self.url.text().strip():
            self.url.setFocus()
            return
        if self.settings is not None:
            self.settings.setValue(KEY_URL, self.url.text().strip())
        super().accept()
