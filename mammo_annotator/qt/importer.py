"""File > Import: pick files or a folder, import them in a worker thread, report what failed.

The service's progress callback becomes the dialog's bar; Stop sets the worker's cancel token
(images finished before the stop stay imported).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMainWindow

from .dialogs import ImportReportDialog, ProgressDialog, show_error
from .workers import TaskWorker

if TYPE_CHECKING:  # the import services (breast mask: scipy) load at the first import, not at start-up
    from ..services.importing import ImportReport

IMAGE_SUFFIXES = {".dcm", ".dicom", ".png", ".tif", ".tiff", ".pgm"}
DATASETS = {"mini-MIAS (folder with Info.txt and the .pgm files)": "mini-mias",
            "INbreast (folder with AllDICOMs, XML and the INbreast.csv/xls)": "inbreast"}


def image_files(folder: Path, cancel: threading.Event | None = None) -> list[Path]:
    """Every image file below ``folder``, in a stable order; stops early when ``cancel`` is set
    (a folder on a network share can take minutes to walk, so it is walked in the worker)."""
    found = []
    for p in folder.rglob("*"):
        if cancel is not None and cancel.is_set():
            break
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            found.append(p)
    return sorted(found)


class ImportController(QObject):
    """A QObject in the GUI thread: the worker's signals reach its slots queued, in this thread
    (a plain callable or lambda would run in the worker's thread and build widgets there)."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.worker: TaskWorker | None = None
        self.dialog: ProgressDialog | None = None
        self.last_report: ImportReport | None = None
        self.report_dialog: ImportReportDialog | None = None
        self._closing = False  # the window is closing: an outcome arriving now opens no dialog

    def import_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self.window, "Import images", "", "Mammograms (*.dcm *.dicom *.png *.tif *.tiff *.pgm);;All files (*)"
        )
        if paths:
            self.start([Path(p) for p in paths])

    def import_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Import every image in a folder")
        if folder:
            self.start_folder(Path(folder))

    def start_folder(self, folder: Path) -> TaskWorker | None:
        """Import every image below ``folder``; the folder is walked in the worker, so a large tree
        never freezes the window and Stop also ends the walk."""
        from ..core.errors import MammoError
        from ..services.importing import ImportItem

        def items(_report, cancel: threading.Event) -> list[ImportItem]:
            files = image_files(folder, cancel)
            if not files and not cancel.is_set():
                raise MammoError(f"No DICOM, PNG or TIFF files found in {folder}.")
            return [ImportItem(path=p) for p in files]

        return self._run(items, f"Importing the images in {folder.name or folder}")

    def import_dataset(self) -> None:
        label, ok = QInputDialog.getItem(self.window, "Import dataset", "Dataset:", list(DATASETS), 0, False)
        if not ok:
            return
        folder = QFileDialog.getExistingDirectory(self.window, f"{label.split(' (')[0]} folder")
        if folder:
            self.start_dataset(DATASETS[label], Path(folder))

    def start(self, paths: list[Path]) -> TaskWorker | None:
        """Import ``paths`` off the GUI thread; returns the worker (tests wait on it)."""
        from ..services.importing import ImportItem

        items = [ImportItem(path=p) for p in paths]
        return self._run(lambda _report, _cancel: items, f"Importing {len(items)} image(s)")

    def start_dataset(self, kind: str, folder: Path) -> TaskWorker | None:
        """Import a public dataset (``services.sources.dataset_items``: labels, lesion outlines);
        reading its label files also happens in the worker."""
        from ..services.sources import dataset_items

        return self._run(lambda report, _cancel: dataset_items(kind, folder, report), f"Importing {kind} from {folder.name}")

    def import_from_pacs(self) -> TaskWorker | None:
        """File > Import from PACS: query and retrieve over DICOMweb, as ``import-dicomweb`` does."""
        from ..services.dicomweb import import_dicomweb
        from .pacs_dialog import PacsDialog

        dialog = PacsDialog(self.window, getattr(self.window, "settings", None))
        if dialog.exec() != PacsDialog.Accepted:
            return None
        params, project = dialog.params(), self.window.project
        return self._start(lambda progress, cancel, report: import_dicomweb(project, progress=progress, cancel=cancel,
                                                                            report=report, **params), "Import from PACS")

    def _run(self, make_items, title: str) -> TaskWorker | None:
        from ..services.importing import import_items

        project = self.window.project

        def body(progress, cancel, report):
            progress(0, 0, "reading the source…")
            items = make_items(report, cancel)
            # one by one: reader threads would share the GIL with the window and stall it
            return import_items(project, items, progress, cancel, report, readers=0)

        return self._start(body, title)

    def _start(self, body, title: str) -> TaskWorker | None:
        """Run ``body(progress, cancel, report)`` in the worker with the progress dialog."""
        if self.worker is not None and self.worker.is_running():
            show_error(self.window, "Import", "An import is already running.")
            return None
        from ..services.importing import ImportReport

        report = ImportReport()
        self._closing = False

        def task(progress, cancel):
            return body(progress, cancel, report)

        self.worker = TaskWorker(task, "import")
        self.dialog = ProgressDialog(title, self.window)
        self.worker.progress.connect(self.dialog.update_progress)
        self.dialog.stopRequested.connect(self._stop)
        self.worker.succeeded.connect(self._done)
        self.worker.failed.connect(self._failed)
        self.worker.finished.connect(self._finished)
        self.dialog.show()
        self.worker.start()
        return self.worker

    @Slot()
    def _stop(self) -> None:
        # called here, in the GUI thread: a queued call to the worker would wait for the task
        if self.worker is not None:
            self.worker.stop()

    @Slot(str)
    def _failed(self, text: str) -> None:
        if self._closing:
            return
        self.window.focus_image_after(show_error(self.window, "Import failed", text))

    @Slot(object)
    def _done(self, report: ImportReport) -> None:
        self.last_report = report
        if self._closing:  # stopped by closing the window: a report would outlive it and keep the app running
            return
        self.window.refresh_worklist()
        self.report_dialog = ImportReportDialog(report, self.window)
        self.window.focus_image_after(self.report_dialog)  # closed: the keyboard is back on the image
        self.report_dialog.open()

    @Slot(str)
    def _finished(self, _state: str) -> None:
        if self.dialog is not None:
            self.dialog.hide()
            self.dialog.deleteLater()
            self.dialog = None
        if self.worker is not None:
            self.worker.wait(5000)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Stop a running import and wait for its thread (no thread outlives the window)."""
        if self.worker is not None and self.worker.is_running():
            self.worker.stop()
            self._closing = True  # whether or not the thread ends in time, its outcome opens nothing now
            return self.worker.wait(timeout_ms)
        return True
