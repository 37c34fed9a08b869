"""The worklist's reads of the project: on a database server, in a thread the window waits for
``SERVER_WAIT_S`` at most (see ``server_calls``).

The list is read again after every save, import, new model and colleague's change. On a server
that went silent each of those reads held the window until the connection's timeout. Now one
read runs at a time: asked for meanwhile, the next read waits for it and takes up every request
made in between (a whole-list read covers any rows). A file project reads in place, as before.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Qt

from ..core.errors import MammoError
from ..services import viewing
from ..services.project import Project
from .server_calls import Relay, ServerCall, read_error

Apply = Callable[[list[int] | None, list[viewing.WorklistRow]], None]  # (the ids asked for, None: all; rows)


def merged(a: set[int] | None, b: list[int] | None) -> set[int] | None:
    """Two requests as one: None (the whole list) wins."""
    return None if a is None or b is None else a | set(b)


class WorklistReads(QObject):
    """Reads rows for ``apply`` (on the GUI thread); errors go to ``failed`` with their text."""

    def __init__(self, apply: Apply, failed: Callable[[str], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._apply, self._failed = apply, failed
        self._relay = Relay()  # no Qt parent: a thread stuck on a dead server keeps it alive
        self._relay.ended.connect(self._ended, Qt.QueuedConnection)
        self._running: ServerCall | None = None
        self._next: tuple[Project, str, set[int] | None] | None = None  # asked for while one runs

    @property
    def waiting(self) -> bool:
        """A read of a server project has not been answered yet."""
        return self._running is not None

    def read(self, project: Project, reader: str, image_ids: list[int] | None = None) -> None:
        """The rows of ``image_ids`` (None: all), applied now or when the server answers."""
        if not project.is_server:
            try:
                rows = viewing.worklist(project, image_ids, reader=reader)
            except MammoError as exc:
                self._failed(str(exc))
                return
            self._apply(image_ids, rows)
            return
        if self._running is not None:
            same = self._next is not None and self._next[0] is project
            self._next = (project, reader, merged(self._next[2], image_ids) if same else
                          (None if image_ids is None else set(image_ids)))
            return
        call = ServerCall(self._relay, "worklist-read",
                          lambda: viewing.worklist(project, image_ids, reader=reader), (project, image_ids))
        if call.answered():
            self._take(call)
        else:
            self._running = call

    def forget(self) -> None:
        """Another project: the old one's late answer is dropped, and so is what waited for it."""
        self._running, self._next = None, None

    def _ended(self, call: ServerCall) -> None:
        if call is not self._running:
            return  # answered in time (taken up already), or forgotten
        self._running = None
        self._take(call)
        if self._next is not None and self._running is None:
            project, reader, ids = self._next
            self._next = None
            self.read(project, reader, None if ids is None else sorted(ids))

    def _take(self, call: ServerCall) -> None:
        project, image_ids = call.tag
        error = read_error(call.error, project.location)
        if error is not None:
            self._failed(str(error))
            return
        self._apply(image_ids, call.result)
