"""Help menu pages (the shortcut sheet comes from the actions), and the start-up check for the
system library Qt's X11 plugin needs."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from mammo_annotator.qt import platform_check


def test_shortcut_sheet_is_generated_from_the_actions(window):
    from mammo_annotator.qt.help import shortcut_rows

    rows = shortcut_rows(window.menuBar())
    keys = {text: k for _menu, text, k in rows}
    assert keys["Polygon"] == "P" and keys["Ruler"] == "R" and "F11" in keys["Reading mode (image only, full screen)"]
    window.tool_actions[next(iter(window.tool_actions))].setShortcut("Ctrl+Alt+V")  # change an action...
    dlg = window.show_help("shortcuts")
    assert "Ctrl+Alt+V" in dlg.browser.toPlainText()  # ...and the sheet follows
    assert dlg.windowTitle() == "Mammo Annotator — Keyboard shortcuts"
    dlg.close()


def test_how_to_and_about(window):
    dlg = window.show_help("how-to")
    text = dlg.browser.toPlainText()
    assert "Outline every malignant finding" in text and "d_c" not in text and "Weak" not in text
    dlg.close()
    dlg = window.show_help("about")
    text = dlg.browser.toPlainText()
    assert "PySide6" in text and "PyTorch" in text and "v1 demo-v1" in text
    dlg.close()
    QApplication.processEvents()
    assert window.focusWidget() is window.page.view


def test_missing_xcb_cursor_gives_the_one_line_fix(monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    assert platform_check.missing_system_libraries(find=lambda name: None) == [platform_check.XCB_CURSOR_FIX]
    assert platform_check.missing_system_libraries(find=lambda name: f"lib{name}.so.0") == []
    assert "apt-get install libxcb-cursor0" in platform_check.XCB_CURSOR_FIX
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert platform_check.missing_system_libraries(find=lambda name: None) == []
