"""SIGKILL at random moments: during contour saves (60 kills) and during retrains.

After the kills the file passes the full integrity check, every acknowledged save is there with
its outline, nothing half-written is left (at most one unacknowledged save per kill: committed
just before the kill), the active model is a complete stored version and no version is half-stored.
"""

from __future__ import annotations

import sqlite3

from mammo_annotator.ml import modelio
from mammo_annotator.services.project import open_project
from mammo_annotator.store import images as image_store
from mammo_annotator.store import models as model_store

from .procs import acked_saves, annotation_count, blank_project, integrity, missing_saves, worker_json

SAVE_KILLS = 60
RETRAIN_KILLS = 6


def test_kill_9_during_contour_saves_loses_nothing(tmp_path):
    path = blank_project(tmp_path / "p.sqlite")
    result = worker_json("zygote-saves", path, SAVE_KILLS, 1, timeout=300)
    acked = acked_saves(result["acks"])
    # every kill came after its child's first commit, so among real saves
    assert result["kills"] == SAVE_KILLS and len(acked) >= SAVE_KILLS
    assert integrity(path) == "ok"
    assert missing_saves(path, acked) == []
    extra = annotation_count(path) - len(acked)
    assert 0 <= extra <= SAVE_KILLS  # committed, then killed before the ack was written
    con = sqlite3.connect(path)
    try:  # every stored contour has its revision row and its image's status: one transaction each
        orphans = con.execute("SELECT count(*) FROM annotations a WHERE NOT EXISTS "
                              "(SELECT 1 FROM annotation_revisions r WHERE r.annotation_id = a.id)").fetchone()[0]
        unstatused = con.execute("SELECT count(*) FROM images i WHERE EXISTS (SELECT 1 FROM annotations a "
                                 "WHERE a.image_id = i.id) AND i.status = 'not_annotated'").fetchone()[0]
    finally:
        con.close()
    assert orphans == 0 and unstatused == 0


def _trained_project(tmp_path):
    from tests.helpers import synthetic_project_file

    from mammo_annotator.services.training import TrainingRequest, run_training

    path = synthetic_project_file(tmp_path, n_patients=6, seed=3, size=(384, 320))
    project = open_project(path)
    first = run_training(project, TrainingRequest(epochs=8, num_threads=1, activate="always", augment=()))
    project.close()
    return path, first.version_id


def test_kill_9_during_retrains_keeps_the_previous_model_and_no_half_version(tmp_path):
    path, first = _trained_project(tmp_path)
    result = worker_json("zygote-retrain", path, RETRAIN_KILLS, 2, 0.2, 2.5, timeout=400)
    acked = [int(line.split()[1]) for line in result["acks"] if line.startswith("trained")]
    assert integrity(path) == "ok"
    project = open_project(path, read_only=True)
    try:
        with project.session() as s:
            versions = model_store.list_model_versions(s)
            active = model_store.active_model_id(s)
            blobs = {v.id: model_store.model_weights(s, v.id) for v in versions}
            n_images = len(image_store.list_images(s))
            scored = {v.id: len(model_store.image_probabilities(s, v.id)) for v in versions}
    finally:
        project.close()
    ids = [v.id for v in versions]
    assert set(acked) <= set(ids)  # an acknowledged version is never lost
    assert len(ids) - 1 - len(acked) <= RETRAIN_KILLS - len(acked)  # at most one unacknowledged per kill
    assert RETRAIN_KILLS - len(acked) >= 1  # some kills landed during training, not after it
    # each retrain activates its version in the transaction that stores it: a kill before that
    # commit leaves the previous version active; no version lacks its weights or its predictions
    assert active == max(ids) and first in ids
    assert all(scored[v] == n_images for v in ids)
    for vid, blob in blobs.items():
        modelio.from_bytes(blob, source=f"version {vid}")
