"""The model side of the main window: Training and Model history docks, the "Annotate next"
queue, the Model menu, and how project events refresh them.

Kept apart from ``main_window`` so the window stays about viewing and annotating; the window
calls ``attach``/``on_event``/``shutdown`` and this object does the rest.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow

from ..core.errors import MammoError
from ..services import active_learning
from ..services.project import Project
from .dialogs import show_error
from .history_panel import HistoryPanel
from .steps import StepQueue
from .suggestions_panel import SuggestionsPanel
from .training import TrainingController
from .training_panel import TrainingPanel


def _dock(window: QMainWindow, title: str, name: str, widget) -> QDockWidget:
    dock = QDockWidget(title, window)
    dock.setObjectName(name)
    dock.setWidget(widget)
    dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable | QDockWidget.DockWidgetClosable)
    return dock


class ModelUI(QObject):
    def __init__(self, window: QMainWindow, steps: StepQueue) -> None:
        super().__init__(window)
        self.window = window
        self._steps = steps  # the window's: one view refreshed per event-loop turn after a new model
        self.training_panel = TrainingPanel()
        self.history = HistoryPanel()
        self.suggestions = SuggestionsPanel()
        self.training = TrainingController(self.training_panel, parent=self)
        self._tabs_made = False  # Training and Model history become tabs when first shown
        self.training.message.connect(lambda text: window.statusBar().showMessage(text, 8000))
        self.history.useVersion.connect(self.use_version)
        self.suggestions.imageRequested.connect(self.go_to)
        self.suggestions.nextRequested.connect(self.next_image)

    def add_docks(self, worklist_dock: QDockWidget) -> list[QDockWidget]:
        w = self.window
        self.next_dock = _dock(w, "Annotate next", "nextDock", self.suggestions)
        w.tabifyDockWidget(worklist_dock, self.next_dock)
        worklist_dock.raise_()
        self.training_dock = _dock(w, "Training", "trainingDock", self.training_panel)
        self.history_dock = _dock(w, "Model history", "historyDock", self.history)
        # tabs at the bottom, closed at first: the image gets the height (View > Training opens them).
        # They are made tabs when first shown: tabified and hidden before the window's first show,
        # Qt left their tab bar visible over the worklist.
        w.addDockWidget(Qt.BottomDockWidgetArea, self.training_dock)
        w.addDockWidget(Qt.BottomDockWidgetArea, self.history_dock)
        self.training_dock.hide()
        self.history_dock.hide()
        return [self.next_dock, self.training_dock, self.history_dock]

    def show_model_docks(self, which: QDockWidget | None = None) -> None:
        """Open the bottom tabs (Training, Model history), ``which`` in front."""
        w = self.window
        for dock in (self.training_dock, self.history_dock):
            dock.show()
        as_built = all(w.dockWidgetArea(d) == Qt.BottomDockWidgetArea and not d.isFloating()
                       for d in (self.training_dock, self.history_dock))  # not moved by the reader (a saved layout)
        if not self._tabs_made and as_built and not w.tabifiedDockWidgets(self.training_dock):
            w.tabifyDockWidget(self.training_dock, self.history_dock)
            w.resizeDocks([self.training_dock], [260], Qt.Vertical)
        self._tabs_made = True
        (which or self.training_dock).raise_()

    def add_actions(self, act, menubar, view_menu, toolbar) -> None:
        """``act`` is the window's action factory (text, slot, shortcut, ...)."""
        m = menubar.addMenu("&Model")
        self.retrain_action = act(m, "&Retrain now", self._retrain, "Ctrl+R",
                                  tip="Train a new model version in the background")
        self.stop_action = act(m, "&Stop training", self.training.stop, "Ctrl+.")
        m.addSeparator()
        self.next_action = act(m, "&Next suggested image", self.next_image, "Shift+N",
                               tip="Open the top image of the active-learning queue")
        self.use_action = act(m, "&Use the selected version", self.history._use)
        m.addSeparator()
        act(m, "Show &training and model history", lambda: self.show_model_docks(), "Ctrl+Shift+M")
        view_menu.addSeparator()
        panels = view_menu.addMenu("&Panels")
        for dock in self.window.docks:
            panels.addAction(dock.toggleViewAction())
        toolbar.addSeparator()
        toolbar.addAction(self.next_action)
        toolbar.addAction(self.retrain_action)

    # project ------------------------------------------------------------------------------
    def attach(self, project: Project) -> None:
        """Before the window's event bridge: the queue then counts an edit before we show it."""
        self.training.attach(project)
        self.history.set_project(project)
        self.suggestions.set_project(project)

    def on_event(self, name: str, payload: dict) -> None:
        if name in ("annotations_changed", "image_changed", "images_imported"):
            self.training.refresh_pending()
            self.suggestions.schedule_refresh()
        if name in ("model_added", "model_activated"):
            self._steps.add("model history", self.history.refresh)  # a job's end sends both: read once
            self.suggestions.schedule_refresh()

    def shutdown(self) -> bool:
        self.history.wait_comparison(30)  # it reads the database the window is about to close
        return self.training.shutdown()

    # actions ------------------------------------------------------------------------------
    def use_version(self, version_id: int) -> None:
        from ..services.training import activate_version

        try:
            activate_version(self.window.project, version_id)  # emits model_activated: views reload
        except (MammoError, KeyError) as exc:
            show_error(self.window, "Cannot switch model", str(exc))
            return
        self.window.statusBar().showMessage(f"Model v{version_id} is now active", 6000)

    def _retrain(self) -> None:
        self.show_model_docks(self.training_dock)
        self.training.retrain()

    def next_image(self) -> int | None:
        """The top suggestion; none says why in the status bar (Shift+N did nothing visible)."""
        pick = self.suggestions.request_next(self.window.page.image_id)
        if pick is None and self.window.project is not None:
            try:
                why = active_learning.why_empty(self.window.project, self.suggestions.current_strategy())
            except MammoError as exc:
                why = str(exc)
            if self.suggestions.suggestions:  # the one suggestion is the image on screen
                why = "the only suggestion is the image on screen"
            self.window.statusBar().showMessage(f"No next image to suggest: {why}", 8000)
        return pick

    def go_to(self, image_id: int) -> None:
        w = self.window
        w.worklist.select_image(image_id)
        if w.worklist.current_image_id() != image_id:  # filtered out of the worklist: open it anyway
            w.open_image(image_id)
