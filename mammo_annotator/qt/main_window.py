"""The main window: worklist | canvas or four-view | side panel, menus, shortcuts, status bar.

It wires widgets to the ``ImagePage`` controller and the project's events; it holds no data
of its own beyond what is on screen.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QUndoGroup
from PySide6.QtWidgets import QDockWidget, QFileDialog, QLabel, QMainWindow, QScrollArea, QStackedWidget

from ..core.errors import MammoError
from ..services import viewing
from ..services.project import Project, open_project
from .contour_tool import Tool
from .dialogs import ask_annotator, show_error
from .events_bridge import EventBridge
from .hanging import FourViewWidget
from .image_page import ImagePage
from .importer import ImportController
from .model_ui import ModelUI
from .side_panel import SidePanel
from .worklist import WorklistPanel



def export_dialog_class():
    """The export dialog, or None when its module cannot be imported (then File > Export is disabled)."""
    try:
        from .export_dialog import ExportDialog
    except Exception:  # an optional dependency missing or the module unfinished: the app still runs
        return None
    return ExportDialog


TOOL_KEYS = {Tool.NAVIGATE: "V", Tool.POLYGON: "P", Tool.FREEHAND: "F", Tool.EDIT: "E"}


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
        self.model_ui = ModelUI(self)
        self._docks()
        self._status_bar()
        self.importer = ImportController(self)
        self._actions()
        self._connect()
        self.bridge: EventBridge | None = None
        self._attach(project)
        self.resize(1600, 1000)

    # layout ---------------------------------------------------------------------------------
    def _docks(self) -> None:
        left = QDockWidget("Worklist", self)
        left.setObjectName("worklistDock")
        left.setWidget(self.worklist)
        left.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
        self.addDockWidget(Qt.LeftDockWidgetArea, left)
        scroll = QScrollArea()
        scroll.setWidget(self.side)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        right = QDockWidget("Reading", self)
        right.setObjectName("sideDock")
        right.setWidget(scroll)
        right.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
        self.addDockWidget(Qt.RightDockWidgetArea, right)
        self.resizeDocks([left, right], [470, 320], Qt.Horizontal)
        self.docks = (left, right, *self.model_ui.add_docks(left))

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
        return action

    def _actions(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self._act(f, "&New project…", self.new_project, QKeySequence.New)
        self._act(f, "&Open project…", self.open_project_dialog, QKeySequence.Open)
        f.addSeparator()
        self._act(f, "&Import images…", self.importer.import_files, "Ctrl+I")
        self._act(f, "Import image &folder…", self.importer.import_folder, "Ctrl+Shift+I")
        self._act(f, "Import &dataset (mini-MIAS / INbreast)…", self.importer.import_dataset,
                  tip="Import a public dataset folder with its labels and lesion outlines")
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
        self.undo_group.undoTextChanged.connect(lambda t: self.undo_action.setStatusTip(f"Undo {t}"))
        self.undo_group.redoTextChanged.connect(lambda t: self.redo_action.setStatusTip(f"Redo {t}"))
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
        self._act(t, "Cancel outline", self.page.cancel_drawing, "Escape")
        self._act(t, "Malignant class", lambda: self.side.cls_m.setChecked(True), "1")
        self._act(t, "Benign class", lambda: self.side.cls_b.setChecked(True), "2")

        v = mb.addMenu("&View")
        self._act(v, "&Next image", lambda: self.worklist.step(1), ["PgDown", "]"])
        self._act(v, "&Previous image", lambda: self.worklist.step(-1), ["PgUp", "["])
        v.addSeparator()
        self._act(v, "&Fit to window", self.fit, ["Home", "0"])
        self.four_action = self._act(v, "Four-view &hanging", self.show_four, "H", checkable=True)
        self.invert_action = self._act(v, "&Invert", self.side.invert.setChecked, "I", checkable=True)
        self.proposals_action = self._act(v, "Model &proposals", self.toggle_proposals, "T", checkable=True, checked=True)
        self._act(v, "Region &labels", self.side.show_regions.setChecked, "L", checkable=True, checked=True)
        self._act(v, "Heat &map of d_M", self.side.heat.setChecked, "M", checkable=True)
        self.wl_menu = v.addMenu("&Window / level")
        self.wl_actions = [self._act(self.wl_menu, f"Preset {i}", lambda i=i: self._preset(i - 1), f"F{i}") for i in range(1, 5)]

        tb = self.addToolBar("Tools")
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
        self.model_ui.add_actions(self._act, mb, v, tb)
        for action in self.findChildren(QAction):  # shortcuts in tooltips: discoverable
            if action.shortcut().toString():
                action.setToolTip(f"{action.text().replace('&', '')}  ({action.shortcut().toString()})")

    def _connect(self) -> None:
        p, s = self.page, self.side
        self.worklist.imageActivated.connect(self.open_image)
        self.four.imageRequested.connect(self._open_from_four)
        p.bundleChanged.connect(self._on_bundle)
        p.toolChanged.connect(lambda name: self.status_tool.setText(f"Tool: {name}"))
        p.message.connect(lambda text: self.statusBar().showMessage(text, 4000))
        p.error.connect(lambda title, text: show_error(self, title, text))
        p.view.cursorMoved.connect(self._on_cursor)
        p.view.windowChanged.connect(s.show_window)
        s.classChanged.connect(p.set_class)
        s.noMalignantClicked.connect(p.set_no_malignant)
        s.presetChosen.connect(p.view.apply_preset)
        s.invertToggled.connect(self._set_invert)
        s.regionsToggled.connect(p.regions.set_visible)
        s.regionOpacityChanged.connect(p.regions.set_opacity)
        s.proposalsChanged.connect(lambda d: p.proposals.configure(**d))

    # project --------------------------------------------------------------------------------
    def _attach(self, project: Project) -> None:
        if self.bridge is not None:
            self.bridge.detach()
        self.project = project
        self.model_ui.attach(project)  # before the bridge: the retrain queue counts an edit first
        self.bridge = EventBridge(project)
        self.bridge.event.connect(self._on_event_shown)
        self.status_db.setText(f"Database: {project.path}")
        self.setWindowTitle(f"Mammo Annotator — {project.path.name}")
        self.set_annotator(self.page.editor.annotator)
        self.refresh_worklist()
        if self.worklist.proxy.rowCount():
            self.worklist.step(0)

    def switch_project(self, project: Project) -> None:
        old = self.project
        self.page.set_project(project)
        self._attach(project)
        self.settings.setValue("last_project", str(project.path))
        if old is not project:
            old.close()

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", str(self.project.path.parent),
                                              "Mammo Annotator projects (*.sqlite *.db *.sqlite.example);;All files (*)")
        if path:
            self._open_path(path, create=False)

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
            self.worklist.set_rows(viewing.worklist(self.project))
        except MammoError as exc:
            show_error(self, "Cannot read the worklist", str(exc))

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
            if image_id == self.page.image_id:
                self.page.reload()
            self.refresh_worklist()
        elif name in ("images_imported", "model_activated", "model_added"):
            self.refresh_worklist()
            if name == "model_activated":
                self.page.reload()

    def export(self) -> None:
        cls = export_dialog_class()
        if cls is None:
            show_error(self, "Export", "The export module is not available in this build.")
            return
        self.export_dialog = cls(self.project, self)
        self.export_dialog.open()

    # annotator ------------------------------------------------------------------------------
    def set_annotator(self, name: str) -> None:
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

    def _open_from_four(self, image_id: int) -> None:
        self.four_action.setChecked(False)
        self.worklist.select_image(image_id)

    def _on_bundle(self, bundle) -> None:
        self.side.show_bundle(bundle, self.page.regions.counts)
        v = self.page.view
        self.side.set_presets(list(v.presets), v.window.name if v.window else "")
        for i, action in enumerate(self.wl_actions):
            names = list(v.presets)
            action.setText(f"{names[i]}" if i < len(names) else f"Preset {i + 1}")
            action.setEnabled(i < len(names))

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
        problems = self.four.set_images(b.hanging, b.record.id)
        if problems:
            self.statusBar().showMessage("; ".join(problems), 8000)

    def _on_cursor(self, x: float, y: float, value) -> None:
        self.status_cursor.setText(f"x {x:7.1f}  y {y:7.1f}   value {value}" if value is not None else "")

    def closeEvent(self, event) -> None:
        """Nothing to save (every edit is already in the database); stop workers, close the file."""
        if not self.importer.shutdown() or not self.model_ui.shutdown():
            event.ignore()
            return
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("state", self.saveState())
        if self.bridge is not None:
            self.bridge.detach()
        super().closeEvent(event)
