"""A short soak (benchmarks/bench_soak.py runs the same for minutes): annotating while background
retrains run, CLI readers, a second instance and SIGKILLed writers at once; nothing is lost."""

from __future__ import annotations

from .soak import build_project, run_soak


def test_short_soak_holds(tmp_path):
    path = build_project(tmp_path)
    res = run_soak(path, seconds=12, seed=1, retrain_every_s=5, kill_every_s=2)
    print("\n".join(res.lines()))
    assert res.saves > 20 and res.kills >= 2 and res.cli_reads >= 1 and res.second_instance >= 1, res.lines()
    assert res.retrains_done >= 1, res.lines()
    assert res.ok, "\n".join(res.lines()) + f"\n{res.save_errors[:3]} {res.cli_failures[:3]} {res.second_instance_wrong[:3]}"
