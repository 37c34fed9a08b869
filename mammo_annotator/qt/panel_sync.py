"""Keeps the window's panels in step with the image page: the Reading, Marks and Contours tabs,
the canvas's corner line, the status bar, the view actions and the reader's view settings.

The page emits what changed (an image, a tool, a selection, an edit); the panels emit what the
reader asked for (a class, a preset, a threshold). This object connects the two once, at start;
it is a child of the window, so its connections end with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from ..services import viewing
from .status_bar import cursor_text
from .team_sync import agreement_text

if TYPE_CHECKING:
    from .main_window import MainWindow


class PanelSync(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._connect()

    def _connect(self) -> None:
        w = self.window
        p, s, cad = w.page, w.side, w.cad
        w.worklist.imageActivated.connect(w.open_image)
        w.four.imageRequested.connect(w.four_mode.open_from_four)
        w.four.problem.connect(lambda text: w.statusBar().showMessage(text, 8000))
        p.bundleChanged.connect(self._on_bundle)
        p.toolChanged.connect(lambda name: w.status_tool.setText(f"Tool: {name}"))
        p.message.connect(lambda text: w.statusBar().showMessage(text, 4000))
        p.error.connect(lambda title, text: w.error(title, text))
        p.view.cursorMoved.connect(self._on_cursor)
        p.view.windowChanged.connect(s.show_window)
        p.view.windowChanged.connect(lambda _w: self._corner_info(p.bundle))  # the corner's W/L follows a drag or preset
        s.classChanged.connect(p.set_class)
        s.noMalignantClicked.connect(p.set_no_malignant)
        s.presetChosen.connect(p.view.apply_preset)
        s.invertToggled.connect(w.four_mode.set_invert)
        s.regionsToggled.connect(p.regions.set_visible)
        s.regionsToggled.connect(w.regions_action.setChecked)
        s.regionOpacityChanged.connect(p.regions.set_opacity)
        s.regionOpacityChanged.connect(lambda a: w.settings.setValue("view/region_opacity", int(round(a * 100))))
        s.regionStyleChanged.connect(p.regions.set_style)
        s.regionStyleChanged.connect(lambda st: w.settings.setValue("view/region_style", st))
        s.autoAdvanceToggled.connect(lambda on: w.settings.setValue("annotate/auto_advance", bool(on)))
        cad.proposalsChanged.connect(lambda d: p.proposals.configure(**d))
        cad.proposalsChanged.connect(lambda d: w.heat_action.setChecked(d["mode"] == "heat"))
        cad.resetRequested.connect(w.marks.reset_thresholds)
        w.contour_list.selected.connect(self._on_list_selection)
        w.contour_list.deleteRequested.connect(p.delete_selected)
        p.contours.selectionChanged.connect(w.contour_list.select)
        p.imageOpened.connect(self._on_image_opened)
        p.retrievedShown.connect(self._on_retrieved_shown)
        p.annotated.connect(self._on_annotated)

    def restore_view_settings(self) -> None:
        """The reader's region style and opacity and auto-advance, as last left."""
        w = self.window
        s, side = w.settings, w.side
        side.region_opacity.setValue(int(s.value("view/region_opacity", 40)))
        style = str(s.value("view/region_style", "outline"))
        side.region_style.setCurrentIndex(max(0, side.region_style.findData(style)))
        w.page.regions.set_style(side.region_style.currentData())
        w.page.regions.set_opacity(side.region_opacity.value() / 100)
        auto = s.value("annotate/auto_advance", False)
        side.auto_advance.setChecked(auto in (True, "true", "1", 1))

    def _on_bundle(self, bundle) -> None:
        w = self.window
        w.side.show_bundle(bundle, w.page.regions.counts)
        v = w.page.view
        w.side.set_presets(list(v.presets), v.window.name if v.window else "")
        w.marks.show_bundle(bundle)
        spacing = bundle.record.pixel_spacing_mm if bundle is not None else None
        w.contour_list.set_contours(bundle.contours if bundle is not None else [], spacing, w.page.contours.selected)
        self._corner_info(bundle)
        agreement = agreement_text(bundle.contours if bundle is not None else [])  # several annotators (issue 14)
        if agreement:
            w.statusBar().showMessage(agreement, 30000)

    def _corner_info(self, bundle) -> None:
        """The canvas's top-left line: who and which view, the window; what a reader needs in reading mode."""
        v = self.window.page.view
        if bundle is None:
            v.set_corner_text("top", "")
            return
        r = bundle.record
        wl = f" · W/L {v.window.width:.0f}/{v.window.center:.0f} ({v.window.name})" if v.window is not None else ""
        v.set_corner_text("top", f"<b>{viewing.patient_label(r.patient_key)}</b> {r.laterality or '?'}-{r.view or '?'}{wl}")

    def _on_cursor(self, x: float, y: float, value) -> None:
        self.window.status_cursor.setText(cursor_text(x, y, value))

    def _on_retrieved_shown(self, _image_id: int) -> None:
        """An image retrieved from its PACS in the background is on the canvas: as open_image would."""
        self.window.four_mode.refresh()

    def _on_list_selection(self, annotation_id) -> None:
        if annotation_id is not None:
            self.window.page.centre_on(int(annotation_id))
            self.window.page.view.setFocus()  # Delete and C act on it straight away

    def _on_image_opened(self, image_id: int) -> None:
        """A new image: the class is back to Malignant, the keyboard on the image."""
        w = self.window
        w.side.cls_m.setChecked(True)
        w.page.view.setFocus()
        if w.team is not None:
            w.team.image_shown(image_id)

    def _on_annotated(self, what: str) -> None:
        w = self.window
        if w.side.auto_advance.isChecked():
            QTimer.singleShot(0, w.model_ui.next_image)
        elif what == "no_malignant":
            w.statusBar().showMessage("Confirmed: no malignant finding. Shift+N opens the next suggested image", 6000)
