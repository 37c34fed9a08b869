"""Database work for a server project, run in a thread and waited for a short bound on the GUI thread.

A server that went silent (a machine gone from the network) holds a query for the connection or
TCP user timeout (10 s, 60 s): on the GUI thread that froze the window. Here the work runs in a
daemon thread; the GUI thread waits ``SERVER_WAIT_S`` at most, so a fast server behaves as if
the work were done in place, and a slow one is answered through ``Relay.ended`` when it ends.
A file (SQLite) project never comes here: its work stays on the GUI thread, as it always was.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from ..core.errors import MammoError

SERVER_WAIT_S = 0.5  # the longest the GUI thread waits for a database server's answer


class Relay(QObject):
    """Carries the end of a ``ServerCall`` to the GUI thread. The threads hold this small object,
    never a page and its widgets (the thread of a dead server may outlive the window); connect
    ``ended`` queued."""

    ended = Signal(object)  # the ServerCall


class ServerCall:
    """``fn()`` in a daemon thread: ``result`` or ``error`` once ``done`` is set, then ``relay.ended``.
    A thread stuck on a dead server is left behind: once its caller is gone nobody listens.
    ``tag`` holds what the caller needs to finish the work when the answer comes late."""

    def __init__(self, relay: Relay, name: str, fn: Callable[[], Any], tag: Any = None) -> None:
        self.tag = tag
        self.result: Any = None
        self.error: Exception | None = None
        self.done = threading.Event()

        def run() -> None:
            try:
                self.result = fn()
            except Exception as exc:  # noqa: BLE001 - the caller decides what each error means
                self.error = exc
            self.done.set()
            try:
                relay.ended.emit(self)
            except RuntimeError:  # deleted with the Qt side at exit: nobody is waiting
                pass

        threading.Thread(target=run, name=name, daemon=True).start()

    def answered(self) -> bool:
        """Waits ``SERVER_WAIT_S`` at most; whether the work has ended."""
        return self.done.wait(SERVER_WAIT_S)

    @property
    def running(self) -> bool:
        return not self.done.is_set()


def read_error(exc: Exception | None, location: str) -> Exception | None:
    """A read's error as the page shows it: a driver or pool error becomes a MammoError naming the
    server (its reason shown, not lost)."""
    if exc is None or isinstance(exc, (MammoError, KeyError)):
        return exc
    return MammoError(f"{location}: {type(exc).__name__}: {exc}")
