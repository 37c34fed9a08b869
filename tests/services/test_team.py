"""Several annotators on one project, as two machines see it: two Project objects on the same
database (a SQLite file, then a real PostgreSQL server), each with its own engine."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mammo_annotator.services import annotations as svc
from mammo_annotator.services import team
from mammo_annotator.services.project import open_project
from mammo_annotator.services.remote_changes import RemoteChanges
from mammo_annotator.services.viewing import image_record, load_bundle
from mammo_annotator.store import leases as lease_store
from mammo_annotator.store import models as model_store
from mammo_annotator.store.images import StaleImageError
from mammo_annotator.store import regions as region_store
from tests.helpers import add_blank_image, square


@pytest.fixture
def two_machines(project):
    other = open_project(project.target)
    yield project, other
    other.close()


def test_stale_edit_refused_across_machines(two_machines):
    a, b = two_machines
    image_id = add_blank_image(a)
    rev_seen_by_both = image_record(a, image_id).revision
    assert image_record(b, image_id).revision == rev_seen_by_both
    svc.save_contour(a, image_id, square(400, 400, 80), annotator="dr.a", expected_revision=rev_seen_by_both)
    with pytest.raises(StaleImageError, match="changed by someone else"):
        svc.save_contour(b, image_id, square(100, 100, 80), annotator="dr.b", expected_revision=rev_seen_by_both)
    contours = svc.contours(b, image_id)
    assert [c.annotator for c in contours] == ["dr.a"]  # b's refused edit wrote nothing


def test_leases_show_who_is_on_an_image_and_expire(two_machines):
    a, b = two_machines
    image_id = add_blank_image(a)
    assert team.open_image(a, image_id, "dr.a") == []
    others = team.open_image(b, image_id, "dr.b")
    assert [p.annotator for p in others] == ["dr.a"]
    assert sorted(p.annotator for p in team.who_is_on(a)[image_id]) == ["dr.a", "dr.b"]
    team.open_image(b, image_id, "dr.b")  # renewing keeps one lease per annotator
    assert len(team.on_image(a, image_id)) == 2
    team.close_image(b, image_id, "dr.b")
    assert [p.annotator for p in team.on_image(a, image_id)] == ["dr.a"]
    team.open_image(b, image_id, "dr.b", ttl_s=0.2)
    time.sleep(0.3)
    assert [p.annotator for p in team.on_image(a, image_id)] == ["dr.a"]  # lapsed by itself
    with b.session() as s:
        assert lease_store.purge_expired(s) == 1


def test_one_job_lease_per_project(two_machines):
    a, b = two_machines
    first, second = team.JobLease(a, "dr.a@ws1 pid 1"), team.JobLease(b, "dr.b@ws2 pid 2")
    assert first.acquire()
    assert not second.acquire()
    running = team.running_job(b)
    assert running is not None and running.holder == "dr.a@ws1 pid 1"
    assert "dr.a@ws1" in running.describe()
    first.release()
    assert team.running_job(b) is None
    assert second.acquire()
    assert not first.acquire()
    second.release()


def test_a_lapsed_job_lease_is_taken_over(two_machines):
    a, b = two_machines
    # a lease long enough that a loaded machine refuses the second claim before it lapses (0.1 s was not)
    assert team.JobLease(a, "crashed@ws1 pid 1", ttl_s=1.5).acquire()
    assert not team.JobLease(b, "dr.b@ws2 pid 2").acquire()
    time.sleep(1.7)
    assert team.JobLease(b, "dr.b@ws2 pid 2").acquire()
    assert team.running_job(a).holder == "dr.b@ws2 pid 2"


def test_activation_and_edits_reach_the_other_machine_without_restart(two_machines):
    a, b = two_machines
    image_id = add_blank_image(a)
    watcher = RemoteChanges(b)
    seen: list[tuple[str, dict]] = []
    for name in ("model_activated", "annotations_changed", "images_imported"):
        b.events.connect(name, lambda _n=name, **kw: seen.append((_n, kw)))
    assert watcher.poll() == {"active_model": None, "edited": [], "added": []}

    with a.session() as s:  # machine A stores a trained version, its proposals, and activates it
        vid = model_store.add_model_version(s, "SS-Cls-Det-RS", "hc", "g", {}, {}, {}, b"w")
        grid_id = region_store.grid_id_for(s, image_id)
        n = len(region_store.region_set(s, grid_id).boxes)
        model_store.put_prediction(s, vid, image_id, grid_id, 0.9, 0.1, np.full((n, 7), 0.5, np.float32))
        model_store.activate(s, vid)
    svc.save_contour(a, image_id, square(300, 300, 90), annotator="dr.a")
    second = add_blank_image(a, patient="P2")

    changes = watcher.poll()
    assert changes == {"active_model": vid, "edited": [image_id], "added": [second]}
    assert ("model_activated", {"version_id": vid, "remote": True}) in seen
    assert ("annotations_changed", {"image_id": image_id, "remote": True}) in seen
    bundle = load_bundle(b, image_id)  # B's proposals now come from A's version
    assert bundle.model.id == vid and bundle.prediction.p_m == pytest.approx(0.9)
    assert watcher.poll() == {"active_model": None, "edited": [], "added": []}

    svc.save_contour(b, image_id, square(100, 100, 90), annotator="dr.b")  # B's own edit is not "remote"
    assert watcher.poll()["edited"] == []
    watcher.close()


def test_a_read_begun_before_a_local_edit_or_activation_does_not_undo_it(two_machines):
    """The GUI reads in a thread and applies later: this machine's own activation made meanwhile
    is not switched back by the older read, and its own edit is never reported as remote."""
    a, b = two_machines
    image_id = add_blank_image(a)
    watcher = RemoteChanges(b)
    seen: list[tuple[str, dict]] = []
    for name in ("model_activated", "annotations_changed"):
        b.events.connect(name, lambda _n=name, **kw: seen.append((_n, kw)))
    with b.session() as s:
        vid = model_store.add_model_version(s, "SS-Cls-Det-RS", "hc", "g", {}, {}, {}, b"w")
    older = watcher.read()  # the thread's read: before the activation and the edit below
    with b.session() as s:
        model_store.activate(s, vid)
    b.events.emit("model_activated", version_id=vid)  # as services.model_history does
    svc.save_contour(b, image_id, square(100, 100, 90), annotator="dr.b")
    assert watcher.apply(older) == {"active_model": None, "edited": [], "added": []}
    assert watcher.poll() == {"active_model": None, "edited": [], "added": []}  # the next read sees both: still local
    assert [kw for _, kw in seen if kw.get("remote")] == []
    svc.save_contour(a, image_id, square(300, 300, 90), annotator="dr.a")  # a real remote edit is still seen
    assert watcher.poll()["edited"] == [image_id]
    watcher.close()


def test_a_retrain_is_refused_while_another_machine_trains(two_machines):
    from mammo_annotator.services.jobs import JobState, TrainingQueue

    a, b = two_machines
    other = team.JobLease(b, "dr.b@ws2 pid 2")
    assert other.acquire()
    queue = TrainingQueue(a, auto_after=None, holder="dr.a@ws1 pid 1")
    job = queue.submit("requested")
    assert queue.wait(30)
    assert job.state is JobState.ERROR and "retraining runs on dr.b@ws2 pid 2" in job.error
    assert team.running_job(a).holder == "dr.b@ws2 pid 2"  # the refusal did not touch the other's lease
    queue.close()
    other.release()


def test_the_worklist_names_the_other_readers_of_an_image_not_the_asker(two_machines):
    """The worklist's "on it" dot is about colleagues: the reader's own lease on the image they
    have open is no presence (it lit the dot on every image the reader opened)."""
    from mammo_annotator.services.viewing import worklist

    a, b = two_machines
    image_id = add_blank_image(a)
    team.open_image(a, image_id, "dr.a")
    assert worklist(a, reader="dr.a")[0].on_it == ""
    assert worklist(a, [image_id], reader="dr.a")[0].on_it == ""
    team.open_image(b, image_id, "dr.b")
    assert worklist(a, reader="dr.a")[0].on_it == "dr.b"
    assert worklist(b, [image_id], reader="dr.b")[0].on_it == "dr.a"
    assert worklist(a)[0].on_it == "dr.a, dr.b"  # nobody asking: everyone
