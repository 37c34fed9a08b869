"""Leases that expire: who is on an image now, and the one project-wide job across machines.

Times are Unix seconds from the writer's clock (machines of one site keep NTP time); a lease
that is not renewed lapses, so a crashed app never blocks anyone for longer than its TTL.
"""

from __future__ import annotations

import time

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .schema import ImageLeaseRow, JobLockRow


def hold_image(session: Session, image_id: int, annotator: str, host: str, ttl_s: float, now: float | None = None) -> None:
    """Take or renew this annotator's lease on an image."""
    now = time.time() if now is None else now
    row = session.get(ImageLeaseRow, (image_id, annotator))
    if row is None:
        try:
            with session.begin_nested():
                session.add(ImageLeaseRow(image_id=image_id, annotator=annotator, host=host, expires_at=now + ttl_s))
            return
        except IntegrityError:  # the same annotator's other window inserted it first
            row = session.get(ImageLeaseRow, (image_id, annotator), populate_existing=True)
            if row is None:  # no: the image itself is gone (deleted on another machine)
                raise KeyError(f"image {image_id}: not in the project (deleted on another machine?)") from None
    row.host, row.expires_at = host, now + ttl_s


def drop_image(session: Session, image_id: int, annotator: str) -> None:
    session.execute(delete(ImageLeaseRow).where(ImageLeaseRow.image_id == image_id, ImageLeaseRow.annotator == annotator))


def image_holders(session: Session, now: float | None = None) -> dict[int, list[tuple[str, str, float]]]:
    """image id -> [(annotator, host, expires_at)] of the live leases, by annotator."""
    now = time.time() if now is None else now
    rows = session.scalars(select(ImageLeaseRow).where(ImageLeaseRow.expires_at > now).order_by(ImageLeaseRow.annotator))
    out: dict[int, list[tuple[str, str, float]]] = {}
    for r in rows:
        out.setdefault(r.image_id, []).append((r.annotator, r.host, r.expires_at))
    return out


def purge_expired(session: Session, now: float | None = None) -> int:
    now = time.time() if now is None else now
    return session.execute(delete(ImageLeaseRow).where(ImageLeaseRow.expires_at <= now)).rowcount or 0


def try_take_job(session: Session, name: str, holder: str, ttl_s: float, now: float | None = None) -> bool:
    """Take the job lock if it is free, lapsed, or already ours; atomic on both backends:
    an insert that the primary key makes exclusive, else an update that only matches a free row."""
    now = time.time() if now is None else now
    try:
        with session.begin_nested():
            session.add(JobLockRow(name=name, holder=holder, started_at=now, expires_at=now + ttl_s))
        return True
    except IntegrityError:
        pass
    res = session.execute(
        update(JobLockRow)
        .where(JobLockRow.name == name, (JobLockRow.expires_at <= now) | (JobLockRow.holder == holder))
        .values(holder=holder, started_at=now, expires_at=now + ttl_s)
        .execution_options(synchronize_session=False)
    )
    return res.rowcount == 1


def renew_job(session: Session, name: str, holder: str, ttl_s: float, now: float | None = None) -> bool:
    """Extend our lock; False when it lapsed and someone else took it."""
    now = time.time() if now is None else now
    res = session.execute(
        update(JobLockRow).where(JobLockRow.name == name, JobLockRow.holder == holder)
        .values(expires_at=now + ttl_s).execution_options(synchronize_session=False)
    )
    return res.rowcount == 1


def release_job(session: Session, name: str, holder: str) -> None:
    session.execute(delete(JobLockRow).where(JobLockRow.name == name, JobLockRow.holder == holder))


def job_holder(session: Session, name: str, now: float | None = None) -> tuple[str, float, float] | None:
    """(holder, started_at, expires_at) of a live lock, else None."""
    now = time.time() if now is None else now
    row = session.get(JobLockRow, name, populate_existing=True)
    if row is None or row.expires_at <= now:
        return None
    return row.holder, row.started_at, row.expires_at
