"""File > Export: choose formats and a folder, then export in a worker thread with a Stop button.

The dialog only gathers choices; ``services.export.export_many`` does the work in a QThread,
its progress callback becomes a queued signal and Stop sets the ``threading.Event`` the service
checks between images (a stopped or failed run writes nothing: the folder stays as it was).
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox, QDialog, QFileDialog, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QProgressBar,
    QPushButton, QVBoxLayout, QWidget,
)

from ..core.errors import MammoError
from ..core.progress import Cancelled
from ..services import export as export_service
from ..services.project import Project

FORMAT_LABELS = {
    "labels": "Image labels (CSV)", "regions": "Region labels (CSV)", "geojson": "Contours (GeoJSON)",
    "coco": "Contours (COCO JSON)", "masks": "Masks (PNG per image and class)", "predictions": "Model predictions (CSV)",
    "seg": "DICOM SEG (DICOM images only)", "sr": "DICOM SR measurement report (DICOM images only)",
}
DEFAULT_ON = ("labels", "regions", "geojson", "coco", "masks")


class ExportWorker(QObject):
    """Runs one export in its thread; ``finished`` carries ("done" | "stopped" | "failed", text)."""

    progress = Signal(int, int, str)
    finished = Signal(str, str)

    def __init__(self, project: Project, formats: list[str], folder: str, options: export_service.ExportOptions,
                 cancel: threading.Event):
        super().__init__()
        self.project, self.formats, self.folder, self.options, self.cancel = project, formats, folder, options, cancel

    @Slot()
    def run(self) -> None:
        try:
            results = export_service.export_many(self.project, self.formats, self.folder, self.options,
                                                 progress=self.progress.emit, cancel=self.cancel)
            self.finished.emit("done", "\n".join(r.summary() + skip_reasons(r) for r in results))
        except Cancelled:
            self.finished.emit("stopped", "Stopped: nothing was written; the folder is as it was.")
        except MammoError as exc:
            self.finished.emit("failed", str(exc))
        except Exception as exc:  # shown, not swallowed: the dialog must never hang in "running"
            self.finished.emit("failed", f"{type(exc).__name__}: {exc}")


def skip_reasons(result) -> str:
    """Why images were left out, each reason once with its count (the dialog said only "2
    skipped", and "seg: 0 items" from a project of PNGs said nothing at all), then the first
    warnings (a DICOM value cut or left empty to fit its VR)."""
    lines = []
    if result.skipped:
        counts = Counter(reason for _, reason in result.skipped)
        lines = [f"\n    skipped {n}: {reason}" for reason, n in counts.most_common(3)]
        if len(counts) > 3:
            lines.append(f"\n    and {len(counts) - 3} other reasons")
    lines += [f"\n    warning: {text}" for _, text in result.warnings[:3]]  # values cut to fit DICOM
    if len(result.warnings) > 3:
        lines.append(f"\n    and {len(result.warnings) - 3} other warnings")
    return "".join(lines)


class ExportDialog(QDialog):
    """Export the project's labels; standalone, opened by the main window's File > Export."""

    def __init__(self, project: Project, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.project = project
        self._thread: QThread | None = None
        self._worker: ExportWorker | None = None
        self._cancel = threading.Event()
        self.status = "idle"

        self.format_boxes: dict[str, QCheckBox] = {}
        formats = QGroupBox("Formats")
        grid = QGridLayout(formats)
        for k, (fmt, text) in enumerate(FORMAT_LABELS.items()):
            box = QCheckBox(text)
            box.setChecked(fmt in DEFAULT_ON)
            self.format_boxes[fmt] = box
            grid.addWidget(box, k // 2, k % 2)

        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("Folder to export into")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)

        self.keep_ids = QCheckBox("Keep original patient and image ids (otherwise pseudonyms)")
        self.keep_ids.setToolTip("Names, birth dates and other identifying DICOM tags are never exported.")
        self.per_image = QCheckBox("GeoJSON: one file per image")
        self.progress_bar = QProgressBar()
        self.message = QLabel("")
        self.message.setWordWrap(True)

        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.export_button, self.stop_button, self.close_button):
            buttons.addWidget(b)

        layout = QVBoxLayout(self)
        layout.addWidget(formats)
        layout.addLayout(folder_row)
        layout.addWidget(self.keep_ids)
        layout.addWidget(self.per_image)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.message)
        layout.addLayout(buttons)

    # ------------------------------------------------------------------ choices
    def selected_formats(self) -> list[str]:
        return [fmt for fmt, box in self.format_boxes.items() if box.isChecked()]

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    # ------------------------------------------------------------------ running
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def start(self) -> None:
        formats, folder = self.selected_formats(), self.folder_edit.text().strip()
        if not formats or not folder:
            self.message.setText("Choose at least one format and a folder.")
            return
        folder = os.path.expanduser(folder)
        if not os.path.isabs(folder):  # it would land in the program's working folder, where nobody looks
            self.message.setText(f"'{folder}' is not a full folder path; enter one such as "
                                 f"{Path.home() / 'exports'}, or use Browse….")
            return
        options = export_service.ExportOptions(keep_ids=self.keep_ids.isChecked(), per_image=self.per_image.isChecked())
        self._cancel = threading.Event()
        self._thread = QThread(self)
        self._worker = ExportWorker(self.project, formats, folder, options, self._cancel)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progress.connect(self._on_progress)
        self._worker.finished.connect(self._on_finished)  # queued to this thread; it ends the worker thread
        self.status = "running"
        self._set_running(True)
        self.message.setText("Exporting…")
        self._thread.start()

    def stop(self) -> None:
        self._cancel.set()
        self.stop_button.setEnabled(False)
        self.message.setText("Stopping after the current image…")

    def _set_running(self, running: bool) -> None:
        self.export_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        for widget in (*self.format_boxes.values(), self.folder_edit, self.keep_ids, self.per_image):
            widget.setEnabled(not running)

    @Slot(int, int, str)
    def _on_progress(self, done: int, total: int, message: str) -> None:
        if total > 0:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(min(done, total))
        else:
            self.progress_bar.setRange(0, 0)  # unknown total: busy indicator
        self.message.setText(message)

    @Slot(str, str)
    def _on_finished(self, status: str, text: str) -> None:
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
        self.status = status
        self._set_running(False)
        if status == "done":
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(1)
        self.message.setText(text if status != "failed" else f"Export failed: {text}")
        self._worker = None

    def reject(self) -> None:
        """Closing while running stops the export first, so no thread outlives the dialog."""
        if self.is_running():
            self._cancel.set()
            self._thread.quit()
            self._thread.wait()
        super().reject()
