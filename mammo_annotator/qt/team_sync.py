"""Team use in the window: other machines' changes arrive without a restart, and the reader
sees who else has the shown image open.

Every ``POLL_MS`` the watcher (``services.remote_changes``) turns what changed elsewhere (an
activated model version, contours saved, images imported) into the project's usual events, so
the views refresh as for local edits. The shown image's lease is renewed every ``LEASE_MS``.
The poll's reads run in a thread and only their result reaches the GUI thread: on a shared
server they are network round trips, and a server that stops answering held the window for
the connection timeout (10 s) at every tick.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from ..core.errors import MammoError
from ..services import team
from ..services.project import Project
from ..services.remote_changes import RemoteChanges

POLL_MS = 5000
LEASE_MS = 30000
log = logging.getLogger(__name__)


class TeamSync(QObject):
    """``othersChanged(text)``: who else is on the shown image ("" when nobody);
    ``presenceChanged(image ids)``: someone opened or left these images (the worklist's "on it"
    text; only their rows need reading again)."""

    othersChanged = Signal(str)
    presenceChanged = Signal(list)
    jobChanged = Signal(str)  # "retraining runs on dr.b@ws2 ..." while another process retrains, "" after
    polled = Signal(object)  # a background poll's changes (None when the server did not answer)
    _read_done = Signal(object)  # (snapshot, who is on, running job) from the poll's thread

    def __init__(self, project: Project, annotator: Callable[[], str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project, self.annotator = project, annotator
        self.image_id: int | None = None
        self._presence: dict[int, tuple[str, ...]] = {}
        self._job_text = ""
        self.watcher: RemoteChanges | None = RemoteChanges(project)
        self._reading: threading.Thread | None = None
        self._read_done.connect(self._apply, Qt.QueuedConnection)
        self.poll_timer = QTimer(self, interval=POLL_MS, timeout=self.poll_in_background)
        self.lease_timer = QTimer(self, interval=LEASE_MS, timeout=self._renew)
        self.poll_timer.start()
        self.lease_timer.start()

    def poll(self) -> dict | None:
        """Read and apply in the calling thread; returns the changes (None: the server did not answer)."""
        try:
            return self._apply_now(self._read())
        except MammoError as exc:  # the server is away for a moment: try again at the next tick
            log.warning("remote changes: %s", exc)
            return None

    def poll_in_background(self) -> bool:
        """The timer's poll: read in a thread, apply in this one (``polled`` says when). False
        while the previous read is still running (a slow server is not asked twice)."""
        if self._reading is not None and self._reading.is_alive():
            return False

        def read() -> None:
            try:
                result = self._read()
            except Exception as exc:  # noqa: BLE001 - a driver or pool error too: the next tick asks again
                log.warning("remote changes: %s", exc)
                result = None
            self._read_done.emit(result)

        self._reading = threading.Thread(target=read, name="team-poll", daemon=True)
        self._reading.start()
        return True

    def _read(self) -> tuple:
        return self.watcher.read(), team.who_is_on(self.project), team.running_job(self.project)

    @Slot(object)
    def _apply(self, result: tuple | None) -> None:
        if self.watcher is None:  # stopped while the read ran
            return
        self.polled.emit(self._apply_now(result) if result is not None else None)

    def _apply_now(self, result: tuple) -> dict:
        snap, on, job = result
        changes = self.watcher.apply(snap)
        presence = {i: tuple(sorted(p.annotator for p in ps)) for i, ps in on.items()}
        if presence != self._presence:
            changed = sorted(i for i in presence.keys() | self._presence.keys() if presence.get(i) != self._presence.get(i))
            self._presence = presence
            self.presenceChanged.emit(changed)
        text = job.describe() if job is not None and not job.holder.endswith(f" pid {os.getpid()}") else ""
        if text != self._job_text:  # another machine's (or process's) retraining started or ended
            self._job_text = text
            self.jobChanged.emit(text)
        if self.image_id is not None:
            self._show_others(on.get(self.image_id, []))
        return changes

    def image_shown(self, image_id: int) -> None:
        if self.image_id is not None and self.image_id != image_id:
            self._safe(team.close_image, self.project, self.image_id, self.annotator())
        self.image_id = image_id
        others = self._safe(team.open_image, self.project, image_id, self.annotator())
        self._show_others(others or [])

    def _renew(self) -> None:
        if self.image_id is not None:
            self._safe(team.open_image, self.project, self.image_id, self.annotator())

    def _show_others(self, presences: list) -> None:
        names = sorted({p.annotator for p in presences if p.annotator != self.annotator()})
        self.othersChanged.emit(f"Also on this image: {', '.join(names)}" if names else "")

    def _safe(self, fn, *args):
        try:
            return fn(*args)
        except (MammoError, KeyError) as exc:
            log.warning("image lease: %s", exc)
            return None

    def stop(self) -> None:
        self.poll_timer.stop()
        self.lease_timer.stop()
        if self._reading is not None:
            self._reading.join(15)  # its session must end before the project closes
        if self.image_id is not None:
            self._safe(team.close_image, self.project, self.image_id, self.annotator())
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None


def agreement_text(contours: list) -> str:
    """The status line for an image several annotators outlined: their Dice per pair ("" otherwise)."""
    from ..core.consensus import pairwise_dice
    from ..core.types import Lesion

    by_annotator: dict[str, list[Lesion]] = {}
    for a in contours:
        by_annotator.setdefault(a.annotator, []).append(Lesion(a.cls, a.polygon, a.id))
    pairs = pairwise_dice(by_annotator) if len(by_annotator) >= 2 else []
    return ("Agreement (Dice of malignant outlines): " + ", ".join(f"{x} / {y} {d:.2f}" for x, y, d in pairs)) if pairs else ""
