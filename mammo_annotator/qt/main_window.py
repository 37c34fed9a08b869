"""The main window: worklist | canvas or four-view | side panel, and the project it shows.

It builds its parts (``docks``, ``status_bar``, ``menus`` with the ``toolbar``, ``panel_sync``,
``four_view_mode``, ``marks_sync``, ``model_ui``, ``importer``), opens and switches projects
(``project_opening``) and turns the project's events into refreshes; it holds no data of its own
beyond what is on screen.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QUndoGroup
from PySide6.QtWidgets import QMainWindow, QStackedWidget, QToolBar

from ..services import viewing
from ..services.project import Project
from .annotation_list import AnnotationList
from .cad_panel import CadPanel
from .dialogs import ask_annotator, show_error
from .docks import build_docks, fit_side_docks, side_widths
from .events_bridge import EventBridge
from .four_view_mode import FourViewMode
from .hanging import FourViewWidget
from .heap import freeze_long_lived
from .help import HelpDialog
from .image_page import ImagePage
from .importer import ImportController
from .layout import ReadingMode, restore_layout, save_layout
from .leave_guard import may_leave
from .marks_sync import MarksSync
from .menus import TOOL_KEYS, build_menus, export_dialog_class
from .model_ui import ModelUI
from .panel_sync import PanelSync
from .project_opening import ProjectOpening
from .side_panel import SidePanel
from .status_bar import add_status_labels
from .steps import StepQueue
from .team_sync import TeamSync
from .toolbar import fit_toolbar
from .worklist import WorklistPanel
from .worklist_reads import WorklistReads

# importable from here as before the split (the tests import side_widths from this module)
__all__ = ["MainWindow", "TOOL_KEYS", "export_dialog_class", "side_widths"]


class MainWindow(ProjectOpening, QMainWindow):
    """The reading window; what changes with its project (opening, switching): ``ProjectOpening``."""

    def __init__(self, project: Project, annotator: str, settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings()
        self.project = project
        self.undo_group = QUndoGroup(self)
        self.page = ImagePage(project, annotator, self.undo_group)
        self.four = FourViewWidget()
        self.center = QStackedWidget()
        self.center.addWidget(self.page.view)
        self.center.addWidget(self.four)
        self.setCentralWidget(self.center)
        self.worklist = WorklistPanel()
        self._open_when_listed = False
        self.worklist_reads = WorklistReads(self._apply_worklist,
                                            lambda text: show_error(self, "Cannot read the worklist", text), self)
        self.side = SidePanel()
        self.cad = CadPanel()
        self.contour_list = AnnotationList()
        self.steps = StepQueue(self, on_error=self._step_failed)  # views refreshed after a new model
        self.model_ui = ModelUI(self, self.steps)
        self.reading = ReadingMode(self)
        self.four_mode = FourViewMode(self)
        self.marks = MarksSync(self)  # per model version: thresholds read ahead, images annotated since
        self.tabs, self.docks = build_docks(self)
        self.status_tool, self.status_annotator, self.status_cursor, self.status_db = add_status_labels(self.statusBar())
        self.importer = ImportController(self)
        build_menus(self)  # the actions become attributes: tool_actions, four_action, undo_action...
        self.panels = PanelSync(self)
        self.panels.restore_view_settings()
        self.bridge: EventBridge | None = None
        self.team: TeamSync | None = None  # other machines' changes, who is on the image (issue 14)
        self.resize(1600, 1000)
        self._attach(project)
        self._layout_restored = restore_layout(self, self.settings, self.page.editor.annotator)

    def toolbars(self) -> list[QToolBar]:
        return self.findChildren(QToolBar)

    # worklist and project events -----------------------------------------------------------
    def refresh_worklist(self) -> None:
        self.worklist_reads.read(self.project, self.page.editor.annotator)  # the dot: others only

    def refresh_worklist_rows(self, image_ids: list[int] | None) -> None:
        """After an edit of a few images: their rows only (a save stays fast on a long list)."""
        self.worklist_reads.read(self.project, self.page.editor.annotator, image_ids)

    def _apply_worklist(self, image_ids: list[int] | None, rows: list) -> None:
        if image_ids is not None:
            if len(rows) != len(set(image_ids)) or not self.worklist.update_rows(rows):
                self.refresh_worklist()  # an image appeared or went: the whole list
            return
        same = {r.image_id for r in rows} == {r.image_id for r in self.worklist.model.rows}
        if not (same and self.worklist.update_rows(rows)):  # a model swap changes every p(M), not the list
            self.worklist.set_rows(rows)
        if self._open_when_listed:  # a project opened on a slow server: its list came late
            self._open_when_listed = False
            self._show_current_image()

    def _on_event_shown(self, name: str, payload: dict) -> None:
        """An error while the views refresh is shown in the status bar, not only logged (issue 12)."""
        try:
            self._on_event(name, payload)
        except Exception as exc:
            logging.getLogger(__name__).exception("refresh after %s failed", name)
            self.statusBar().showMessage(f"Could not refresh after {name.replace('_', ' ')}: {type(exc).__name__}: {exc}", 30000)

    def _on_event(self, name: str, payload: dict) -> None:
        image_id = payload.get("image_id")
        self.model_ui.on_event(name, payload)
        self.marks.on_event(name, payload)  # before the reloads below: the counts they show are stale
        if name in ("annotations_changed", "image_changed"):
            if image_id == self.page.image_id:
                self.page.reload()
            self.refresh_worklist_rows([image_id] if image_id is not None else None)
        elif name == "images_imported":
            self.refresh_worklist()
        elif name in ("model_activated", "model_added"):
            self.steps.add("worklist", self.refresh_worklist)
            if name == "model_activated":
                # the image's marks wait for its thresholds, which are read in a thread, not here
                self.steps.add("image", self.page.reload_model, ready=self.marks.thresholds_ready)

    def _step_failed(self, step: str, exc: Exception) -> None:
        """As _on_event_shown: a refresh that fails is shown, not only logged."""
        self.statusBar().showMessage(f"Could not refresh the {step} after a new model: {type(exc).__name__}: {exc}", 30000)

    # dialogs --------------------------------------------------------------------------------
    def show_help(self, page: str) -> HelpDialog:
        """A Help page (non-modal); the shortcut sheet is built from the actions as they are now."""
        from .help import HOW_TO, about_html, shortcut_html

        if page == "shortcuts":
            title, body = "Keyboard shortcuts", shortcut_html(self.menuBar())
        elif page == "how-to":
            title, body = "How to annotate", HOW_TO
        else:
            model = self.page.bundle.model if self.page.bundle is not None else viewing.active_model(self.project)
            title, body = "About", about_html(self.project, model)
        self.help_dialog = HelpDialog(title, body, self)
        self.focus_image_after(self.help_dialog)
        self.help_dialog.show()
        return self.help_dialog

    def export(self) -> None:
        cls = export_dialog_class()
        if cls is None:
            show_error(self, "Export", "The export module is not available in this build.")
            return
        self.export_dialog = cls(self.project, self)
        self.focus_image_after(self.export_dialog)
        self.export_dialog.open()

    # annotator ------------------------------------------------------------------------------
    def set_annotator(self, name: str) -> None:
        if name != self.page.editor.annotator and self.isVisible():
            save_layout(self, self.settings, self.page.editor.annotator)
            restore_layout(self, self.settings, name)
        self.page.editor.annotator = name
        self.status_annotator.setText(f"Annotator: {name}")

    def change_annotator(self) -> None:
        name = ask_annotator(self, self.page.editor.annotator)
        if name:
            self.settings.setValue("annotator", name)
            self.set_annotator(name)

    # viewing --------------------------------------------------------------------------------
    def open_image(self, image_id: int) -> None:
        if self.page.open_image(image_id):
            self.four_mode.refresh()

    def error(self, title: str, text: str) -> None:
        """A warning; when it closes, the keyboard goes back to the image."""
        self.focus_image_after(show_error(self, title, text))

    def focus_image_after(self, dialog) -> None:
        """When ``dialog`` closes (any button, Esc), the keyboard goes back to the image, so the
        reader's next shortcut acts on it without a click."""
        dialog.finished.connect(lambda *_: self.page.view.setFocus())

    def toggle_proposals(self, on: bool) -> None:
        self.page.proposals.configure(visible=on)

    def fit(self) -> None:
        self.four_mode.fit()

    def show_four(self, on: bool) -> None:
        self.four_mode.show(on)

    # window events --------------------------------------------------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._layout_restored:  # first start: side panels as narrow as their text allows
            self._layout_restored = True
            fit_side_docks(self)
            freeze_long_lived("the window is built")
        QTimer.singleShot(0, self.page.view.setFocus)  # shortcuts work from the start, without a click

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            fit_toolbar(self.toolbar, self._short_first, event.size().width())

    def closeEvent(self, event) -> None:
        """Nothing to save (every edit is in the database, or the reader chose to leave one the
        server has not answered); stop workers, close the file."""
        if not may_leave(self, self.page.editor, "close"):
            event.ignore()
            return
        if not self.importer.shutdown() or not self.model_ui.shutdown():
            event.ignore()
            return
        self.reading.leave()
        self.settings.setValue("geometry", self.saveGeometry())
        save_layout(self, self.settings, self.page.editor.annotator)
        if self.bridge is not None:
            self.bridge.detach()
        if self.team is not None:
            self.team.stop()
        self.worklist.model.thumbnails.stop()
        self.marks.wait()
        super().closeEvent(event)
