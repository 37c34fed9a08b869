"""The window's four-view mode: H swaps the centre between the open image and the four views of
its study (``FourViewWidget``), a double click in a pane opens that image; window/level presets,
invert and Fit act on whichever is shown, so switching keeps what the reader set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from ..core.windowing import next_preset

if TYPE_CHECKING:
    from .main_window import MainWindow


class FourViewMode(QObject):
    """A child of the window: the panes' signals reach it only while the window lives."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    def show(self, on: bool) -> None:
        """View > Four-view hanging (H) toggled."""
        w = self.window
        if on:
            self.fill()
        w.center.setCurrentWidget(w.four if on else w.page.view)

    def refresh(self) -> None:
        """A new image is on the canvas: the four views follow it while they are shown."""
        if self.window.four_action.isChecked():
            self.fill()

    def fill(self) -> None:
        """The open image's study in the panes; a pane left empty says why."""
        w = self.window
        b = w.page.bundle
        if b is None:
            return
        problems = w.four.set_images(b.hanging, b.record.id, b.views)
        if problems:
            w.statusBar().showMessage("; ".join(problems), 8000)
        if b.record.id not in {r.id for r in b.hanging.values()}:  # no laterality or view: four empty panes said nothing why
            r = b.record
            why = (f"<b>The open image ({r.laterality or '?'}-{r.view or '?'}) is not a standard view</b><br>"
                   "<small>Its laterality or view is unknown, so it has no place in the hanging; "
                   "H returns to the single image.</small>")
            for pane in w.four.panes.values():
                if pane.record is None:
                    pane.view.set_notice(why)

    def open_from_four(self, image_id: int) -> None:
        """A pane asked for its image: back to the single view, on that image's row."""
        self.window.four_action.setChecked(False)
        self.window.worklist.select_image(image_id)

    def fit(self) -> None:
        w = self.window
        w.four.fit_all() if w.center.currentWidget() is w.four else w.page.view.fit()

    def apply_preset(self, i: int) -> None:
        """The i-th window/level preset (F1...), on the image and every pane; F2 again steps
        through the header's DICOM windows (a pane without that one shows its first)."""
        w = self.window
        view = w.page.view
        names = list(view.presets)
        name = next_preset(names, i, view.window.name if view.window else None)
        if name is None:
            return
        view.apply_preset(name)
        for pane in w.four.panes.values():
            pane.view.apply_preset(name if name in pane.view.presets else names[i])

    def set_invert(self, on: bool) -> None:
        w = self.window
        w.invert_action.setChecked(on)
        w.page.view.set_inverted(on)
        for pane in w.four.panes.values():
            pane.view.set_inverted(on)
