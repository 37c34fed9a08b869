"""A PACS over DICOMweb: the connection (authentication, TLS), QIDO-RS queries, WADO-RS import.

Credentials come from the environment only, never from the command line or the project:
``MAMMO_DICOMWEB_TOKEN`` (an OAuth bearer token) or ``MAMMO_DICOMWEB_USER`` and
``MAMMO_DICOMWEB_PASSWORD`` (HTTP basic). TLS certificates are always verified;
``MAMMO_DICOMWEB_CA_BUNDLE`` names a site's own CA file instead of the system's. Every request
(a query page, an instance, a STOW) has a total deadline scaled from a minimum rate
(``http_deadline``: ``MAMMO_DICOMWEB_DEADLINE_S``, ``MAMMO_DICOMWEB_MIN_KIB_S``). A query keeps
at most ``MAMMO_DICOMWEB_MAX_ROWS`` rows (100,000): a PACS that pages for ever is stopped, the rows
received are used and the report names the query and the cap.

Import streams: one instance is retrieved (in its stored transfer syntax), written to the
project's PACS folder and imported exactly like a DICOM file (same decoding, de-duplication by
content hash, per-instance errors), before the next one is fetched. Instances whose SOP Instance
UID the project already holds are not retrieved again. Each imported image records the PACS
root (without credentials) and its UIDs, so a machine without the file retrieves it again
(``pacs_fetch``); an import also records them for held instances imported before they were.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import re
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from ..core.errors import MammoError
from ..core.progress import CancelToken, ProgressFn, check_cancel, no_progress
from ..core.records import PacsOrigin
from ..store import images as image_store
from . import wado
from .importing import NOT_IMPORTED, ImportItem, ImportReport, import_one
from .project import Project

log = logging.getLogger(__name__)

ENV_TOKEN, ENV_USER, ENV_PASSWORD, ENV_CA = ("MAMMO_DICOMWEB_TOKEN", "MAMMO_DICOMWEB_USER", "MAMMO_DICOMWEB_PASSWORD",
                                             "MAMMO_DICOMWEB_CA_BUNDLE")
STUDY_UID, SERIES_UID, SOP_UID, MODALITY, STUDY_DATE = "0020000D", "0020000E", "00080018", "00080060", "00080020"
ANY_TRANSFER_SYNTAX = (("application/dicom", "*"),)  # as stored: no transcoding by the PACS
CONNECT_TIMEOUT_S, READ_TIMEOUT_S = 10.0, 120.0  # read: the longest silence between two bytes of an answer
MAX_ANSWER_BYTES = 64 * 1024**2  # a query's (one page) or a STOW's answer; an instance streams to disk (wado)
ENV_MAX_ROWS, MAX_ROWS = "MAMMO_DICOMWEB_MAX_ROWS", 100_000  # one query's rows, all pages: years of a large centre's studies
QIDO_PAGE_ROWS = 500


class PacsError(MammoError):
    """The PACS could not be queried or written to; names the URL and the reason."""

    def __init__(self, url: str, reason: str):
        self.url, self.reason = url, reason
        super().__init__(f"{url}: {reason}")


@dataclass(frozen=True)
class InstanceRef:
    study: str
    series: str
    sop: str

    @property
    def key(self) -> str:
        return f"{self.study}/{self.series}/{self.sop}"


def public_url(url: str) -> str:
    """The DICOMweb root as the project records it: no user, password, query or fragment (a
    credential never reaches the database), no trailing slash."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def auth_description() -> str:
    if os.environ.get(ENV_TOKEN):
        return "bearer token"
    if os.environ.get(ENV_USER):
        return f"HTTP basic as {os.environ[ENV_USER]}"
    return "no authentication"


def check_url(url: str) -> None:
    """An http(s) URL with a host, or a PacsError naming it (dicomweb_client's bare ValueError
    would reach the user as an unexpected error)."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise PacsError(url, "not a DICOMweb root URL: expected http:// or https://host/path (e.g. https://pacs.example/dicom-web)")


def connect(url: str):
    """A DICOMweb client for ``url`` with the environment's credentials and TLS verification on."""
    check_url(url)
    from dicomweb_client.api import DICOMwebClient

    from . import http_deadline

    http_deadline.limits()  # a bad setting is named before anything is asked of the PACS
    max_rows()
    session = _session_class()()
    session.verify = os.environ.get(ENV_CA) or True  # never switched off
    token, user = os.environ.get(ENV_TOKEN), os.environ.get(ENV_USER)
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    elif user:
        session.auth = (user, os.environ.get(ENV_PASSWORD, ""))
    if (token or user) and url.startswith("http://") and not re.match(r"http://(127\.0\.0\.1|localhost)[:/]", url):
        log.warning("%s: credentials sent without TLS (use https://)", url)
    try:
        client = DICOMwebClient(url.strip().rstrip("/"), session=session, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
    except ValueError as exc:
        raise PacsError(url, f"not a DICOMweb root URL ({exc})") from exc
    # its default (5 attempts, 1 s exponential back-off, on connection and TLS errors too) makes a
    # wrong URL or an untrusted certificate take 30 s to report; 3 attempts within ~1.5 s
    client.set_http_retry_params(max_attempts=3, wait_exponential_multiplier=500)
    _SESSIONS[client] = session  # the retrieval streams through it (the client keeps its own private)
    return client


_SESSIONS: "weakref.WeakKeyDictionary[object, object]" = weakref.WeakKeyDictionary()


def _session_class():
    """requests.Session for a PACS (built on first use: requests is imported lazily)."""
    global _Session
    if _Session is None:
        import requests

        from . import http_deadline

        class Session(requests.Session):
            """Every request under a total deadline (``http_deadline``), and an answer read whole
            here (a query's, a STOW's) refused beyond MAX_ANSWER_BYTES: requests would decode any
            size (a gzip bomb) into memory."""

            def __init__(self):
                super().__init__()
                for prefix in ("http://", "https://"):
                    self.mount(prefix, http_deadline.WatchedAdapter())

            def merge_environment_settings(self, url, proxies, stream, verify, cert):
                """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's own CA
                file; the site's CA named for the PACS must win (proxies from the environment apply)."""
                settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
                if isinstance(self.verify, str):
                    settings["verify"] = self.verify
                return settings

            def send(self, request, **kwargs):
                outer = http_deadline.current()
                if outer is not None:
                    try:
                        outer.check()  # a retry (dicomweb_client's) of a request past its deadline: refused at once
                    except http_deadline.TooSlow as exc:
                        raise PacsError(request.url, exc.reason) from None
                if kwargs.get("stream"):
                    return super().send(request, **kwargs)  # the caller reads the body under its Transfer (wado)
                body = request.body
                size = len(body) if isinstance(body, (bytes, bytearray, str)) else 0
                try:
                    with contextlib.nullcontext(outer) if outer else http_deadline.Transfer(request.url, size) as transfer:
                        try:
                            response = super().send(request, **{**kwargs, "stream": True})
                            with response:
                                content = bytearray()
                                for chunk in http_deadline.chunks(response, transfer):
                                    content += chunk
                                    if len(content) > MAX_ANSWER_BYTES:
                                        raise PacsError(request.url, f"the PACS's answer is larger than {MAX_ANSWER_BYTES // 2**20} MiB "
                                                                     "(a query's or a STOW's answer is a few kB); refused")
                        except Exception as exc:
                            if transfer.reason is None or isinstance(exc, PacsError):
                                raise
                            raise http_deadline.TooSlow(request.url, transfer.reason) from exc
                except http_deadline.TooSlow as exc:
                    raise PacsError(request.url, exc.reason) from None
                response._content, response._content_consumed = bytes(content), True  # as requests keeps a read body
                return response

        _Session = Session
    return _Session


_Session = None


def explain(url: str, exc: Exception) -> PacsError:
    """An HTTP / connection failure in words (the status code kept)."""
    import requests

    from . import http_deadline

    if isinstance(exc, http_deadline.TooSlow):
        return PacsError(url, exc.reason)
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        code = exc.response.status_code
        hint = {401: "the PACS refused the credentials (set MAMMO_DICOMWEB_TOKEN or MAMMO_DICOMWEB_USER/PASSWORD)",
                403: "the PACS refused access (check MAMMO_DICOMWEB_TOKEN or MAMMO_DICOMWEB_USER/PASSWORD)",
                404: "not found on the PACS (check the DICOMweb root URL and the UIDs)"}.get(code, exc.response.reason)
        return PacsError(url, f"HTTP {code}: {hint}")
    if isinstance(exc, PacsError):
        return exc
    if isinstance(exc, requests.exceptions.JSONDecodeError):
        return PacsError(url, f"the PACS's answer is not DICOM JSON (it begins {exc.doc[:80]!r}); check the DICOMweb root URL")
    if isinstance(exc, requests.exceptions.ReadTimeout) or (
            isinstance(exc, requests.ConnectionError) and "read timed out" in str(exc).lower()):  # mid-body: wrapped
        return PacsError(url, f"the PACS stopped answering (nothing received for {READ_TIMEOUT_S:g} s)")
    if isinstance(exc, requests.exceptions.SSLError):
        return PacsError(url, f"TLS certificate not trusted ({exc}); set {ENV_CA} to the site's CA file")
    if isinstance(exc, requests.TooManyRedirects):
        return PacsError(url, f"the PACS redirected the request more than {len(exc.response.history) if exc.response is not None else 30} "
                              "times (a redirect loop; check the DICOMweb root URL)")
    if isinstance(exc, RecursionError):
        return PacsError(url, "the PACS's answer is not DICOM JSON (nested too deeply)")
    cause = next((c for c in _causes(exc) if isinstance(c, http.client.HTTPException)), None)
    if isinstance(cause, http.client.IncompleteRead):
        got = cause.partial if isinstance(cause.partial, int) else len(cause.partial)  # urllib3's keeps a count
        return PacsError(url, f"the PACS closed the connection before the end of its answer ({got} bytes arrived, "
                              f"{cause.expected} more announced): incomplete transfer")
    if cause is not None and not isinstance(cause, http.client.RemoteDisconnected):
        return PacsError(url, f"the PACS's answer is not valid HTTP ({type(cause).__name__}: {str(cause)[:200]})")
    if isinstance(exc, requests.ConnectionError):
        return PacsError(url, f"cannot reach the PACS ({type(exc).__name__})")
    return PacsError(url, f"{type(exc).__name__}: {exc}")


def _causes(exc: BaseException):
    """``exc`` and what it wraps (requests wraps urllib3's error, which wraps http.client's in its args)."""
    seen, todo = set(), [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [c for c in (e.__cause__, e.__context__, *e.args) if isinstance(c, BaseException)]


def _value(item: object, tag: str) -> str | None:
    """The first value of ``tag`` in a DICOM JSON data set; None when the PACS left it out or sent
    something that is not DICOM JSON (a bare string value is taken whole, never its first letter)."""
    element = item.get(tag) if isinstance(item, dict) else None
    values = element.get("Value") if isinstance(element, dict) else None
    if isinstance(values, (str, int, float)):
        values = [values]
    if not isinstance(values, list) or not values or values[0] in (None, ""):
        return None
    return str(values[0])


def qido_date(text: str) -> str:
    """'2024-05-01' or '20240501' -> '20240501' (a QIDO date), or a clear error (also for a day
    that does not exist: 2024-13-45 was sent to the PACS)."""
    import datetime

    text = text.strip()
    digits = text.replace("-", "")
    try:
        if not re.fullmatch(r"\d{8}", digits):
            raise ValueError
        datetime.datetime.strptime(digits, "%Y%m%d")
    except ValueError:
        raise MammoError(f"Studies since: '{text}' is not a date; write it as 2024-05-01") from None
    return digits


def max_rows() -> int:
    """The most rows one query keeps (``MAMMO_DICOMWEB_MAX_ROWS``, else 100,000)."""
    from . import http_deadline

    return int(http_deadline.setting(ENV_MAX_ROWS, MAX_ROWS, whole=True))


def _search_all(search, key: str, url: str, query: str, where: str, problems: list[tuple[str, str]],
                **kw) -> list[dict]:
    """Every match of a QIDO query, a page at a time (``limit``/``offset``); stops at an empty page
    or at a page that brings nothing new (a PACS that ignores ``offset``), never at a short one (a
    PACS's own page size may be below the one asked for). Each page has one
    deadline (``http_deadline``), its retries included. A PACS that keeps sending new rows (a bug,
    or a hostile server) is stopped after ``max_rows()``: the rows received are kept, and an entry
    in ``problems`` (at ``where``) names the query and the cap."""
    from . import http_deadline

    cap = max_rows()
    out: list[dict] = []
    seen: set[str] = set()
    received = 0
    while True:
        limit = min(QIDO_PAGE_ROWS, cap + 1 - received)  # one row past the cap tells a full answer from more
        with http_deadline.Transfer(url):
            rows = search(limit=limit, offset=len(out), **kw)
        if not isinstance(rows, list):
            raise PacsError(url, f"the PACS's answer to a query is not DICOM JSON (a {type(rows).__name__}, not a list of data sets)")
        fresh = [r for r in rows if _value(r, key) not in seen]
        out.extend(fresh)
        seen.update(_value(r, key) for r in fresh)
        received += len(rows)
        if not rows or not fresh:  # a short page is not the end: a PACS may page fewer rows than asked
            return out
        if received > cap:
            problems.append((where, f"the PACS kept sending rows for the query {query}: stopped after {cap} rows (the cap "
                                    f"set by {ENV_MAX_ROWS}); those received are used, any others are left out. Narrow "
                                    f"the query (e.g. studies since a date) or raise {ENV_MAX_ROWS}"))
            return out[:cap]


def _query(url: str, path: str, filters: dict | None = None) -> str:
    """A QIDO query as its URL, for a message (the filters as the PACS gets them)."""
    return f"{url.rstrip('/')}{path}" + (f"?{urlencode(filters)}" if filters else "")


def find_instances(client, url: str, studies: Sequence[str] = (), modality: str | None = "MG",
                   since: str | None = None, problems: list[tuple[str, str]] | None = None) -> list[InstanceRef]:
    """QIDO-RS: the instances of the given studies (or of every study since ``since`` holding
    ``modality``), restricted to series of that modality. A study, series or instance the PACS
    lists without its UID cannot be retrieved: it is added to ``problems`` (where, reason), never
    dropped unsaid."""
    from . import http_deadline

    problems = [] if problems is None else problems

    def lacking(where: str, rows: list, key: str, name: str) -> None:
        n = sum(1 for r in rows if _value(r, key) is None)
        if n:
            problems.append((where, f"the PACS listed {n} {name}(s) without a {name} Instance UID ({key}); "
                                    "they cannot be retrieved"))

    try:
        if not studies:
            filters = {}
            if modality:
                filters["ModalitiesInStudy"] = modality
            if since:
                filters["StudyDate"] = f"{qido_date(since)}-"
            found = _search_all(client.search_for_studies, STUDY_UID, url, _query(url, "/studies", filters),
                                "pacs:studies", problems, search_filters=filters)
            lacking("pacs:studies", found, STUDY_UID, "Study")
            studies = list(dict.fromkeys(s for s in (_value(r, STUDY_UID) for r in found) if s))
        refs: list[InstanceRef] = []
        for study in studies:
            series_filters = {"Modality": modality} if modality else {}
            found_series = _search_all(client.search_for_series, SERIES_UID, url,
                                       _query(url, f"/studies/{study}/series", series_filters), f"pacs:{study}", problems,
                                       study_instance_uid=study, search_filters=series_filters)
            lacking(f"pacs:{study}", found_series, SERIES_UID, "Series")
            for series in found_series:
                series_uid = _value(series, SERIES_UID)
                if not series_uid or (modality and _value(series, MODALITY) not in (None, modality)):
                    continue
                found_instances = _search_all(client.search_for_instances, SOP_UID, url,
                                              _query(url, f"/studies/{study}/series/{series_uid}/instances"),
                                              f"pacs:{study}/{series_uid}", problems,
                                              study_instance_uid=study, series_instance_uid=series_uid)
                lacking(f"pacs:{study}/{series_uid}", found_instances, SOP_UID, "SOP")
                for inst in found_instances:
                    sop = _value(inst, SOP_UID)
                    if sop:
                        refs.append(InstanceRef(study, series_uid, sop))
        return refs
    except Exception as exc:
        if isinstance(exc, MammoError) and not isinstance(exc, http_deadline.TooSlow):
            raise
        raise explain(url, exc) from exc


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
            content_type = wado.download(_SESSIONS[client], url, raw, (CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
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
