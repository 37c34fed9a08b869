"""Team use in the window: File > Import from PACS's form, and other machines' changes arriving."""

from __future__ import annotations

import pytest

from mammo_annotator.qt.pacs_dialog import PacsDialog
from mammo_annotator.qt.team_sync import TeamSync
from mammo_annotator.services import annotations as svc
from mammo_annotator.services.project import open_project
from mammo_annotator.store import models as model_store
from tests.helpers import add_blank_image, square


def test_pacs_dialog_params(qtbot, monkeypatch):
    monkeypatch.setenv("MAMMO_DICOMWEB_TOKEN", "x")
    d = PacsDialog()
    qtbot.addWidget(d)
    d.url.setText(" https://pacs.example/dicom-web ")
    d.studies.setPlainText("1.2.3\n\n 1.2.4 \n")
    d.since.setText("2024-05-01")
    assert d.params() == {"url": "https://pacs.example/dicom-web", "studies": ["1.2.3", "1.2.4"], "modality": "MG",
                          "since": "2024-05-01"}
    from PySide6.QtWidgets import QLabel

    assert any("bearer token" in label.text() for label in d.findChildren(QLabel))


@pytest.fixture
def two_machines(tmp_path, monkeypatch):
    """One project file open twice: this window's and another machine's."""
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    here = open_project(tmp_path / "p.sqlite", create=True)
    elsewhere = open_project(tmp_path / "p.sqlite")
    yield here, elsewhere
    elsewhere.close()
    here.close()


def test_team_sync_shows_others_and_relays_remote_activation(qtbot, two_machines):
    here, elsewhere = two_machines
    image_id = add_blank_image(here)
    sync = TeamSync(here, lambda: "dr.a")
    texts: list[str] = []
    sync.othersChanged.connect(texts.append)
    events: list[dict] = []
    here.events.connect("model_activated", lambda **kw: events.append(kw))
    from mammo_annotator.services import team

    presence: list[int] = []
    sync.presenceChanged.connect(presence.append)
    team.open_image(elsewhere, image_id, "dr.b")
    with qtbot.waitSignal(sync.othersChanged, timeout=10_000):
        sync.image_shown(image_id)  # the lease is taken in the lease thread, never in the window's
    assert texts[-1] == "Also on this image: dr.b"
    from mammo_annotator.services.viewing import worklist

    assert worklist(here)[0].on_it == "dr.a, dr.b"  # everyone on it
    assert worklist(here, reader="dr.a")[0].on_it == "dr.b"  # the window's dot: the others only
    with elsewhere.session() as s:
        vid = model_store.add_model_version(s, "SS", "hc", "g", {}, {}, {}, b"w")
        model_store.activate(s, vid)
    svc.save_contour(elsewhere, image_id, square(100, 100, 80), annotator="dr.b")
    changes = sync.poll()
    assert changes["active_model"] == vid and changes["edited"] == [image_id]
    assert events == [{"version_id": vid, "remote": True}] and presence == [[image_id]]
    jobs: list[str] = []
    sync.jobChanged.connect(jobs.append)
    lease = team.JobLease(elsewhere, "dr.b@ws2 pid 1")
    assert lease.acquire()
    sync.poll()
    assert jobs[-1].startswith("retraining runs on dr.b@ws2 pid 1")
    lease.release()
    team.close_image(elsewhere, image_id, "dr.b")
    sync.poll()
    assert texts[-1] == "" and jobs[-1] == ""
    sync.stop()
    assert team.on_image(elsewhere, image_id) == []  # closing the window frees the image


def test_the_timer_poll_reads_in_a_thread_and_applies_in_the_window(qtbot, two_machines, monkeypatch):
    """A shared server's round trips (or its 10 s connection timeout) never hold the window."""
    import threading

    here, elsewhere = two_machines
    image_id = add_blank_image(here)
    sync = TeamSync(here, lambda: "dr.a")
    sync.poll_timer.stop()
    read_in, applied_in, server_answers = [], [], threading.Event()
    real_read, real_apply = sync.watcher.read, sync.watcher.apply

    def slow_read():  # a server slow to answer
        read_in.append(threading.current_thread().name)
        server_answers.wait(10)
        return real_read()

    monkeypatch.setattr(sync.watcher, "read", slow_read)
    monkeypatch.setattr(sync.watcher, "apply",
                        lambda snap: applied_in.append(threading.current_thread().name) or real_apply(snap))
    svc.save_contour(elsewhere, image_id, square(100, 100, 80), annotator="dr.b")
    with qtbot.waitSignal(sync.polled, timeout=10_000) as got:
        assert sync.poll_in_background()
        assert not sync.poll_in_background()  # the window is free meanwhile, and asks only once
        server_answers.set()
    assert got.args[0]["edited"] == [image_id]
    assert read_in == ["team-poll"] and applied_in == [threading.main_thread().name]
    sync.stop()


def test_agreement_line_for_several_annotators(tmp_path, monkeypatch):
    from mammo_annotator.qt.team_sync import agreement_text

    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    p = open_project(tmp_path / "p.sqlite", create=True)
    try:
        image_id = add_blank_image(p)
        svc.save_contour(p, image_id, square(100, 100, 200), annotator="dr.a")
        assert agreement_text(svc.contours(p, image_id)) == ""  # one annotator: nothing to compare
        svc.save_contour(p, image_id, square(200, 100, 200), annotator="dr.b")
        assert agreement_text(svc.contours(p, image_id)) == "Agreement (Dice of malignant outlines): dr.a / dr.b 0.50"
    finally:
        p.close()


def test_a_driver_error_in_the_poll_thread_is_a_missed_tick(qtbot, two_machines, monkeypatch):
    """An error the project does not translate (a pool timeout) ended the thread with a traceback
    and no result; the window now hears None, and the next tick asks again."""
    here, _ = two_machines
    sync = TeamSync(here, lambda: "dr.a")
    sync.poll_timer.stop()

    def broken_read():
        raise TimeoutError("QueuePool limit of size 4 overflow 4 reached")

    monkeypatch.setattr(sync.watcher, "read", broken_read)
    with qtbot.waitSignal(sync.polled, timeout=10_000) as got:
        assert sync.poll_in_background()
    assert got.args == [None]
    sync.stop()
