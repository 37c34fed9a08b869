"""Several annotators on one project: who is on an image now, and one retraining job at a time.

Both are leases in the project database, so they hold across machines on a shared PostgreSQL
project (and across processes on one SQLite file). A lease not renewed within its TTL lapses:
a closed or crashed app frees the image / the job by itself.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from ..store import leases as lease_store
from .project import Project

IMAGE_LEASE_S = 90.0  # the GUI renews every ~30 s while an image is shown
JOB_LEASE_S = 300.0  # the trainer renews at each progress step, at most every RENEW_EVERY_S
RENEW_EVERY_S = 20.0
TRAINING = "training"


def host_name() -> str:
    return socket.gethostname() or "unknown-host"


def holder_id(annotator: str) -> str:
    """Who holds a job: annotator, machine and process, so others can name it."""
    return f"{annotator}@{host_name()} pid {os.getpid()}"


@dataclass(frozen=True)
class Presence:
    annotator: str
    host: str
    expires_at: float


def open_image(project: Project, image_id: int, annotator: str, ttl_s: float = IMAGE_LEASE_S) -> list[Presence]:
    """Take (or renew) this annotator's lease on the image; returns the *others* on it now."""
    with project.session() as s:
        lease_store.hold_image(s, image_id, annotator, host_name(), ttl_s)
    return [p for p in on_image(project, image_id) if p.annotator != annotator]


def close_image(project: Project, image_id: int, annotator: str) -> None:
    with project.session() as s:
        lease_store.drop_image(s, image_id, annotator)


def on_image(project: Project, image_id: int) -> list[Presence]:
    return who_is_on(project).get(image_id, [])


def who_is_on(project: Project) -> dict[int, list[Presence]]:
    """image id -> the annotators whose lease on it is live (the worklist's "on it" column)."""
    with project.session() as s:
        held = lease_store.image_holders(s)
    return {i: [Presence(a, h, e) for a, h, e in rows] for i, rows in held.items()}


@dataclass(frozen=True)
class RunningJob:
    holder: str
    started_at: float
    expires_at: float

    def describe(self) -> str:
        minutes = max(0, int((time.time() - self.started_at) // 60))
        return f"retraining runs on {self.holder} (started {minutes} min ago)"


class JobLease:
    """The project-wide job lock held by this process while its job runs.

    ``renew()`` is cheap to call often (it writes at most every ``RENEW_EVERY_S``) and returns
    False once the lease was lost (it lapsed and another machine took it).
    """

    def __init__(self, project: Project, holder: str, name: str = TRAINING, ttl_s: float = JOB_LEASE_S):
        self.project, self.holder, self.name, self.ttl_s = project, holder, name, ttl_s
        self._renewed = 0.0

    def acquire(self) -> bool:
        with self.project.session() as s:
            ok = lease_store.try_take_job(s, self.name, self.holder, self.ttl_s)
        self._renewed = time.monotonic()
        return ok

    def renew(self) -> bool:
        if time.monotonic() - self._renewed < RENEW_EVERY_S:
            return True
        with self.project.session() as s:
            ok = lease_store.renew_job(s, self.name, self.holder, self.ttl_s)
        self._renewed = time.monotonic()
        return ok

    def release(self) -> None:
        with self.project.session() as s:
            lease_store.release_job(s, self.name, self.holder)


def running_job(project: Project, name: str = TRAINING) -> RunningJob | None:
    """The job another machine (or this one) runs now, for "retraining runs on ..." displays."""
    with project.session() as s:
        held = lease_store.job_holder(s, name)
    return RunningJob(*held) if held else None
