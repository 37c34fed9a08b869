"""The window / level readout says the numbers in one order everywhere: the reading panel
showed "C / W 1760 / 3436" beside the image corner's "W/L 3436/1760", the same numbers swapped."""

from __future__ import annotations

import re

from PySide6.QtWidgets import QFormLayout


def test_the_panel_gives_width_then_level_as_the_image_corner_does(window):
    v = window.page.view
    width, level = round(v.window.width), round(v.window.center)
    assert width != level  # else the order could not show
    panel = re.match(r"(\d+) / (\d+)", window.side.window_value.text())
    assert panel is not None and (int(panel.group(1)), int(panel.group(2))) == (width, level)
    form = window.side.window_value.parentWidget().layout()
    assert isinstance(form, QFormLayout)
    assert form.labelForField(window.side.window_value).text() == "W / L"
