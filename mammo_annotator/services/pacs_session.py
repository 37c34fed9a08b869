"""The connection to a PACS over DICOMweb: credentials, TLS, limits, and failures in words.

Credentials come from the environment only, never from the command line or the project:
``MAMMO_DICOMWEB_TOKEN`` (an OAuth bearer token) or ``MAMMO_DICOMWEB_USER`` and
``MAMMO_DICOMWEB_PASSWORD`` (HTTP basic). TLS certificates are always verified;
``MAMMO_DICOMWEB_CA_BUNDLE`` names a site's own CA file instead of the system's. Every request
(a query page, an instance, a STOW) has a total deadline scaled from a minimum rate
(``http_deadline``: ``MAMMO_DICOMWEB_DEADLINE_S``, ``MAMMO_DICOMWEB_MIN_KIB_S``), and an answer
read whole (a query's, a STOW's) is refused beyond ``MAX_ANSWER_BYTES``.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import re
import weakref
from urllib.parse import urlsplit, urlunsplit

from ..core.errors import MammoError

log = logging.getLogger(__name__)
ENV_TOKEN, ENV_USER, ENV_PASSWORD, ENV_CA = ("MAMMO_DICOMWEB_TOKEN", "MAMMO_DICOMWEB_USER", "MAMMO_DICOMWEB_PASSWORD",
                                             "MAMMO_DICOMWEB_CA_BUNDLE")
CONNECT_TIMEOUT_S, READ_TIMEOUT_S = 10.0, 120.0  # read: the longest silence between two bytes of an answer
MAX_ANSWER_BYTES = 64 * 1024**2  # a query's (one page) or a STOW's answer; an instance streams to disk (wado)
ENV_MAX_ROWS, MAX_ROWS = "MAMMO_DICOMWEB_MAX_ROWS", 100_000  # one query's rows, all pages: years of a large centre's studies


class PacsError(MammoError):
    """The PACS could not be queried or written to; names the URL and the reason."""

    def __init__(self, url: str, reason: str):
        self.url, self.reason = url, reason
        super().__init__(f"{url}: {reason}")


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


def max_rows() -> int:
    """The most rows one query keeps (``MAMMO_DICOMWEB_MAX_ROWS``, else 100,000)."""
    from . import http_deadline

    return int(http_deadline.setting(ENV_MAX_ROWS, MAX_ROWS, whole=True))


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
