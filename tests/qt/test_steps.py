"""The step queue that spreads the refreshes after a new model over event-loop turns."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from mammo_annotator.qt.steps import StepQueue


def test_steps_run_one_per_turn_in_order_and_once_each(qtbot):
    ran: list[str] = []
    queue = StepQueue()
    for key in ("list", "image", "list", "history"):
        queue.add(key, lambda key=key: ran.append(key))
    assert queue.pending() == ["list", "image", "history"] and ran == []
    QApplication.processEvents()
    assert ran == ["list"]  # one step per turn: the window paints in between
    qtbot.waitUntil(lambda: queue.pending() == [])
    assert ran == ["list", "image", "history"]
    queue.add("list", lambda: ran.append("again"))  # a finished step can be asked for again
    qtbot.waitUntil(lambda: ran[-1] == "again")


def test_a_step_that_is_not_ready_waits_and_keeps_its_place(qtbot):
    ran: list[str] = []
    state = {"ready": False}
    queue = StepQueue()
    queue.add("image", lambda: ran.append("image"), ready=lambda: state["ready"])
    queue.add("list", lambda: ran.append("list"))
    qtbot.wait(50)
    assert ran == [] and queue.pending() == ["image", "list"]
    state["ready"] = True
    qtbot.waitUntil(lambda: ran == ["image", "list"])


def test_a_failing_step_is_reported_and_the_rest_still_run(qtbot):
    ran: list[str] = []
    errors: list[tuple[str, str]] = []
    queue = StepQueue(on_error=lambda key, exc: errors.append((key, str(exc))))

    def broken() -> None:
        raise OSError("database is locked")

    queue.add("history", broken)
    queue.add("list", lambda: ran.append("list"))
    qtbot.waitUntil(lambda: ran == ["list"])
    assert errors == [("history", "database is locked")]
