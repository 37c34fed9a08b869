"""A PACS over DICOMweb: WADO-RS import (the connection is ``pacs_session``, the queries ``qido``).

Import streams: one instance is retrieved (in its stored transfer syntax), written to the
project's PACS folder and imported exactly like a DICOM file (same decoding, de-duplication by
content hash, per-instance errors), before the next one is fetched. Instances whose SOP Instance
UID the project already holds are not retrieved again. Each imported image records the PACS
root (without credentials) and its UIDs, so a machine without the file retrieves it again
(``pacs_fetch``); an import also records them for held instances imported before they were.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Sequence
from urllib.parse import quote

from ..core.errors import MammoError
from ..core.progress import CancelToken, ProgressFn, check_cancel, no_progress
from ..core.records import PacsOrigin
from ..store import images as image_store
from . import pacs_session, wado
from .importing import NOT_IMPORTED, ImportItem, ImportReport, import_one
from .pacs_session import _SESSIONS, PacsError, connect, explain, public_url
from .project import Project
from .qido import InstanceRef, find_instances

log = logging.getLogger(__name__)

ANY_TRANSFER_SYNTAX = (("application/dicom", "*"),)  # as stored: no transcoding by the PACS


def pacs_folder(project: Project) -> Path:
    """Where retrieved instances are kept: beside a project file, or in a server project's
    local folder (``--store`` puts them on a share every machine reads)."""
    if project.is_server:
        return project.path.parent / "pacs"
    return project.path.with_name(project.path.stem + ".pacs")


def retrieve_to(client, ref: InstanceRef, path: Path) -> None:
    """WADO-RS: one instance as stored, written to ``path`` (the bytes an import hashes: a machine
    that retrieves it again writes the same file). The answer is streamed (``wado``), never held
    whole in memory; one that is not the instance is refused with what the PACS sent instead."""
    import pydicom

    base = client.base_url.rstrip("/")
    url = base + "".join(f"/{kind}/{quote(uid, safe='')}" for kind, uid in
                         (("studies", ref.study), ("series", ref.series), ("instances", ref.sop)))
    raw = path.with_name(path.name + ".raw")
    try:
        try:
            content_type = wado.download(_SESSIONS[client], url, raw, (pacs_session.CONNECT_TIMEOUT_S, pacs_session.READ_TIMEOUT_S))
            start, end = wado.dicom_part(raw, content_type)
        except wado.AnswerError as exc:
            raise PacsError(base, str(exc)) from None
        try:
            with open(raw, "rb") as f:
                f.seek(start)
                ds = pydicom.dcmread(wado.Window(f, end - start))
        except Exception as exc:
            raise PacsError(base, f"the instance the PACS sent is not readable DICOM ({type(exc).__name__}: {exc})") from exc
        ds.save_as(path, enforce_file_format=True)
    finally:
        raw.unlink(missing_ok=True)


def _retrieve(client, url: str, ref: InstanceRef, folder: Path) -> Path:
    name = re.sub(r"[^0-9.]", "_", ref.sop)[:120] + ".dcm"
    path = folder / name
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        retrieve_to(client, ref, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _record_missing_origins(project: Project, origin_url: str, refs: Sequence[InstanceRef], known: dict[str, int]) -> None:
    """Held instances imported before their origin was recorded get it now."""
    held = {known[r.sop]: r for r in refs if r.sop in known}
    with project.session() as s:
        for image_id in image_store.ids_without_pacs_origin(s, list(held)):
            r = held[image_id]
            image_store.set_pacs_origin(s, image_id, PacsOrigin(origin_url, r.study, r.series, r.sop))


def import_dicomweb(project: Project, url: str, studies: Sequence[str] = (), modality: str | None = "MG",
                    since: str | None = None, store: str | os.PathLike | None = None,
                    progress: ProgressFn = no_progress, cancel: CancelToken | None = None,
                    report: ImportReport | None = None) -> ImportReport:
    """Query the PACS, then retrieve and import each new instance; returns the import report. The
    project's database server going away ends it as it ends a file import (``import_one`` says
    so): the instances left are reported, not retrieved only to fail one by one."""
    report = report or ImportReport()
    client = connect(url)
    progress(0, 0, f"querying {url}")
    refs = find_instances(client, url, studies, modality, since, problems=report.failed)
    folder = Path(store) if store else pacs_folder(project)
    folder.mkdir(parents=True, exist_ok=True)
    with project.session() as s:
        known = image_store.image_ids_by_sop_uid(s, [r.sop for r in refs])
    origin_url = public_url(url)
    _record_missing_origins(project, origin_url, refs, known)
    for k, ref in enumerate(refs):
        progress(k, len(refs), f"retrieving {ref.sop}")
        try:
            check_cancel(cancel)
        except MammoError:
            report.cancelled = True
            break
        if ref.sop in known:
            report.duplicates.append((f"pacs:{ref.key}", known[ref.sop]))
            continue
        try:
            path = _retrieve(client, url, ref, folder)
        except Exception as exc:  # one instance failing never stops the others
            report.failed.append((f"pacs:{ref.key}", explain(url, exc).reason))
            continue
        origin = PacsOrigin(origin_url, ref.study, ref.series, ref.sop)
        image_id = import_one(project, ImportItem(path=path, pacs=origin), report)
        if image_id is not None:
            known[ref.sop] = image_id
        if report.stopped:
            for rest in refs[k + 1:]:
                if rest.sop in known:
                    report.duplicates.append((f"pacs:{rest.key}", known[rest.sop]))
                else:
                    report.failed.append((f"pacs:{rest.key}", NOT_IMPORTED))
            break
    progress(len(refs), len(refs), report.summary())
    if report.imported:
        project.events.emit("images_imported", image_ids=list(report.imported))
    return report
