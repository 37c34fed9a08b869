"""Two readers want the same PACS instance at once (the viewer's retrieval worker and the thumbnail
thread; or two processes of the same user): it is retrieved once per process, every writer
renames its own temporary file, and the cached copy is always the verified one.

The PACS is the real Orthanc behind ``GatedFront``, a relay that holds each new connection until
the test opens its gate: both writers are provably in flight at the same moment, without timings.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mammo_annotator.core.imageio import content_sha256, read_image
from mammo_annotator.services import pacs_fetch
from mammo_annotator.services.pacs_fetch import cache_dir, cached_path, fetch
from mammo_annotator.services.pixels import load_pixels, needs_pacs_fetch
from mammo_annotator.services.project import open_project
from tests import orthanc_server as orth
from tests.services.export_helpers import write_mg_dicom
from tests.services.test_pacs_fetch import _files_under, _import_on_machine_a, _machine, _only_image, basic_auth  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def front(orthanc):
    gated = orth.GatedFront(orthanc)
    yield gated
    gated.close()


def _missing_pacs_image(orthanc, front, tmp_path, monkeypatch, seed: int):
    """A project with one image imported through the front, on a machine without its file; (db, src)."""
    src = write_mg_dicom(tmp_path / "a.dcm", seed, 640, 512, "L")
    orthanc.upload(src)
    db, store = _import_on_machine_a(monkeypatch, tmp_path, str(tmp_path / "p.sqlite"), front.dicomweb)
    shutil.rmtree(store)
    _machine(monkeypatch, tmp_path / "machine-b-cache")
    front.connections = 0
    return db, src


def _wait_for(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _waiting_in_fetch(thread: threading.Thread) -> bool:
    """The thread's innermost Python frame is ``fetch``: it is blocked on the retrieval lock (a C call)."""
    frame = sys._current_frames().get(thread.ident)
    return frame is not None and frame.f_code is pacs_fetch.fetch.__code__


def test_needs_pacs_fetch_looks_at_files_only(orthanc, front, basic_auth, tmp_path, monkeypatch):
    db, src = _missing_pacs_image(orthanc, front, tmp_path, monkeypatch, 6)
    project = open_project(db)
    try:
        record = _only_image(project)
        front.hold()  # no network: a check that asked the PACS would hang here, then fail
        assert needs_pacs_fetch(record)
        assert front.connections == 0
        front.release()
        fetch(record)  # the verified copy is here, the pixels not yet decoded: opening reads the copy
        assert not needs_pacs_fetch(record)
        load_pixels(record)  # decoded into the pixel cache: the copy is no longer needed to open it
        cached_path(record).unlink()
        assert not needs_pacs_fetch(record)
        assert front.connections == 1
    finally:
        project.close()
    other = replace(record, sha256="0" * 64)  # neither decoded nor retrieved here
    assert needs_pacs_fetch(other)
    local = write_mg_dicom(tmp_path / "local.dcm", 9, 640, 512, "R")
    assert not needs_pacs_fetch(replace(other, source_path=str(local)))  # its stored file is on this machine
    assert not needs_pacs_fetch(replace(other, pacs=None, source_path=str(tmp_path / "gone.dcm")))  # not from a PACS


def test_two_threads_retrieve_the_instance_once(orthanc, front, basic_auth, tmp_path, monkeypatch):
    db, src = _missing_pacs_image(orthanc, front, tmp_path, monkeypatch, 7)
    project = open_project(db)
    try:
        record = _only_image(project)
        path = cached_path(record)
        path.parent.mkdir(parents=True, exist_ok=True)
        stale, live = path.with_name(f"{path.name}.1.1.tmp"), path.with_name(f"{path.name}.2.2.tmp")
        stale.write_bytes(b"left by a process closed mid-retrieval")
        os.utime(stale, (time.time() - 7200, time.time() - 7200))
        live.write_bytes(b"another process, writing now")
        stale_raw = path.with_name(f"{path.name}.3.3.tmp.raw")  # the streamed answer of a killed process
        stale_raw.write_bytes(b"--boundary\r\n")
        os.utime(stale_raw, (time.time() - 7200, time.time() - 7200))

        results: dict[str, object] = {}

        def read(name: str) -> None:
            try:
                results[name] = np.asarray(load_pixels(record))
            except Exception as exc:  # the assertion below names it
                results[name] = exc

        front.hold()
        first = threading.Thread(target=read, args=("viewer",))
        first.start()
        _wait_for(lambda: front.connections == 1, "the first retrieval to reach the PACS")
        second = threading.Thread(target=read, args=("thumbnails",))
        second.start()
        _wait_for(lambda: _waiting_in_fetch(second), "the second reader to wait for the first")
        assert front.connections == 1
        front.release()
        first.join(60)
        second.join(60)

        expected = read_image(src).pixels
        assert all(isinstance(r, np.ndarray) and np.array_equal(r, expected) for r in results.values()), results
        assert len(results) == 2 and front.connections == 1  # one retrieval served both
        assert content_sha256(path) == record.sha256
        assert not stale.exists() and live.exists()  # an hour-old temporary is dropped, a live writer's kept
        assert not stale_raw.exists()
        live.unlink()
        assert [p.name for p in _files_under(cache_dir())] == [path.name]
    finally:
        project.close()


FETCH_IN_A_PROCESS = """
import sys
from mammo_annotator.services import viewing
from mammo_annotator.services.pacs_fetch import fetch
from mammo_annotator.services.project import open_project
project = open_project(sys.argv[1])
print(fetch(viewing.image_record(project, int(sys.argv[2]))))
project.close()
"""


def test_two_processes_writing_the_same_copy_leave_the_verified_one(orthanc, front, basic_auth, tmp_path, monkeypatch):
    db, src = _missing_pacs_image(orthanc, front, tmp_path, monkeypatch, 8)
    project = open_project(db)
    try:
        record = _only_image(project)
    finally:
        project.close()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    front.hold()
    procs = [subprocess.Popen([sys.executable, "-c", FETCH_IN_A_PROCESS, db, str(record.id)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        _wait_for(lambda: front.connections == 2 or any(p.poll() is not None for p in procs),
                  "both processes to reach the PACS", timeout=120)
        assert front.connections == 2, [p.communicate() for p in procs]  # both writers in flight at once
        front.release()
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        front.release()
        for p in procs:
            if p.poll() is None:
                p.kill()
    path = cached_path(record)
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [out.strip() for out, _err in outs] == [str(path), str(path)]
    assert content_sha256(path) == record.sha256
    assert [p.name for p in _files_under(cache_dir())] == [path.name]  # each renamed its own temporary file
    assert np.array_equal(read_image(path).pixels, read_image(src).pixels)
