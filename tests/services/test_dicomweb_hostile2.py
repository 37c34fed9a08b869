"""A PACS that answers badly: a real HTTP server (http.server in a thread, a local port) serving
hostile DICOMweb answers. Each failure must name the PACS and the reason, the other instances
of the batch must still be imported, and nothing half-written may stay behind."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pydicom
import pytest

from mammo_annotator.services import pacs_session, wado
from mammo_annotator.services.dicomweb import PacsError, import_dicomweb
from mammo_annotator.services.project import open_project
from mammo_annotator.services.stow import stow_files
from tests.services.export_helpers import write_mg_dicom

BOUNDARY = "b0und4ry"
MULTIPART = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def uid(tag: str, value) -> dict:
    return {tag: {"vr": "UI", "Value": value if isinstance(value, list) else [value]}}


def multipart(body: bytes) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + body
            + f"\r\n--{BOUNDARY}--\r\n".encode())


class _QuietServer(ThreadingHTTPServer):
    """A client that gives up mid-answer (what these tests do) is expected: no traceback on stderr."""

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class HostilePacs:
    """Routes: a URL path (below /dicom-web) -> a function(handler) that answers it; unknown paths 404.
    ``seen`` lists the paths asked for."""

    def __init__(self):
        self.routes: dict[str, object] = {}
        self.seen: list[str] = []
        self.bodies: list[bytes] = []  # the POSTed (STOW) bodies
        pacs = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                path = self.path.split("?")[0].removeprefix("/dicom-web")
                pacs.seen.append(path)
                route = pacs.routes.get(path)
                if route is None:
                    return answer(self, 404, "text/plain", b"no such thing")
                route(self)

            def do_POST(self):
                if self.headers.get("Transfer-Encoding") == "chunked":
                    body = b""
                    while (n := int(self.rfile.readline().strip(), 16)):
                        body += self.rfile.read(n + 2)[:n]
                    self.rfile.readline()
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                pacs.bodies.append(body)
                pacs.routes.get("POST", lambda h: answer(h, 500, "text/plain", b"x"))(self)

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/dicom-web"

    def json(self, path: str, rows) -> None:
        self.routes[path] = lambda h: answer(h, 200, "application/dicom+json", json.dumps(rows).encode())

    def one_series(self, study: str, series: str, sops: list[str]) -> None:
        self.json("/studies", [uid("0020000D", study)])
        self.json(f"/studies/{study}/series", [{**uid("0020000E", series), "00080060": {"vr": "CS", "Value": ["MG"]}}])
        self.json(f"/studies/{study}/series/{series}/instances", [uid("00080018", s) for s in sops])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def answer(handler, status: int, content_type: str | None, body: bytes) -> None:
    handler.send_response(status)
    if content_type:
        handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def pacs(monkeypatch, tmp_path):
    for name in ("MAMMO_DICOMWEB_TOKEN", "MAMMO_DICOMWEB_USER", "MAMMO_DICOMWEB_PASSWORD", "MAMMO_DICOMWEB_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    server = HostilePacs()
    yield server
    server.close()


@pytest.fixture
def project(tmp_path):
    p = open_project(tmp_path / "p.sqlite", create=True)
    yield p
    p.close()


def good_instance(tmp_path: Path, n: int) -> tuple[str, str, str, bytes]:
    """(study, series, sop, file bytes) of a small valid mammogram."""
    path = write_mg_dicom(tmp_path / f"good{n}.dcm", n, 320, 256)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID), path.read_bytes()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".dcm")) if folder.exists() else []


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/dicom-web", "127.0.0.1:8042/dicom-web", "http://", "htp:/pacs"])
def test_a_url_that_is_not_http_is_a_pacs_error(project, url):
    """Before: dicomweb_client's bare ValueError ('Malformed URL'), an 'unexpected' error (a bug) in the CLI."""
    with pytest.raises(PacsError, match="not a DICOMweb root URL"):
        import_dicomweb(project, url)


def test_an_html_page_answering_a_query_is_named(pacs, project):
    """Before: 'JSONDecodeError: Expecting value: line 1 column 1 (char 0)'."""
    pacs.routes["/studies"] = lambda h: answer(h, 200, "text/html", b"<html><body>Please log in</body></html>")
    with pytest.raises(PacsError, match=r"not DICOM JSON \(it begins '<html><body>Please log in") as err:
        import_dicomweb(project, pacs.url)
    assert pacs.url in str(err.value)


def test_listed_rows_without_uids_are_reported_not_dropped(pacs, project, tmp_path):
    """Before: a study / instance without its UID vanished silently ('0 imported, 0 failed')."""
    study, series, sop, data = good_instance(tmp_path, 1)
    pacs.json("/studies", [uid("0020000D", study), {"00100020": {"vr": "LO", "Value": ["P1"]}}])
    pacs.json(f"/studies/{study}/series", [{**uid("0020000E", series), "00080060": {"vr": "CS", "Value": ["MG"]}}])
    pacs.json(f"/studies/{study}/series/{series}/instances", [uid("00080018", sop), {"00080016": {"vr": "UI"}}])
    pacs.routes[f"/studies/{study}/series/{series}/instances/{sop}"] = lambda h: answer(h, 200, MULTIPART, multipart(data))
    report = import_dicomweb(project, pacs.url)
    assert len(report.imported) == 1
    reasons = dict(report.failed)
    assert "Study Instance UID (0020000D)" in reasons["pacs:studies"]
    assert "SOP Instance UID (00080018)" in reasons[f"pacs:{study}/{series}"]


def test_a_uid_sent_as_a_bare_string_is_taken_whole(pacs, project, tmp_path):
    """Before: the first character of the string ('1') was taken as the Study Instance UID."""
    study, series, sop, data = good_instance(tmp_path, 2)
    pacs.one_series(study, series, [sop])
    pacs.json("/studies", [{"0020000D": {"vr": "UI", "Value": study}}])
    pacs.routes[f"/studies/{study}/series/{series}/instances/{sop}"] = lambda h: answer(h, 200, MULTIPART, multipart(data))
    report = import_dicomweb(project, pacs.url)
    assert len(report.imported) == 1 and not report.failed
    assert f"/studies/{study}/series" in pacs.seen


def _truncated(h):
    body = multipart(b"DICM" * 100)
    answer(h, 200, MULTIPART, body[: len(body) - 20])


def _no_boundary_start(h):
    answer(h, 200, MULTIPART, b"Content-Type: application/dicom\r\n\r\nDICM")


@pytest.mark.parametrize("route, reason", [
    (lambda h: answer(h, 200, "text/html", b"<html>Server busy</html>"), r"did not send a DICOM instance \(Content-Type 'text/html'"),
    (lambda h: answer(h, 200, None, b"junk"), r"did not send a DICOM instance \(Content-Type 'missing'"),
    (_truncated, "cut short"),
    (_no_boundary_start, "multipart answer is broken"),
    (lambda h: answer(h, 200, MULTIPART, multipart(b"not a dicom file at all")), "not readable DICOM"),
], ids=["html", "no-content-type", "cut-short", "no-part", "not-dicom"])
def test_a_bad_instance_answer_is_reported_and_the_rest_imported(pacs, project, tmp_path, route, reason):
    """Before: 'KeyError: 'content-type'', 'ValueError: Unexpected media type', 'InvalidDicomError' of
    an empty part: now what the PACS sent instead, and the next instance is still imported."""
    study, series, good_sop, data = good_instance(tmp_path, 3)
    bad_sop = good_sop + ".9"
    pacs.one_series(study, series, [bad_sop, good_sop])
    pacs.routes[f"/studies/{study}/series/{series}/instances/{bad_sop}"] = route
    pacs.routes[f"/studies/{study}/series/{series}/instances/{good_sop}"] = lambda h: answer(h, 200, MULTIPART, multipart(data))
    report = import_dicomweb(project, pacs.url)
    assert len(report.imported) == 1
    (where, why), = report.failed
    assert bad_sop in where
    assert re.search(reason, why), why
    folder = project.path.with_name(project.path.stem + ".pacs")
    assert leftovers(folder) == [] and sorted(p.name for p in folder.iterdir()) == [good_sop + ".dcm"]


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_oversized_answer_is_refused_while_streaming(pacs, project, tmp_path, monkeypatch, declared):
    """Before: the whole answer was read into memory (``response.content``) whatever its size."""
    monkeypatch.setattr(wado, "MAX_INSTANCE_BYTES", 256 * 1024)
    study, series, sop, _ = good_instance(tmp_path, 4)
    pacs.one_series(study, series, [sop])
    sent = []

    def huge(h):
        h.send_response(200)
        h.send_header("Content-Type", MULTIPART)
        if declared:
            h.send_header("Content-Length", str(64 * 1024 * 1024))
        else:
            h.send_header("Connection", "close")
        h.end_headers()
        try:
            for _ in range(64):  # 64 MiB unless the client hangs up first
                h.wfile.write(b"\0" * (1024 * 1024))
                sent.append(1)
        except OSError:
            pass

    pacs.routes[f"/studies/{study}/series/{series}/instances/{sop}"] = huge
    report = import_dicomweb(project, pacs.url)
    (where, why), = report.failed
    assert "refused" in why and str(256 * 1024) in why
    assert len(sent) < 64  # the client stopped reading
    assert leftovers(project.path.with_name(project.path.stem + ".pacs")) == []


def test_a_pacs_that_stops_answering_times_out_with_a_clear_message(pacs, project, monkeypatch):
    """Before: the read timeout was fixed at 120 s (now a module setting) and reported as 'ReadTimeout: ...'."""
    monkeypatch.setattr(pacs_session, "READ_TIMEOUT_S", 1.0)
    release = threading.Event()
    pacs.routes["/studies"] = lambda h: release.wait(20)
    start = time.monotonic()
    try:
        with pytest.raises(PacsError, match=r"stopped answering \(nothing received for 1 s\)"):
            import_dicomweb(project, pacs.url)
    finally:
        release.set()
    assert time.monotonic() - start < 10


def test_a_pacs_that_stalls_mid_instance_fails_that_instance(pacs, project, tmp_path, monkeypatch):
    monkeypatch.setattr(pacs_session, "READ_TIMEOUT_S", 1.0)
    study, series, sop, data = good_instance(tmp_path, 5)
    pacs.one_series(study, series, [sop])
    release = threading.Event()

    def stall(h):
        body = multipart(data)
        h.send_response(200)
        h.send_header("Content-Type", MULTIPART)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body[:1000])
        h.wfile.flush()
        release.wait(20)

    pacs.routes[f"/studies/{study}/series/{series}/instances/{sop}"] = stall
    try:
        report = import_dicomweb(project, pacs.url)
    finally:
        release.set()
    (where, why), = report.failed
    assert "stopped answering" in why
    assert leftovers(project.path.with_name(project.path.stem + ".pacs")) == []


def test_stow_answered_by_an_html_page_is_not_counted_as_stored(pacs, tmp_path):
    """Before: a 200 with an HTML page (a proxy's or a login page) counted the instance as stored."""
    pacs.routes["POST"] = lambda h: answer(h, 200, "text/html", b"<html>Welcome</html>")
    path = write_mg_dicom(tmp_path / "seg.dcm", 6)
    report = stow_files(pacs.url, [path])
    assert report.stored == []
    (where, why), = report.failed
    assert where == str(path) and "did not confirm" in why
