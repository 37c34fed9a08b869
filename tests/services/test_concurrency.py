"""N annotator processes on one project while two machines try to retrain: nothing is lost,
stale edits are refused, one retraining runs. On SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from mammo_annotator.core.types import GridSpec
from mammo_annotator.services.features import ensure_features, project_extractor
from mammo_annotator.services.project import open_project
from mammo_annotator.services.synthetic_source import import_synthetic
from mammo_annotator.services.viewing import worklist
from tests.team_load import run_load


def test_annotators_and_retraining_in_parallel(project_target, tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    project = open_project(project_target, create=True)
    project.set_grid_spec(GridSpec(size_mm=22.4, stride_mm=11.2))
    import_synthetic(project, n_patients=4, seed=1, size=(384, 320))
    ensure_features(project, project_extractor(project))
    shared = [row.image_id for row in worklist(project)][:3]  # few images: annotators collide often
    project.close()

    result = run_load(project_target, shared, n_annotators=3, seconds=3.0, trainers=2)
    print("\n".join(result.lines()))
    assert result.errors == []
    assert result.saves > 0 and result.conflicts > 0  # they did collide, and the collisions were refused
    assert result.lost == 0 and result.extra == 0 and result.revision_mismatches == 0
    states = sorted(t["state"] for t in result.trainers)
    assert states == ["done", "error"], result.trainers
    refused = [t for t in result.trainers if t["state"] == "error"][0]
    assert "retraining runs on trainer" in refused["error"]
