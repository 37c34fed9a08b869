"""A PACS that trickles, redirects, bombs or breaks its answers: real local HTTP servers (the
``HostilePacs`` of test_dicomweb_hostile2). Every request has a total deadline scaled from a
minimum rate (made small here, through its environment settings, so a test takes seconds);
a failure names the instance or URL and the reason, and the rest of the batch goes on."""

from __future__ import annotations

import gzip
import re
import time

import pydicom
import pytest

from mammo_annotator.core.errors import MammoError
from mammo_annotator.services import dicomweb, http_deadline, pacs_session, wado
from mammo_annotator.services.dicomweb import PacsError, find_instances, import_dicomweb
from mammo_annotator.services.stow import stow_files
from tests.services.export_helpers import write_mg_dicom
from tests.services.test_dicomweb_hostile2 import (  # noqa: F401 (fixtures)
    BOUNDARY, MULTIPART, answer, good_instance, leftovers, multipart, pacs, project, uid)

SLOW = r"the PACS sent \d+ bytes in \d+ s, below the minimum of 256 KiB/s after 1 s: stopped"


@pytest.fixture
def short_deadline(monkeypatch):
    """A grace of 1 s and a minimum of 256 KiB/s; a silence of 3 s (never reached by a trickle)."""
    monkeypatch.setenv(http_deadline.ENV_FLOOR, "1")
    monkeypatch.setenv(http_deadline.ENV_MIN_RATE, "256")
    monkeypatch.setattr(pacs_session, "READ_TIMEOUT_S", 3.0)


def trickle(h, status_and_headers: bytes, body_start: bytes = b"", piece: bytes = b"\0" * 16, seconds: float = 6.0) -> None:
    """A few bytes every 0.2 s (far under any read timeout) for ``seconds``, then hang up."""
    try:
        h.wfile.write(status_and_headers + body_start)
        h.wfile.flush()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            h.wfile.write(piece)
            h.wfile.flush()
            time.sleep(0.2)
    except OSError:
        pass  # the client hung up: what the deadline is for
    h.close_connection = True


OK_MULTIPART = (f"HTTP/1.1 200 OK\r\nContent-Type: {MULTIPART}\r\nConnection: close\r\n\r\n").encode()


def _instance_route(pacs, study, series, sop):
    return f"/studies/{study}/series/{series}/instances/{sop}"


@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_trickling_instance_fails_with_the_rate_and_the_batch_goes_on(pacs, project, tmp_path, short_deadline, where):
    """Before: each read returned within its timeout, so the retrieval lasted as long as the PACS
    trickled (hours for a real one), and ended 'cut short' or 'ChunkedEncodingError'."""
    study, series, good_sop, data = good_instance(tmp_path, 1)
    bad_sop = good_sop + ".9"
    pacs.one_series(study, series, [bad_sop, good_sop])
    if where == "body":
        route = lambda h: trickle(h, OK_MULTIPART, f"--{BOUNDARY}\r\n\r\n".encode())  # noqa: E731
    else:  # the status line, then a header a byte at a time: the deadline must cut a read inside the headers too
        route = lambda h: trickle(h, b"HTTP/1.1 200 OK\r\nX-Slow: ", piece=b"a")  # noqa: E731
    pacs.routes[_instance_route(pacs, study, series, bad_sop)] = route
    pacs.routes[_instance_route(pacs, study, series, good_sop)] = lambda h: answer(h, 200, MULTIPART, multipart(data))
    start = time.monotonic()
    report = import_dicomweb(project, pacs.url)
    assert time.monotonic() - start < 5
    assert len(report.imported) == 1
    (failed, why), = report.failed
    assert bad_sop in failed and re.search(SLOW, why), why
    assert leftovers(project.path.with_name(project.path.stem + ".pacs")) == []


def test_a_trickling_query_answer_names_its_url_and_the_rate(pacs, project, short_deadline):
    """Before: the query waited for as long as the PACS trickled, three times (dicomweb_client's
    retries): the retries now share the deadline."""
    pacs.routes["/studies"] = lambda h: trickle(h, b"HTTP/1.1 200 OK\r\nContent-Type: application/dicom+json\r\n"
                                                  b"Connection: close\r\n\r\n", b"[", piece=b" ")
    start = time.monotonic()
    with pytest.raises(PacsError, match=SLOW) as err:
        find_instances(dicomweb.connect(pacs.url), pacs.url)
    assert time.monotonic() - start < 8  # 1 s, then dicomweb_client's waits before its (refused) retries
    assert f"{pacs.url}/studies" in str(err.value)


def _stow_confirmation(sop: str) -> bytes:
    import json

    return json.dumps({"00081199": {"vr": "SQ", "Value": [uid("00081155", sop)]}}).encode()


def test_a_trickling_stow_answer_fails_that_file_and_the_next_is_stored(pacs, tmp_path, short_deadline):
    slow, fine = write_mg_dicom(tmp_path / "slow.dcm", 2), write_mg_dicom(tmp_path / "fine.dcm", 3)
    slow_sop, fine_sop = (str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in (slow, fine))

    def route(h):
        if slow_sop.encode() in pacs.bodies[-1]:
            trickle(h, b"HTTP/1.1 200 OK\r\nContent-Type: application/dicom+json\r\nConnection: close\r\n\r\n", piece=b" ")
        else:
            answer(h, 200, "application/dicom+json", _stow_confirmation(fine_sop))

    pacs.routes["POST"] = route
    start = time.monotonic()
    report = stow_files(pacs.url, [slow, fine])
    assert time.monotonic() - start < 5
    assert report.stored == [fine_sop]
    (failed, why), = report.failed
    assert failed == str(slow) and re.search(r"the PACS sent \d+ bytes in \d+ s \(after an upload of [\d.]+ (MiB|bytes)\), "
                                             r"below the minimum", why), why


def test_a_slow_but_steady_transfer_longer_than_the_grace_is_not_cut(pacs, project, tmp_path, monkeypatch):
    """The deadline scales with what arrived: a fixed total would cut this one."""
    monkeypatch.setenv(http_deadline.ENV_FLOOR, "0.5")
    monkeypatch.setenv(http_deadline.ENV_MIN_RATE, "32")
    study, series, sop, data = good_instance(tmp_path, 4)
    pacs.one_series(study, series, [sop])
    body = multipart(data)

    def steady(h):  # ~100 KiB/s
        h.wfile.write(OK_MULTIPART)
        for k in range(0, len(body), 8192):
            h.wfile.write(body[k:k + 8192])
            h.wfile.flush()
            time.sleep(0.08)
        h.close_connection = True

    pacs.routes[_instance_route(pacs, study, series, sop)] = steady
    start = time.monotonic()
    report = import_dicomweb(project, pacs.url)
    assert time.monotonic() - start > 1.0 and len(body) > 100_000  # well past the grace
    assert report.failed == [] and len(report.imported) == 1


@pytest.mark.parametrize("name, value", [(http_deadline.ENV_FLOOR, "soon"), (http_deadline.ENV_MIN_RATE, "0"),
                                         (http_deadline.ENV_MIN_RATE, "-5"), (http_deadline.ENV_FLOOR, "inf")])
def test_a_bad_limit_setting_is_named_before_the_pacs_is_asked(pacs, project, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(MammoError, match=rf"{name}='{re.escape(value)}': expected a positive number"):
        import_dicomweb(project, pacs.url)
    assert pacs.seen == []


# --- multipart with bare LF line breaks --------------------------------------------------------

def lf_multipart(body: bytes) -> bytes:
    return f"--{BOUNDARY}\nContent-Type: application/dicom\n\n".encode() + body + f"\n--{BOUNDARY}--\n".encode()


def test_an_lf_only_multipart_instance_is_imported_whole(pacs, project, tmp_path):
    """Before: 'the PACS's multipart answer is cut short' (only CRLF delimiters were looked for)."""
    study, series, sop, data = good_instance(tmp_path, 5)
    pacs.one_series(study, series, [sop])
    pacs.routes[_instance_route(pacs, study, series, sop)] = lambda h: answer(h, 200, MULTIPART, lf_multipart(data))
    report = import_dicomweb(project, pacs.url)
    assert report.failed == [] and len(report.imported) == 1
    kept = project.path.with_name(project.path.stem + ".pacs") / f"{sop}.dcm"
    original = pydicom.dcmread(tmp_path / "good5.dcm")
    assert pydicom.dcmread(kept).PixelData == original.PixelData


def test_a_truncated_lf_only_multipart_is_still_named_cut_short(pacs, project, tmp_path):
    study, series, sop, data = good_instance(tmp_path, 6)
    pacs.one_series(study, series, [sop])
    body = lf_multipart(data)
    pacs.routes[_instance_route(pacs, study, series, sop)] = lambda h: answer(h, 200, MULTIPART, body[:len(body) - 30])
    report = import_dicomweb(project, pacs.url)
    (failed, why), = report.failed
    assert sop in failed and "cut short" in why and "incomplete transfer" in why


# --- other ways a server answers badly ----------------------------------------------------------

def _gzip_answer(h, status: int, content_type: str, body: bytes, extra: dict | None = None) -> None:
    packed = gzip.compress(body, compresslevel=9)
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Encoding", "gzip")
    for k, v in (extra or {}).items():
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(packed)))
    h.end_headers()
    h.wfile.write(packed)


def test_a_gzip_bomb_answering_a_query_is_refused_not_decoded_into_memory(pacs, project, monkeypatch):
    """Before: requests decoded the whole answer into memory (no cap: 1 MB of gzip is 1 GB of
    JSON); here 8 MiB of blanks, a valid empty list, was accepted."""
    monkeypatch.setattr(pacs_session, "MAX_ANSWER_BYTES", 1 << 20)
    bomb = b"[" + b" " * (8 << 20) + b"]"
    pacs.routes["/studies"] = lambda h: _gzip_answer(h, 200, "application/dicom+json", bomb)
    with pytest.raises(PacsError, match=r"answer is larger than 1 MiB .*refused"):
        import_dicomweb(project, pacs.url)


def test_a_gzip_bomb_as_an_instance_is_refused_at_the_cap(pacs, project, tmp_path, monkeypatch):
    """Already fine before (the instance streams to disk, counted decoded): kept so it stays so."""
    monkeypatch.setattr(wado, "MAX_INSTANCE_BYTES", 256 * 1024)
    study, series, sop, _ = good_instance(tmp_path, 7)
    pacs.one_series(study, series, [sop])
    pacs.routes[_instance_route(pacs, study, series, sop)] = lambda h: _gzip_answer(h, 200, MULTIPART, b"\0" * (64 << 20))
    report = import_dicomweb(project, pacs.url)
    (failed, why), = report.failed
    assert "more than 262144 bytes for one instance; refused" in why


def test_a_redirect_whose_body_never_ends_is_followed_without_reading_it(pacs, project):
    """Before: requests read a redirect's whole body (decoded, into memory) before following it:
    a body that never ends filled memory."""
    sent = []

    def endless_redirect(h):
        h.send_response(302)
        h.send_header("Location", "/dicom-web/studies-here")
        h.send_header("Content-Type", "text/html")
        h.send_header("Connection", "close")
        h.end_headers()
        try:
            for _ in range(256):  # 256 MiB unless the client hangs up first
                h.wfile.write(b"<p>moved</p>" * 87381)
                sent.append(1)
        except OSError:
            pass

    pacs.routes["/studies"] = endless_redirect
    pacs.json("/studies-here", [])
    report = import_dicomweb(project, pacs.url)
    assert report.failed == [] and report.imported == []
    assert "/studies-here" in pacs.seen
    assert len(sent) < 64


def _many_headers(h):
    h.send_response(200)
    for k in range(150):
        h.send_header(f"X-{k}", "v")
    h.send_header("Content-Length", "2")
    h.end_headers()
    h.wfile.write(b"[]")


def _content_length_lie(h):
    h.send_response(200)
    h.send_header("Content-Type", "application/dicom+json")
    h.send_header("Content-Length", "1000")
    h.send_header("Connection", "close")
    h.end_headers()
    h.wfile.write(b"[]")


def _redirect_loop(h):
    h.send_response(302)
    h.send_header("Location", "/dicom-web/studies")
    h.send_header("Content-Length", "0")
    h.end_headers()


@pytest.mark.parametrize("route, reason", [
    (_many_headers, r"answer is not valid HTTP \(HTTPException: got more than 100 headers\)"),
    (lambda h: answer(h, 200, "application/dicom+json", b"7"), r"not DICOM JSON \(a int, not a list of data sets\)"),
    (lambda h: answer(h, 200, "application/dicom+json", b"[" * 100_000), r"not DICOM JSON \(nested too deeply\)"),
    (_content_length_lie, r"closed the connection before the end of its answer \(2 bytes arrived, 998 more announced\)"),
    (_redirect_loop, r"redirected the request more than 30 times \(a redirect loop"),
], ids=["100-headers", "json-scalar", "json-nesting", "content-length-lie", "redirect-loop"])
def test_a_broken_query_answer_is_named(pacs, project, route, reason):
    """Before: 'cannot reach the PACS (ConnectionError)' (it was reached), 'TypeError: ...',
    'RecursionError: ...', 'ChunkedEncodingError: (...)', 'TooManyRedirects: ...'."""
    pacs.routes["/studies"] = route
    with pytest.raises(PacsError, match=reason) as err:
        import_dicomweb(project, pacs.url)
    assert pacs.url in str(err.value)


def test_an_instance_shorter_than_announced_is_named_and_the_rest_imported(pacs, project, tmp_path):
    """Before: 'ChunkedEncodingError: ('Connection broken: IncompleteRead(...)')'."""
    study, series, good_sop, data = good_instance(tmp_path, 8)
    bad_sop = good_sop + ".9"
    pacs.one_series(study, series, [bad_sop, good_sop])

    def short(h):
        body = multipart(data)
        h.send_response(200)
        h.send_header("Content-Type", MULTIPART)
        h.send_header("Content-Length", str(len(body) + 5000))
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(body)

    pacs.routes[_instance_route(pacs, study, series, bad_sop)] = short
    pacs.routes[_instance_route(pacs, study, series, good_sop)] = lambda h: answer(h, 200, MULTIPART, multipart(data))
    report = import_dicomweb(project, pacs.url)
    assert len(report.imported) == 1
    (failed, why), = report.failed
    assert bad_sop in failed and "5000 more announced): incomplete transfer" in why
