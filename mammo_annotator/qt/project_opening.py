"""The project a window shows (part of ``MainWindow``): attaching to it (events, team sync, the
worklist and the image first shown) and opening, creating or switching to another.

Apart from the window's building and refreshes: this is what changes when the project does.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog

from ..core.errors import MammoError
from ..services import viewing
from ..services.project import INTERACTIVE_BUSY_TIMEOUT_MS, Project
from .dialogs import show_error
from .events_bridge import EventBridge
from .leave_guard import may_leave
from .team_sync import TeamSync
from .theme import icon


class ProjectOpening:
    """Mixin of ``MainWindow``: uses its page, worklist, reads, panels, bridge, team and settings."""

    def _attach(self, project: Project) -> None:
        if self.bridge is not None:
            self.bridge.detach()
        self.project = project
        project.set_thread_busy_timeout(INTERACTIVE_BUSY_TIMEOUT_MS)  # this (GUI) thread never freezes for 15 s
        self.marks.attach(project)
        self.model_ui.attach(project)  # before the bridge: the retrain queue counts an edit first
        self.bridge = EventBridge(project)
        self.bridge.event.connect(self._on_event_shown)
        if self.team is not None:
            self.team.stop()
        self.team = TeamSync(project, lambda: self.page.editor.annotator, self)
        self.team.othersChanged.connect(lambda text: text and self.statusBar().showMessage(text, 30000))
        self.team.presenceChanged.connect(self.refresh_worklist_rows)
        self.team.jobChanged.connect(lambda text: self.statusBar().showMessage(text or "Retraining elsewhere has finished", 30000))
        self.status_db.setText(f"Database: {project.location}")
        self.setWindowTitle(f"Mammo Annotator — {project.location if project.is_server else project.path.name}")
        self.setWindowIcon(icon("app"))
        self.set_annotator(self.page.editor.annotator)
        thumbs = self.worklist.model.thumbnails
        thumbs.clear()
        thumbs.load_record = lambda image_id, p=project: viewing.image_record(p, image_id)
        self.worklist_reads.forget()
        self.refresh_worklist()
        self._open_when_listed = self.worklist_reads.waiting
        if not self._open_when_listed:
            self._show_current_image()

    def _show_current_image(self) -> None:
        """The current row's image (the first row when none), opened even when the row did not
        change: a copy of the project has the same image ids, so no row change would open it and
        the canvas, cleared by ``page.set_project``, would stay blank under a highlighted row."""
        wl = self.worklist
        if not wl.proxy.rowCount():
            return
        before = wl.current_image_id()
        wl.step(0)  # no current row: the first, whose row change opens it
        image_id = wl.current_image_id()
        if image_id is not None and image_id == before:  # the row stayed: no signal opened it
            self.open_image(image_id)

    def switch_project(self, project: Project) -> None:
        old = self.project
        self.page.set_project(project)
        self._attach(project)
        self.settings.setValue("last_project", project.target)  # a file, or a URL without password
        if old is not project:
            old.close()

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", str(self.project.path.parent),
                                              "Mammo Annotator projects (*.sqlite *.db *.sqlite.example);;All files (*)")
        if path:
            self._open_path(path, create=False)

    def open_server_dialog(self) -> None:
        url, ok = QInputDialog.getText(self, "Open server project", "SQLAlchemy URL (no password: PGPASSWORD or ~/.pgpass)",
                                       text=self.project.target if self.project.is_server else "postgresql+psycopg://user@host/db")
        if ok and url.strip():
            self._open_path(url.strip(), create=True)

    def new_project(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "New project", str(self.project.path.parent / "project.sqlite"),
                                              "Mammo Annotator projects (*.sqlite)")
        if path:
            if Path(path).exists():
                show_error(self, "New project", f"{path} already exists; use File > Open project to open it.")
                return
            self._open_path(path, create=True)

    def _open_path(self, path: str, create: bool) -> None:
        from ..services.project_guard import open_guarded
        from .app import ask_restore

        if not may_leave(self, self.page.editor, "open"):
            return
        try:  # this instance's lock, or read-only; a damaged file offers its last good backup
            project, note = open_guarded(path, create=create, ask_restore=lambda exc: ask_restore(self, exc))
        except MammoError as exc:
            show_error(self, "Cannot open project", str(exc))
            return
        self.switch_project(project)
        if note:
            self.statusBar().showMessage(note)
            show_error(self, "Project opened", note)
