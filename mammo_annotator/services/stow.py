"""Send exported DICOM SEG / SR objects to a PACS with STOW-RS, one instance per request.

One request per instance keeps the failure of one object (a PACS refusing its SOP class, a
conflict with an existing instance) from hiding the others; each failure names the file and
the PACS's reason. The connection (credentials, TLS) is the one ``dicomweb.connect`` builds.

A busy PACS (503, 429, 408, 504) is asked again here, not by dicomweb_client: its retry posts the
same upload generator, which a file over 1 MB (sent in chunks) has used up, so the PACS got an
empty body and refused it for a reason that named no busy server. Each attempt here encodes the
instance afresh.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pydicom

from ..core.errors import MammoError
from ..core.progress import CancelToken, ProgressFn, check_cancel, no_progress
from . import http_deadline
from .pacs_session import connect, explain

FAILED_SOP_SEQUENCE = "FailedSOPSequence"
REFERENCED_SOP_SEQUENCE = "ReferencedSOPSequence"
BUSY_STATUS = (408, 429, 503, 504)  # the PACS may take the same upload a moment later
RETRY_WAITS_S = (0.5, 1.0)  # three attempts in all, as dicomweb.connect allows a query
MAX_RETRY_AFTER_S = 10.0  # the longest wait a busy PACS's Retry-After gets


@dataclass
class StowReport:
    url: str
    stored: list[str] = field(default_factory=list)  # SOP Instance UIDs the PACS accepted
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    cancelled: bool = False

    def summary(self) -> str:
        text = f"STOW-RS to {self.url}: {len(self.stored)} stored, {len(self.failed)} failed"
        return text + (", stopped by the user" if self.cancelled else "")


def confirmed(answer: object, sop_uid: str) -> bool:
    """The STOW-RS answer lists the instance as stored: dicomweb_client turns an answer that is not
    DICOM JSON / XML (an HTML page with status 200) into an empty data set, never an error."""
    stored = getattr(answer, REFERENCED_SOP_SEQUENCE, None) or []
    return any(str(getattr(item, "ReferencedSOPInstanceUID", "")) == sop_uid for item in stored)


def _store(client, ds: pydicom.Dataset, transfer: http_deadline.Transfer, size: int) -> pydicom.Dataset:
    """``store_instances``, sent again while the PACS says it is busy or the connection broke
    (a certificate refused is final); every attempt uploads the whole instance and counts its
    size towards the deadline."""
    import requests

    for wait in RETRY_WAITS_S:
        try:
            return client.store_instances([ds])
        except requests.HTTPError as exc:
            if exc.response is None or exc.response.status_code not in BUSY_STATUS:
                raise
            wait = retry_after(exc.response.headers.get("Retry-After"), wait)
        except requests.ConnectionError as exc:
            if isinstance(exc, requests.exceptions.SSLError) or transfer.reason is not None:
                raise
        transfer.credit += size
        time.sleep(wait)
    return client.store_instances([ds])


def retry_after(header: str | None, default: float) -> float:
    """The wait a busy PACS asks for (``Retry-After`` in seconds, RFC 9110), at most
    ``MAX_RETRY_AFTER_S``: a PACS asking for an hour does not hold the batch for an hour (the file
    then fails as busy and the next one is tried). An HTTP date or nonsense: ``default``."""
    try:
        seconds = float((header or "").strip())
    except ValueError:
        return default
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S) if seconds == seconds else default


def stow_files(url: str, files: Sequence[Path], progress: ProgressFn = no_progress,
               cancel: CancelToken | None = None) -> StowReport:
    """STOW every file; a refused or unreadable one is reported and the rest go on."""
    client = connect(url)
    client.set_http_retry_params(retry=False)  # retried by _store, each time with the whole instance
    report = StowReport(url)
    for k, path in enumerate(files):
        progress(k, len(files), f"STOW {path.name}")
        try:
            check_cancel(cancel)
        except MammoError:
            report.cancelled = True
            break
        try:
            ds = pydicom.dcmread(path)
        except Exception as exc:
            report.failed.append((str(path), f"not a DICOM file ({exc})"))
            continue
        try:
            size = path.stat().st_size
            with http_deadline.Transfer(url, credit=size) as transfer:  # one deadline, the retries included
                answer = _store(client, ds, transfer, size)
        except Exception as exc:
            report.failed.append((str(path), explain(url, exc).reason))
            continue
        refused = getattr(answer, FAILED_SOP_SEQUENCE, None) if answer is not None else None
        if refused:
            reason = getattr(refused[0], "FailureReason", "unknown")
            report.failed.append((str(path), f"the PACS refused the instance (failure reason {reason})"))
        elif not confirmed(answer, str(ds.get("SOPInstanceUID", ""))):
            report.failed.append((str(path), "the PACS did not confirm storing it (its answer is not a STOW-RS response "
                                             "listing the instance; check the URL: a proxy or login page answers so)"))
        else:
            report.stored.append(str(ds.SOPInstanceUID))
    progress(len(files), len(files), report.summary())
    return report
