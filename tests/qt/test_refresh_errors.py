"""Issue 12: an error inside a GUI refresh reaches the user (status bar and the dock), not only
the log. The damage is real: a model version row whose time stamp reads 'BN', as in the field."""

from __future__ import annotations

import sqlite3

from PySide6.QtWidgets import QApplication


def test_a_history_refresh_error_is_shown(trained_window, trained_project):
    w, hist = trained_window, trained_window.model_ui.history
    con = sqlite3.connect(trained_project.path)
    con.execute("UPDATE model_versions SET created_at = 'BN' WHERE id = 1")
    con.commit()
    con.close()
    hist.refresh()
    QApplication.processEvents()
    assert "Cannot read the model history" in hist.info.text() and "BN" in hist.info.text()
    assert "Cannot read the model history" in w.statusBar().currentMessage()


def test_an_error_while_refreshing_after_an_event_is_shown(trained_window, trained_project):
    w = trained_window
    con = sqlite3.connect(trained_project.path)
    con.execute("UPDATE model_versions SET created_at = 'BN' WHERE id = 2")
    con.commit()
    con.close()
    trained_project.events.emit("model_added", version_id=2)  # as a finished retrain does
    QApplication.processEvents()
    message = w.statusBar().currentMessage()
    assert "BN" in message and ("model history" in message or "refresh" in message)
