"""The main window's menu bar and its actions: File, Edit, Tools, View, the model's menu (from
``ModelUI``) and Help, with the tool bar built among them (it shows the same actions).

Every action is also added to the window, so its shortcut works with the menu bar hidden
(reading mode), and its tooltip names its shortcut. The actions stay attributes of the window
(``window.four_action``, ``window.tool_actions``...): the window's slots, the tests and the
screenshot script reach them there.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu

from ..core.windowing import DICOM, READING_PRESETS
from .contour_tool import Tool
from .toolbar import build_toolbar, dress_toolbar

if TYPE_CHECKING:
    from .main_window import MainWindow

TOOL_KEYS = {Tool.NAVIGATE: "V", Tool.POLYGON: "P", Tool.FREEHAND: "F", Tool.ELLIPSE: "O", Tool.RULER: "R",
             Tool.EDIT: "E"}


def export_dialog_class():
    """The export dialog, or None when its module cannot be imported (then File > Export is disabled)."""
    try:
        from .export_dialog import ExportDialog
    except Exception:  # an optional dependency missing or the module unfinished: the app still runs
        return None
    return ExportDialog


def add_action(window: MainWindow, menu: QMenu, text: str, slot, shortcut=None, checkable: bool = False,
               checked: bool = False, tip: str | None = None) -> QAction:
    """An action in ``menu`` and on the window; ``shortcut`` is a key, a standard key or a list of them."""
    action = QAction(text, window)
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
    window.addAction(action)  # shortcuts keep working when the menu bar is hidden (reading mode)
    return action


def build_menus(window: MainWindow) -> None:
    """The menu bar, the tool bar (``window.toolbar``) and the order the bar's texts give way in."""
    mb = window.menuBar()
    _file_menu(window, mb.addMenu("&File"))
    _edit_menu(window, mb.addMenu("&Edit"))
    _tools_menu(window, mb.addMenu("&Tools"))
    view = mb.addMenu("&View")
    _view_menu(window, view)
    window.toolbar = build_toolbar(window)
    window.model_ui.add_actions(partial(add_action, window), mb, view, window.toolbar)
    window._short_first = dress_toolbar(window, window.toolbar)
    _help_menu(window, mb.addMenu("&Help"))
    for action in window.findChildren(QAction):  # shortcuts in tooltips: discoverable
        if action.shortcut().toString():
            action.setToolTip(f"{action.text().replace('&', '')}  ({action.shortcut().toString()})")


def _file_menu(window: MainWindow, f: QMenu) -> None:
    act = partial(add_action, window, f)
    act("&New project…", window.new_project, QKeySequence.New)
    act("&Open project…", window.open_project_dialog, QKeySequence.Open)
    act("Open &server project (PostgreSQL)…", window.open_server_dialog,
        tip="A shared project: postgresql+psycopg://user@host/db (password from PGPASSWORD or ~/.pgpass)")
    f.addSeparator()
    importer = window.importer
    act("&Import images…", importer.import_files, "Ctrl+I")
    act("Import image &folder…", importer.import_folder, "Ctrl+Shift+I")
    act("Import &dataset (mini-MIAS / INbreast)…", importer.import_dataset,
        tip="Import a public dataset folder with its labels and lesion outlines")
    act("Import from &PACS (DICOMweb)…", importer.import_from_pacs,
        tip="Query a PACS (QIDO-RS) and retrieve its mammograms (WADO-RS)")
    f.addSeparator()
    window.export_action = act("&Export…", window.export, "Ctrl+E")
    if export_dialog_class() is None:
        window.export_action.setEnabled(False)
        window.export_action.setText("Export… (unavailable in this build)")
    f.addSeparator()
    act("&Quit", window.close, QKeySequence.Quit)


def _edit_menu(window: MainWindow, e: QMenu) -> None:
    act, page, group = partial(add_action, window, e), window.page, window.undo_group
    window.undo_action = undo = act("&Undo", group.undo, QKeySequence.Undo)
    window.redo_action = redo = act("&Redo", group.redo, [QKeySequence.Redo, QKeySequence("Ctrl+Y")])
    group.canUndoChanged.connect(undo.setEnabled)
    group.canRedoChanged.connect(redo.setEnabled)
    group.undoTextChanged.connect(lambda t: undo_text(undo, "Undo", t))
    group.redoTextChanged.connect(lambda t: undo_text(redo, "Redo", t))
    undo.setEnabled(False)
    redo.setEnabled(False)
    e.addSeparator()
    act("&Delete selected contour", page.delete_selected, [QKeySequence.Delete, "Ctrl+Backspace"])
    act("Switch selected contour's &class", page.toggle_selected_class, "C")
    window.no_malignant_action = act("Confirm &no malignant finding", lambda: page.set_no_malignant(True), "N")
    e.addSeparator()
    act("Change &annotator…", window.change_annotator)


def undo_text(action: QAction, verb: str, text: str) -> None:
    """Undo/Redo name what they would undo, in the menu, the tooltip and the status bar."""
    action.setText(f"&{verb} {text}" if text else f"&{verb}")
    action.setToolTip(f"{verb} {text}  ({action.shortcut().toString()})" if text else verb)
    action.setStatusTip(f"{verb} {text}" if text else "")


def _tools_menu(window: MainWindow, t: QMenu) -> None:
    act, page, side = partial(add_action, window, t), window.page, window.side
    window.tool_actions = {}
    group = QActionGroup(window)
    for tool, key in TOOL_KEYS.items():
        a = act(tool.value, lambda on, _t=tool: on and page.set_tool(_t), key, checkable=True,
                checked=tool is Tool.NAVIGATE)
        group.addAction(a)
        window.tool_actions[tool] = a
    t.addSeparator()
    act("Close outline", page.finish_drawing, ["Return", "Enter"])
    act("Remove last point", page.undo_last_point, "Backspace")
    act("Cancel outline / leave reading mode", lambda: _escape(window), "Escape")
    act("Malignant class", lambda: side.cls_m.setChecked(True), "1")
    act("Benign class", lambda: side.cls_b.setChecked(True), "2")


def _escape(window: MainWindow) -> None:
    """Esc: an outline being drawn is dropped; with none, reading mode ends."""
    if not window.page.cancel_drawing() and window.reading.active:
        window.reading.leave()


def _view_menu(window: MainWindow, v: QMenu) -> None:
    act, side = partial(add_action, window, v), window.side
    act("&Next image", lambda: window.worklist.step(1), ["PgDown", "]"])
    act("&Previous image", lambda: window.worklist.step(-1), ["PgUp", "["])
    v.addSeparator()
    act("&Fit to window", window.fit, ["Home", "0"])
    window.four_action = act("Four-view &hanging", window.show_four, "H", checkable=True)
    window.reading_action = act("&Reading mode (image only, full screen)", window.reading.toggle, "F11",
                                tip="Only the image or the four views; F11 or Esc returns")
    window.invert_action = act("&Invert", side.invert.setChecked, "I", checkable=True)
    window.proposals_action = act("CAD &marks", window.toggle_proposals, "T", checkable=True, checked=True)
    window.regions_action = act("Region &labels", side.show_regions.setChecked, "L", checkable=True, checked=True)
    window.heat_action = act("&Heat map instead of marks", lambda on: window.cad.set_mode("heat" if on else "marks"),
                             "M", checkable=True)
    window.wl_menu = v.addMenu("&Window / level")
    window.wl_actions = [add_action(window, window.wl_menu, _preset_text(name),
                                    lambda i=i: window.four_mode.apply_preset(i), f"F{i + 1}")
                         for i, name in enumerate(READING_PRESETS)]  # the same list, the same keys, for every image


def _preset_text(name: str) -> str:
    text = name[0].upper() + name[1:]
    return f"{text} (again: the header's next)" if name == DICOM else text


def _help_menu(window: MainWindow, h: QMenu) -> None:
    act = partial(add_action, window, h)
    act("&Keyboard shortcuts", lambda: window.show_help("shortcuts"), "?")
    act("&How to annotate", lambda: window.show_help("how-to"), "Shift+F1")
    h.addSeparator()
    act("&About Mammo Annotator", lambda: window.show_help("about"))
