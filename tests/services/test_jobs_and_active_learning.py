"""Background retraining queue and the active-learning strategies (no Qt)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from mammo_annotator.core.types import AnnotationStatus
from mammo_annotator.services import annotations as ann_svc
from mammo_annotator.services.active_learning import STRATEGIES, next_image, suggest
from mammo_annotator.services.jobs import JobState, TrainingQueue
from mammo_annotator.services.model_history import active_version, annotation_cost_points, list_versions
from mammo_annotator.services.training import TrainingRequest, run_training
from mammo_annotator.store import images as image_store
from tests.helpers import open_copy, square, synthetic_project_file


@pytest.fixture(scope="module")
def base_project(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("template")
    mp = pytest.MonkeyPatch()
    mp.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp / "cache"))
    yield synthetic_project_file(tmp, n_patients=5, seed=5)
    mp.undo()


@pytest.fixture
def project(base_project, tmp_path):
    p = open_copy(base_project, tmp_path)
    yield p
    p.close()


def _not_annotated(project):
    with project.session() as s:
        return [im for im in image_store.list_images(s) if im.status is AnnotationStatus.NOT_ANNOTATED]


def test_auto_trigger_after_n_annotated_images(project):
    queue = TrainingQueue(project, auto_after=2, request=TrainingRequest(epochs=5, warm_start=True))
    activated = []
    project.events.connect("model_activated", lambda version_id: activated.append(version_id))
    try:
        images = _not_annotated(project)[:2]
        ann_svc.save_contour(project, images[0].id, square(100, 100, 40), "dr.a")
        assert queue.running is None and queue.pending_annotations == 1
        ann_svc.save_contour(project, images[1].id, square(100, 100, 40), "dr.a")
        assert queue.running is not None or queue.history  # the second image triggered it
        assert queue.wait(120)
    finally:
        queue.close()
    (job,) = queue.history
    assert job.state is JobState.DONE and job.reason == "2 newly annotated images"
    assert activated == [job.outcome.version_id] and active_version(project).id == job.outcome.version_id


def test_one_running_at_most_one_queued(project):
    queue = TrainingQueue(project, auto_after=None, request=TrainingRequest(epochs=5))
    try:
        first = queue.submit("a")
        second = queue.submit("b")
        third = queue.submit("c")  # replaces the queued one
        assert queue.running is first and queue.queued is third and second is not third
        assert queue.wait(180)
    finally:
        queue.close()
    assert [j.reason for j in queue.history] == ["a", "c"]
    assert len(list_versions(project)) == 2


def test_cancel_keeps_previous_model(project):
    run_training(project, TrainingRequest(epochs=5))
    before = active_version(project).id
    queue = TrainingQueue(project, auto_after=None, request=TrainingRequest(epochs=400))
    started = threading.Event()
    queue.on_progress.append(lambda job, stage, d, n, m: stage == "train" and started.set())
    try:
        job = queue.submit("long")
        assert started.wait(60)
        queue.stop()
        assert queue.wait(60)
    finally:
        queue.close()
    assert job.state is JobState.STOPPED and active_version(project).id == before
    assert [v.id for v in list_versions(project)] == [before]  # the stopped job stored no version


def test_failing_job_keeps_previous_model(project):
    run_training(project, TrainingRequest(epochs=5))
    before = active_version(project).id
    queue = TrainingQueue(project, auto_after=None, request=TrainingRequest(epochs=5, method="no_such_method"))
    try:
        job = queue.submit("x")  # raises in the worker process
        assert queue.wait(60)
    finally:
        queue.close()
    assert job.state is JobState.ERROR and "no_such_method" in job.error
    assert active_version(project).id == before


def test_a_worker_that_dies_fails_its_job_and_the_next_job_gets_a_new_one(project):
    run_training(project, TrainingRequest(epochs=5))
    before = active_version(project).id
    queue = TrainingQueue(project, auto_after=None, request=TrainingRequest(epochs=2000))
    try:
        job = queue.submit("x")
        deadline = time.monotonic() + 60
        while queue.worker.pid is None and time.monotonic() < deadline:
            time.sleep(0.05)
        first = queue.worker.pid
        os.kill(first, signal.SIGKILL)  # as the kernel's out-of-memory killer would
        assert queue.wait(60)
        assert job.state is JobState.ERROR and "ended unexpectedly" in job.error
        assert active_version(project).id == before
        again = queue.submit("again", TrainingRequest(epochs=5, activate="never"))
        assert queue.wait(120)
        assert again.state is JobState.DONE and queue.worker.pid not in (None, first)
    finally:
        queue.close()
    assert queue.worker.pid is None  # closing the queue ends its process


def test_gui_writes_succeed_while_a_job_reads(project):
    queue = TrainingQueue(project, auto_after=None, request=TrainingRequest(epochs=40))
    images = _not_annotated(project)
    try:
        queue.submit("x")
        written = 0
        while queue.running is not None and written < len(images):
            ann_svc.save_contour(project, images[written].id, square(120, 120, 30), "dr.a")
            written += 1
            time.sleep(0.05)
        assert queue.wait(120)
    finally:
        queue.close()
    assert written >= 1 and queue.history[0].state is JobState.DONE


def test_strategies_rank_with_reasons(project):
    with project.session() as s:
        malignant = [im.id for im in image_store.list_images(s) if im.weak.y_m == 1][:2]
    for image_id in malignant:  # leave two malignant images for the annotator
        for ann in ann_svc.contours(project, image_id):
            ann_svc.delete_contour(project, ann.id, "dr.a")
    assert suggest(project, "uncertainty") == []  # no model yet: nothing to be uncertain about
    cost = suggest(project, "cost-effective")
    assert {s.image_id for s in cost} == set(malignant) and all("no model yet" in s.reason for s in cost)
    run_training(project, TrainingRequest(epochs=10))
    for name in STRATEGIES:
        assert all(s.reason for s in suggest(project, name))
    # the order follows the stored model's p(M): closest to 0.5 first for uncertainty, lowest
    # first among the malignant images for cost-effective (each strategy by hand: test_active_learning.py)
    from mammo_annotator.store import models as model_store

    with project.session() as s:
        probs = model_store.image_probabilities(s, active_version(project).id)
    todo = {im.id for im in _not_annotated(project)}
    ranked = suggest(project, "uncertainty")
    assert {s.image_id for s in ranked} == todo
    distance = [abs(probs[s.image_id][0] - 0.5) for s in ranked]
    assert distance == sorted(distance) and len(set(distance)) > 1
    with project.session() as s:
        by_id = {im.id: im for im in image_store.list_images(s)}
    for sug in suggest(project, "cost-effective"):
        im = by_id[sug.image_id]
        assert im.weak.y_m == 1 and im.status is AnnotationStatus.NOT_ANNOTATED and "p(M)=" in sug.reason
    first = next_image(project)
    assert first is not None and next_image(project, exclude=first.image_id).image_id != first.image_id
    points = annotation_cost_points(project)
    assert len(points) == 1 and points[0][1] == active_version(project).summary["n_local"]
