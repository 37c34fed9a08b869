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


def test_start_and_render_do_not_load_torch_or_scikit_learn(project, tmp_path):
    """Start-up stays light: the training queue (torch, scikit-learn) loads after the window is
    up, or at the first retrain; `mammo-annotator screenshot` never needs it."""
    import os
    import subprocess
    import sys

    path = str(project.path)
    project.close()
    code = ("import sys\nfrom mammo_annotator.qt.app import render_screenshot\n"
            f"render_screenshot({path!r}, {str(tmp_path / 'shot.png')!r})\n"
            "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "shot.png").stat().st_size > 10_000


def test_a_second_start_shows_the_image_without_scipy_or_alembic(project, tmp_path):
    """The first start caches each shown image's breast mask; the next one needs neither the
    segmenter (scipy) nor, the project being at the head schema, the migrations (Alembic)."""
    import os
    import subprocess
    import sys

    path = str(project.path)
    project.close()
    heavy = ("torch", "sklearn", "scipy", "alembic", "highdicom", "matplotlib")
    code = ("import sys\nfrom mammo_annotator.qt.app import render_screenshot\n"
            f"render_screenshot({path!r}, {str(tmp_path / 'shot.png')!r})\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               MAMMO_ANNOTATOR_CACHE=str(tmp_path / "cache"))
    loaded = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        loaded.append(done.stdout.strip().splitlines()[-1])
    assert "scipy" in loaded[0]  # the first start segments the shown image (the test is not vacuous)
    assert loaded[1] == "[]"
    assert list((tmp_path / "cache" / "masks").rglob("*.npy"))
