"""The main window: worklist | canvas or four-view | side panel, menus, shortcuts, status bar.

It wires widgets to the ``ImagePage`` controller and the project's events; it holds no data
of its own beyond what is on screen.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QUndoGroup
from PySide6.QtWidgets import (
    QDockWidget, QFileDialog, QInputDialog, QLabel, QMainWindow, QScrollArea, QStackedWidget, QTabWidget, QToolBar,
)

from ..core.errors import MammoError
from ..core.windowing import READING_PRESETS
from ..services import cad, viewing
from ..services.project import INTERACTIVE_BUSY_TIMEOUT_MS, Project, open_project
from .annotation_list import AnnotationList
from .cad_panel import CadPanel
from .contour_tool import Tool
from .dialogs import ask_annotator, show_error
from .events_bridge import EventBridge
from .hanging import FourViewWidget
from .heap import freeze_long_lived
from .help import HelpDialog
from .image_page import ImagePage
from .importer import ImportController
from .operating_points import OperatingPoints
from .team_sync import TeamSync, agreement_text
from .layout import ReadingMode, restore_layout, save_layout
from .model_ui import ModelUI
from .side_panel import SidePanel
from .steps import StepQueue
from .theme import icon
from .worklist import WorklistPanel



def export_dialog_class():
    """The export dialog, or None when its module cannot be imported (then File > Export is disabled)."""
    try:
        from .export_dialog import ExportDialog
    except Exception:  # an optional dependency missing or the module unfinished: the app still runs
        return None
    return ExportDialog


TOOL_KEYS = {Tool.NAVIGATE: "V", Tool.POLYGON: "P", Tool.FREEHAND: "F", Tool.ELLIPSE: "O", Tool.RULER: "R",
             Tool.EDIT: "E"}


def side_widths(window_width: int) -> tuple[int, int]:
    """First-start widths of the worklist and the reading panel, the image first: at 1366 px each
    panel just holds its full content (the demo's worklist columns, the Reading and Marks tabs
    without sideways scrolling) and the image keeps over half the width (it had 49 %); at 1920 px
    they stop growing (the image gets 63 %); below, they narrow, the worklist dropping its
    thumbnail and label columns and the panel taking shorter texts, down to 240 and 250 px in an
    800-pixel window (no control is cut off: the tabs scroll)."""
    left = max(240, min(360, window_width // 4 + 4))
    right = max(250, min(340, int(window_width * 0.225)))
    return left, right


class PanelScroll(QScrollArea):
    """A reading-panel tab: it scrolls both ways when the dock is narrower or lower than the
    panel (with the horizontal bar always off, an 800-pixel window cut the controls off at the
    right, out of reach), and lets a panel with a ``fit_width`` shorten its texts first."""

    def __init__(self, widget) -> None:
        super().__init__()
        self.setWidget(widget)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)

    def resizeEvent(self, event) -> None:
        fit = getattr(self.widget(), "fit_width", None)
        if fit is not None:  # the area's own width (the viewport's resizes come here too), less a vertical
            # bar's: a bar coming and going does not flip the texts
            fit(self.width() - 2 * self.frameWidth() - self.verticalScrollBar().sizeHint().width())
        super().resizeEvent(event)


class MainWindow(QMainWindow):
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
        self.side = SidePanel()
        self.cad = CadPanel()
        self.contour_list = AnnotationList()
        self.steps = StepQueue(self, on_error=self._step_failed)  # views refreshed after a new model
        self.model_ui = ModelUI(self, self.steps)
        self.reading = ReadingMode(self)
        self._operating: OperatingPoints | None = None  # model version -> thresholds, read ahead
        self._since: dict[int, int] = {}  # model version -> images annotated since (cleared on edits)
        self._activated: int | None = None  # the version the last activation named
        self._marks_model: int | None = None
        self._docks()
        self._status_bar()
        self.importer = ImportController(self)
        self._actions()
        self._connect()
        self._restore_view_settings()
        self.bridge: EventBridge | None = None
        self.team: TeamSync | None = None  # other machines' changes, who is on the image (issue 14)
        self.resize(1600, 1000)
        self._attach(project)
        self._layout_restored = restore_layout(self, self.settings, self.page.editor.annotator)

    # layout ---------------------------------------------------------------------------------
    def _docks(self) -> None:
        """Worklist | image | reading tabs; the model's docks wait, closed, at the bottom: the image first."""
        left = QDockWidget("Worklist", self)
        left.setObjectName("worklistDock")
        left.setWidget(self.worklist)
        left.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable | QDockWidget.DockWidgetClosable)
        self.addDockWidget(Qt.LeftDockWidgetArea, left)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for widget, title in ((self.side, "Reading"), (self.cad, "Marks"), (self.contour_list, "Contours")):
            self.tabs.addTab(PanelScroll(widget), title)
        right = QDockWidget("Reading", self)
        right.setObjectName("sideDock")
        right.setWidget(self.tabs)
        right.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable | QDockWidget.DockWidgetClosable)
        self.addDockWidget(Qt.RightDockWidgetArea, right)
        self.resizeDocks([left, right], [380, 320], Qt.Horizontal)
        self.docks = (left, right, *self.model_ui.add_docks(left))
        nxt = self.model_ui.next_dock  # tabbed with the worklist: its width must not hold the worklist wide
        nxt.setWidget(PanelScroll(nxt.widget()))

    def toolbars(self) -> list[QToolBar]:
        return self.findChildren(QToolBar)

    def _status_bar(self) -> None:
        bar = self.statusBar()
        self.status_tool = QLabel("Tool: Navigate")
        self.status_annotator = QLabel()
        self.status_cursor = QLabel("")
        self.status_cursor.setMinimumWidth(230)
        self.status_db = QLabel()
        for w in (self.status_tool, self.status_annotator, self.status_cursor):
            bar.addPermanentWidget(w)
        bar.addPermanentWidget(self.status_db, 1)
        self.status_db.setAlignment(Qt.AlignRight | Qt.AlignVCenter)

    def _act(self, menu, text: str, slot, shortcut=None, checkable=False, checked=False, tip=None) -> QAction:
        action = QAction(text, self)
        if shortcut:
            keys = shortcut if isinstance(shortcut, (list, tuple)) else [shortcut]
            seqs: list[QKeySequence] = []
            for k in keys:  # a standard key can expand to several sequences: keep each once
                for seq in QKeySequence.keyBindings(k) if isinstance(k, QKeySequence.StandardKey) else [QKeySequence(k)]:
                    if seq.toString() not in {s.toString() for s in seqs}:
                        seqs.append(seq)
            action.setShortcuts(seqs)
        action.setCheckable(checkable)
        if checkable:
            action.setChecked(checked)
            action.toggled.connect(slot)
        else:
            action.triggered.connect(lambda *_: slot())
        if tip:
            action.setStatusTip(tip)
        menu.addAction(action)
        self.addAction(action)  # shortcuts keep working when the menu bar is hidden (reading mode)
        return action

    def _actions(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self._act(f, "&New project…", self.new_project, QKeySequence.New)
        self._act(f, "&Open project…", self.open_project_dialog, QKeySequence.Open)
        self._act(f, "Open &server project (PostgreSQL)…", self.open_server_dialog,
                  tip="A shared project: postgresql+psycopg://user@host/db (password from PGPASSWORD or ~/.pgpass)")
        f.addSeparator()
        self._act(f, "&Import images…", self.importer.import_files, "Ctrl+I")
        self._act(f, "Import image &folder…", self.importer.import_folder, "Ctrl+Shift+I")
        self._act(f, "Import &dataset (mini-MIAS / INbreast)…", self.importer.import_dataset,
                  tip="Import a public dataset folder with its labels and lesion outlines")
        self._act(f, "Import from &PACS (DICOMweb)…", self.importer.import_from_pacs,
                  tip="Query a PACS (QIDO-RS) and retrieve its mammograms (WADO-RS)")
        f.addSeparator()
        self.export_action = self._act(f, "&Export…", self.export, "Ctrl+E")
        if export_dialog_class() is None:
            self.export_action.setEnabled(False)
            self.export_action.setText("Export… (unavailable in this build)")
        f.addSeparator()
        self._act(f, "&Quit", self.close, QKeySequence.Quit)

        e = mb.addMenu("&Edit")
        self.undo_action = self._act(e, "&Undo", self.undo_group.undo, QKeySequence.Undo)
        self.redo_action = self._act(e, "&Redo", self.undo_group.redo, [QKeySequence.Redo, QKeySequence("Ctrl+Y")])
        self.undo_group.canUndoChanged.connect(self.undo_action.setEnabled)
        self.undo_group.canRedoChanged.connect(self.redo_action.setEnabled)
        self.undo_group.undoTextChanged.connect(lambda t: self._undo_text(self.undo_action, "Undo", t))
        self.undo_group.redoTextChanged.connect(lambda t: self._undo_text(self.redo_action, "Redo", t))
        self.undo_action.setEnabled(False)
        self.redo_action.setEnabled(False)
        e.addSeparator()
        self._act(e, "&Delete selected contour", self.page.delete_selected, [QKeySequence.Delete, "Ctrl+Backspace"])
        self._act(e, "Switch selected contour's &class", self.page.toggle_selected_class, "C")
        self.no_malignant_action = self._act(e, "Confirm &no malignant finding", lambda: self.page.set_no_malignant(True), "N")
        e.addSeparator()
        self._act(e, "Change &annotator…", self.change_annotator)

        t = mb.addMenu("&Tools")
        self.tool_actions: dict[Tool, QAction] = {}
        group = QActionGroup(self)
        for tool, key in TOOL_KEYS.items():
            a = self._act(t, tool.value, lambda on, _t=tool: on and self.page.set_tool(_t), key, checkable=True,
                          checked=tool is Tool.NAVIGATE)
            group.addAction(a)
            self.tool_actions[tool] = a
        t.addSeparator()
        self._act(t, "Close outline", self.page.finish_drawing, ["Return", "Enter"])
        self._act(t, "Remove last point", self.page.undo_last_point, "Backspace")
        self._act(t, "Cancel outline / leave reading mode", self._escape, "Escape")
        self._act(t, "Malignant class", lambda: self.side.cls_m.setChecked(True), "1")
        self._act(t, "Benign class", lambda: self.side.cls_b.setChecked(True), "2")

        v = mb.addMenu("&View")
        self._act(v, "&Next image", lambda: self.worklist.step(1), ["PgDown", "]"])
        self._act(v, "&Previous image", lambda: self.worklist.step(-1), ["PgUp", "["])
        v.addSeparator()
        self._act(v, "&Fit to window", self.fit, ["Home", "0"])
        self.four_action = self._act(v, "Four-view &hanging", self.show_four, "H", checkable=True)
        self.reading_action = self._act(v, "&Reading mode (image only, full screen)", self.reading.toggle, "F11",
                                        tip="Only the image or the four views; F11 or Esc returns")
        self.invert_action = self._act(v, "&Invert", self.side.invert.setChecked, "I", checkable=True)
        self.proposals_action = self._act(v, "CAD &marks", self.toggle_proposals, "T", checkable=True, checked=True)
        self.regions_action = self._act(v, "Region &labels", self.side.show_regions.setChecked, "L", checkable=True,
                                        checked=True)
        self.heat_action = self._act(v, "&Heat map instead of marks", self._set_heat, "M", checkable=True)
        self.wl_menu = v.addMenu("&Window / level")
        self.wl_actions = [self._act(self.wl_menu, name.capitalize(), lambda i=i: self._preset(i), f"F{i + 1}")
                           for i, name in enumerate(READING_PRESETS)]  # the same list, the same keys, for every image

        tb = QToolBar("Tools", self)
        self.addToolBar(tb)
        tb.setObjectName("toolbar")
        tb.setMovable(False)
        for tool in Tool:
            tb.addAction(self.tool_actions[tool])
        tb.addSeparator()
        tb.addAction(self.undo_action)
        tb.addAction(self.redo_action)
        tb.addSeparator()
        for a in (self.four_action, self.invert_action, self.proposals_action):
            tb.addAction(a)
        self.reading_action.setIconText("Reading mode")
        tb.addAction(self.reading_action)
        self.model_ui.add_actions(self._act, mb, v, tb)
        icons = {self.tool_actions[t]: t.value.lower() for t in Tool} | {
            self.undo_action: "undo", self.redo_action: "redo", self.four_action: "four_view",
            self.invert_action: "invert", self.proposals_action: "marks", self.reading_action: "reading_mode",
            self.model_ui.next_action: "next", self.model_ui.retrain_action: "retrain"}
        for action, name in icons.items():
            action.setIcon(icon(name))
        tb.setIconSize(QSize(22, 22))
        tb.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        for action in (self.undo_action, self.redo_action, self.invert_action):
            tb.widgetForAction(action).setToolButtonStyle(Qt.ToolButtonIconOnly)  # the tooltip says what
        self.toolbar = tb
        # in a narrow window these lose their text first (the tooltip keeps it), the drawing tools last:
        # with every text the bar needs 1600 px, and what did not fit was out of reach
        self._short_first = [self.model_ui.retrain_action, self.model_ui.next_action, self.reading_action,
                             self.proposals_action, self.four_action, *(self.tool_actions[t] for t in reversed(Tool))]
        h = mb.addMenu("&Help")
        self._act(h, "&Keyboard shortcuts", lambda: self.show_help("shortcuts"), "?")
        self._act(h, "&How to annotate", lambda: self.show_help("how-to"), "Shift+F1")
        h.addSeparator()
        self._act(h, "&About Mammo Annotator", lambda: self.show_help("about"))
        for action in self.findChildren(QAction):  # shortcuts in tooltips: discoverable
            if action.shortcut().toString():
                action.setToolTip(f"{action.text().replace('&', '')}  ({action.shortcut().toString()})")

    def _connect(self) -> None:
        p, s = self.page, self.side
        self.worklist.imageActivated.connect(self.open_image)
        self.four.imageRequested.connect(self._open_from_four)
        self.four.problem.connect(lambda text: self.statusBar().showMessage(text, 8000))
        p.bundleChanged.connect(self._on_bundle)
        p.toolChanged.connect(lambda name: self.status_tool.setText(f"Tool: {name}"))
        p.message.connect(lambda text: self.statusBar().showMessage(text, 4000))
        p.error.connect(lambda title, text: self.error(title, text))
        p.view.cursorMoved.connect(self._on_cursor)
        p.view.windowChanged.connect(s.show_window)
        p.view.windowChanged.connect(lambda _w: self._corner_info(p.bundle))  # the corner's W/L follows a drag or preset
        s.classChanged.connect(p.set_class)
        s.noMalignantClicked.connect(p.set_no_malignant)
        s.presetChosen.connect(p.view.apply_preset)
        s.invertToggled.connect(self._set_invert)
        s.regionsToggled.connect(p.regions.set_visible)
        s.regionsToggled.connect(self.regions_action.setChecked)
        s.regionOpacityChanged.connect(p.regions.set_opacity)
        s.regionOpacityChanged.connect(lambda a: self.settings.setValue("view/region_opacity", int(round(a * 100))))
        s.regionStyleChanged.connect(p.regions.set_style)
        s.regionStyleChanged.connect(lambda st: self.settings.setValue("view/region_style", st))
        s.autoAdvanceToggled.connect(lambda on: self.settings.setValue("annotate/auto_advance", bool(on)))
        self.cad.proposalsChanged.connect(lambda d: p.proposals.configure(**d))
        self.cad.proposalsChanged.connect(lambda d: self.heat_action.setChecked(d["mode"] == "heat"))
        self.cad.resetRequested.connect(self._reset_thresholds)
        self.contour_list.selected.connect(self._on_list_selection)
        self.contour_list.deleteRequested.connect(p.delete_selected)
        p.contours.selectionChanged.connect(self.contour_list.select)
        p.imageOpened.connect(self._on_image_opened)
        p.retrievedShown.connect(self._on_retrieved_shown)
        p.annotated.connect(self._on_annotated)

    # project --------------------------------------------------------------------------------
    def _attach(self, project: Project) -> None:
        if self.bridge is not None:
            self.bridge.detach()
        self.project = project
        project.set_thread_busy_timeout(INTERACTIVE_BUSY_TIMEOUT_MS)  # this (GUI) thread never freezes for 15 s
        if self._operating is not None:
            self._operating.wait()
        self._operating = OperatingPoints(project, lambda text: self.statusBar().showMessage(text, 6000))
        self._since, self._marks_model = {}, None
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
        self.refresh_worklist()
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

        try:  # this instance's lock, or read-only; a damaged file offers its last good backup
            project, note = open_guarded(path, create=create, ask_restore=lambda exc: ask_restore(self, exc))
        except MammoError as exc:
            show_error(self, "Cannot open project", str(exc))
            return
        self.switch_project(project)
        if note:
            self.statusBar().showMessage(note)
            show_error(self, "Project opened", note)

    def refresh_worklist(self) -> None:
        try:
            rows = viewing.worklist(self.project, reader=self.page.editor.annotator)  # the dot: others only
        except MammoError as exc:
            show_error(self, "Cannot read the worklist", str(exc))
            return
        same = {r.image_id for r in rows} == {r.image_id for r in self.worklist.model.rows}
        if not (same and self.worklist.update_rows(rows)):  # a model swap changes every p(M), not the list
            self.worklist.set_rows(rows)

    def refresh_worklist_rows(self, image_ids: list[int] | None) -> None:
        """After an edit of a few images: their rows only (a save stays fast on a long list)."""
        if image_ids is None:
            self.refresh_worklist()
            return
        try:
            rows = viewing.worklist(self.project, image_ids, reader=self.page.editor.annotator)
        except MammoError as exc:
            show_error(self, "Cannot read the worklist", str(exc))
            return
        if len(rows) != len(set(image_ids)) or not self.worklist.update_rows(rows):
            self.refresh_worklist()  # an image appeared or went: the whole list

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
        if name in ("annotations_changed", "image_changed"):
            self._since.clear()
            if image_id == self.page.image_id:
                self.page.reload()
            self.refresh_worklist_rows([image_id] if image_id is not None else None)
        elif name == "images_imported":
            self.refresh_worklist()
        elif name in ("model_activated", "model_added"):
            self._since.clear()
            self._operating.prefetch(payload.get("version_id"))  # read in a thread while the list refreshes
            self.steps.add("worklist", self.refresh_worklist)
            if name == "model_activated":
                self._activated = payload.get("version_id")
                # the image's marks wait for its thresholds, which are read in a thread, not here
                self.steps.add("image", self.page.reload_model, ready=lambda: not self._operating.reading(self._activated))

    def _step_failed(self, step: str, exc: Exception) -> None:
        """As _on_event_shown: a refresh that fails is shown, not only logged."""
        self.statusBar().showMessage(f"Could not refresh the {step} after a new model: {type(exc).__name__}: {exc}", 30000)

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
        if self.page.open_image(image_id) and self.four_action.isChecked():
            self._fill_four()

    def _on_retrieved_shown(self, _image_id: int) -> None:
        """An image retrieved from its PACS in the background is on the canvas: as open_image would."""
        if self.four_action.isChecked():
            self._fill_four()

    def _open_from_four(self, image_id: int) -> None:
        self.four_action.setChecked(False)
        self.worklist.select_image(image_id)

    def _on_bundle(self, bundle) -> None:
        self.side.show_bundle(bundle, self.page.regions.counts)
        v = self.page.view
        self.side.set_presets(list(v.presets), v.window.name if v.window else "")
        model = bundle.model if bundle is not None else None
        if model is not None and model.id != self._marks_model:
            self._marks_model = model.id
            self.cad.set_operating_points(self._thresholds(model.id))  # a threshold belongs to its model
        since = self._annotated_since(model.id) if model is not None else None
        self.page.proposals.configure(since=since)
        self.cad.show_bundle(bundle, since)
        spacing = bundle.record.pixel_spacing_mm if bundle is not None else None
        self.contour_list.set_contours(bundle.contours if bundle is not None else [], spacing, self.page.contours.selected)
        self._corner_info(bundle)
        agreement = agreement_text(bundle.contours if bundle is not None else [])  # several annotators (issue 14)
        if agreement:
            self.statusBar().showMessage(agreement, 30000)

    def _corner_info(self, bundle) -> None:
        """The canvas's top-left line: who and which view, the window; what a reader needs in reading mode."""
        v = self.page.view
        if bundle is None:
            v.set_corner_text("top", "")
            return
        r = bundle.record
        wl = f" · W/L {v.window.width:.0f}/{v.window.center:.0f} ({v.window.name})" if v.window is not None else ""
        v.set_corner_text("top", f"<b>{viewing.patient_label(r.patient_key)}</b> {r.laterality or '?'}-{r.view or '?'}{wl}")

    def _thresholds(self, version_id: int) -> dict[str, cad.OperatingPoint]:
        return self._operating.get(version_id)

    def _annotated_since(self, version_id: int) -> int | None:
        if version_id not in self._since:
            try:
                self._since[version_id] = cad.annotated_since(self.project, version_id)
            except MammoError:
                return None
        return self._since[version_id]

    def _reset_thresholds(self) -> None:
        if self._marks_model is not None:
            self.cad.set_operating_points(self._thresholds(self._marks_model))

    def _on_list_selection(self, annotation_id) -> None:
        if annotation_id is not None:
            self.page.centre_on(int(annotation_id))
            self.page.view.setFocus()  # Delete and C act on it straight away

    def _on_image_opened(self, image_id: int) -> None:
        """A new image: the class is back to Malignant, the keyboard on the image."""
        self.side.cls_m.setChecked(True)
        self.page.view.setFocus()
        if self.team is not None:
            self.team.image_shown(image_id)

    def _on_annotated(self, what: str) -> None:
        if self.side.auto_advance.isChecked():
            QTimer.singleShot(0, self.model_ui.next_image)
        elif what == "no_malignant":
            self.statusBar().showMessage("Confirmed: no malignant finding. Shift+N opens the next suggested image", 6000)

    def _undo_text(self, action: QAction, verb: str, text: str) -> None:
        action.setText(f"&{verb} {text}" if text else f"&{verb}")
        action.setToolTip(f"{verb} {text}  ({action.shortcut().toString()})" if text else verb)
        action.setStatusTip(f"{verb} {text}" if text else "")

    def _set_heat(self, on: bool) -> None:
        self.cad.set_mode("heat" if on else "marks")

    def _escape(self) -> None:
        if not self.page.cancel_drawing() and self.reading.active:
            self.reading.leave()

    def error(self, title: str, text: str) -> None:
        """A warning; when it closes, the keyboard goes back to the image."""
        self.focus_image_after(show_error(self, title, text))

    def focus_image_after(self, dialog) -> None:
        """When ``dialog`` closes (any button, Esc), the keyboard goes back to the image, so the
        reader's next shortcut acts on it without a click."""
        dialog.finished.connect(lambda *_: self.page.view.setFocus())

    def _restore_view_settings(self) -> None:
        s = self.settings
        self.side.region_opacity.setValue(int(s.value("view/region_opacity", 40)))
        style = str(s.value("view/region_style", "outline"))
        self.side.region_style.setCurrentIndex(max(0, self.side.region_style.findData(style)))
        self.page.regions.set_style(self.side.region_style.currentData())
        self.page.regions.set_opacity(self.side.region_opacity.value() / 100)
        auto = s.value("annotate/auto_advance", False)
        self.side.auto_advance.setChecked(auto in (True, "true", "1", 1))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._layout_restored:  # first start: side panels as narrow as their text allows
            self._layout_restored = True
            left, right = self.docks[0], self.docks[1]
            self.resizeDocks([left, right], list(side_widths(self.width())), Qt.Horizontal)
            freeze_long_lived("the window is built")
        QTimer.singleShot(0, self.page.view.setFocus)  # shortcuts work from the start, without a click

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self._fit_toolbar(event.size().width())

    def _fit_toolbar(self, width: int) -> None:
        """Texts beside the icons while the tool bar fits the window; icons alone, one by one, when not."""
        tb = self.toolbar
        for action in self._short_first:
            tb.widgetForAction(action).setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        for action in self._short_first:
            tb.layout().invalidate()  # its size hint is cached until the layout is told
            if tb.sizeHint().width() <= width:
                break
            tb.widgetForAction(action).setToolButtonStyle(Qt.ToolButtonIconOnly)

    def _preset(self, i: int) -> None:
        names = list(self.page.view.presets)
        if i < len(names):
            self.page.view.apply_preset(names[i])
            for pane in self.four.panes.values():
                pane.view.apply_preset(names[i])

    def _set_invert(self, on: bool) -> None:
        self.invert_action.setChecked(on)
        self.page.view.set_inverted(on)
        for pane in self.four.panes.values():
            pane.view.set_inverted(on)

    def toggle_proposals(self, on: bool) -> None:
        self.page.proposals.configure(visible=on)

    def fit(self) -> None:
        self.four.fit_all() if self.center.currentWidget() is self.four else self.page.view.fit()

    def show_four(self, on: bool) -> None:
        if on:
            self._fill_four()
        self.center.setCurrentWidget(self.four if on else self.page.view)

    def _fill_four(self) -> None:
        b = self.page.bundle
        if b is None:
            return
        problems = self.four.set_images(b.hanging, b.record.id, b.views)
        if problems:
            self.statusBar().showMessage("; ".join(problems), 8000)
        if b.record.id not in {r.id for r in b.hanging.values()}:  # no laterality or view: four empty panes said nothing why
            r = b.record
            why = (f"<b>The open image ({r.laterality or '?'}-{r.view or '?'}) is not a standard view</b><br>"
                   "<small>Its laterality or view is unknown, so it has no place in the hanging; "
                   "H returns to the single image.</small>")
            for pane in self.four.panes.values():
                if pane.record is None:
                    pane.view.set_notice(why)

    def _on_cursor(self, x: float, y: float, value) -> None:
        self.status_cursor.setText(f"x {x:7.1f}  y {y:7.1f}   value {value}" if value is not None else "")

    def closeEvent(self, event) -> None:
        """Nothing to save (every edit is already in the database); stop workers, close the file."""
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
        self._operating.wait()
        super().closeEvent(event)
