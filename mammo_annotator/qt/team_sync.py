"""Team use in the window: other machines' changes arrive without a restart, and the reader
sees who else has the shown image open.

Every ``POLL_MS`` the watcher (``services.remote_changes``) turns what changed elsewhere (an
activated model version, contours saved, images imported) into the project's usual events, so
the views refresh as for local edits. The shown image's lease is renewed every ``LEASE_MS``.
Nothing here talks to the database in the GUI thread: the poll's reads run in a thread and the
leases in another (one at a time, in order), and only their results reach the GUI thread. On a
shared server they are network round trips, and a server that stops answering held the window
for the connection timeout (10 s), or for ever on a connection whose server went silent.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from ..core.errors import MammoError
from ..services import team
from ..services.project import Project
from ..services.remote_changes import RemoteChanges

POLL_MS = 5000
LEASE_MS = 30000
STOP_WAIT_S = 1.0  # closing waits this long for a read or a lease stuck on an unreachable server
log = logging.getLogger(__name__)


class TeamSync(QObject):
    """``othersChanged(text)``: who else is on the shown image ("" when nobody);
    ``presenceChanged(image ids)``: someone else opened or left these images (the worklist's
    "on it" dot; only their rows need reading again). The reader's own lease is not presence."""

    othersChanged = Signal(str)
    presenceChanged = Signal(list)
    jobChanged = Signal(str)  # "retraining runs on dr.b@ws2 ..." while another process retrains, "" after
    polled = Signal(object)  # a background poll's changes (None when the server did not answer)
    _read_done = Signal(object)  # (snapshot, who is on, running job) from the poll's thread
    _lease_done = Signal(int, object)  # image id, the others on it (None: the lease failed)

    def __init__(self, project: Project, annotator: Callable[[], str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project, self.annotator = project, annotator
        self.image_id: int | None = None
        self._presence: dict[int, tuple[str, ...]] = {}
        self._job_text = ""
        self.watcher: RemoteChanges | None = RemoteChanges(project)
        self._reading: threading.Thread | None = None
        # after stop() no thread may touch this object (the window may be gone): emits are made
        # under this lock and only while not stopped
        self._emit_lock = threading.Lock()
        self._stopped = False
        self._leases: queue.Queue = queue.Queue()
        self._lease_thread: threading.Thread | None = None
        self._read_done.connect(self._apply, Qt.QueuedConnection)
        self._lease_done.connect(self._on_lease, Qt.QueuedConnection)
        self.poll_timer = QTimer(self, interval=POLL_MS, timeout=self.poll_in_background)
        self.lease_timer = QTimer(self, interval=LEASE_MS, timeout=self._renew)
        self.poll_timer.start()
        self.lease_timer.start()

    def _emit(self, signal_name: str, *args: object) -> None:
        """Emit from a worker thread, unless stopped (then the result is dropped)."""
        with self._emit_lock:
            if not self._stopped:
                getattr(self, signal_name).emit(*args)

    # the poll -----------------------------------------------------------------------------
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
        if self._stopped or (self._reading is not None and self._reading.is_alive()):
            return False
        watcher = self.watcher

        def read() -> None:
            try:
                result = self._read(watcher)
            except Exception as exc:  # noqa: BLE001 - a driver or pool error too: the next tick asks again
                log.warning("remote changes: %s", exc)
                result = None
            self._emit("_read_done", result)

        self._reading = threading.Thread(target=read, name="team-poll", daemon=True)
        self._reading.start()
        return True

    def _read(self, watcher: RemoteChanges | None = None) -> tuple:
        return (watcher or self.watcher).read(), team.who_is_on(self.project), team.running_job(self.project)

    @Slot(object)
    def _apply(self, result: tuple | None) -> None:
        if self.watcher is None:  # stopped while the read ran
            return
        self.polled.emit(self._apply_now(result) if result is not None else None)

    def _apply_now(self, result: tuple) -> dict:
        snap, on, job = result
        changes = self.watcher.apply(snap)
        me = self.annotator()
        presence = {i: names for i, ps in on.items() if (names := tuple(sorted(p.annotator for p in ps if p.annotator != me)))}
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

    # the shown image's lease ----------------------------------------------------------------
    def image_shown(self, image_id: int) -> None:
        """Leave the previous image and take this one's lease, in the lease thread; the others
        on it are shown (``othersChanged``) once the server has answered."""
        previous, self.image_id = self.image_id, image_id
        annotator = self.annotator()
        if previous is not None and previous != image_id:
            self._submit(team.close_image, previous, annotator)
        self._submit(team.open_image, image_id, annotator, report=True)

    def _renew(self) -> None:
        if self.image_id is not None and self._leases.unfinished_tasks == 0:  # a stuck one is not queued behind
            self._submit(team.open_image, self.image_id, self.annotator())

    def _submit(self, fn: Callable, image_id: int, annotator: str, report: bool = False) -> None:
        if self._stopped:
            return
        self._leases.put((fn, image_id, annotator, report))
        if self._lease_thread is None:
            self._lease_thread = threading.Thread(target=self._lease_loop, name="team-lease", daemon=True)
            self._lease_thread.start()

    def _lease_loop(self) -> None:
        """The lease thread: one database call at a time, in the order asked; ends at None."""
        while True:
            job = self._leases.get()
            try:
                if job is None:
                    return
                fn, image_id, annotator, report = job
                try:
                    others = fn(self.project, image_id, annotator)
                except (MammoError, KeyError) as exc:
                    log.warning("image lease: %s", exc)
                    others = None
                except Exception as exc:  # noqa: BLE001 - a driver or pool error: the next renewal tries again
                    log.warning("image lease: %s: %s", type(exc).__name__, exc)
                    others = None
                if report:
                    self._emit("_lease_done", image_id, others)
            finally:
                self._leases.task_done()

    @Slot(int, object)
    def _on_lease(self, image_id: int, others: list | None) -> None:
        if not self._stopped and image_id == self.image_id and others is not None:
            self._show_others(others)

    def _show_others(self, presences: list) -> None:
        names = sorted({p.annotator for p in presences if p.annotator != self.annotator()})
        self.othersChanged.emit(f"Also on this image: {', '.join(names)}" if names else "")

    # closing ---------------------------------------------------------------------------------
    def stop(self) -> None:
        """Free the shown image and stop polling, waiting at most about ``STOP_WAIT_S`` for the
        server: a thread still stuck on it after that is left behind (a daemon). It only reads, or
        writes one lease in its own transaction, and it no longer emits anything, so it cannot
        touch the closed window nor leave anything half-written."""
        self.poll_timer.stop()
        self.lease_timer.stop()
        if self.image_id is not None:
            self._submit(team.close_image, self.image_id, self.annotator())
        deadline = time.monotonic() + STOP_WAIT_S
        if self._lease_thread is not None:
            self._leases.put(None)
            self._lease_thread.join(max(0.0, deadline - time.monotonic()))
        if self._reading is not None:
            self._reading.join(max(0.0, deadline - time.monotonic()))
        with self._emit_lock:
            self._stopped = True
        for thread in (self._lease_thread, self._reading):
            if thread is not None and thread.is_alive():
                log.warning("closing without waiting for the database server (%s): %s is still waiting for it",
                            self.project.location, thread.name)
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
