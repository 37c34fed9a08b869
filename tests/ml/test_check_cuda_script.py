"""scripts/check_cuda.py, the prepared GPU check: CI has no GPU, so its dry run (the CPU against
itself) keeps the script in step with the code it calls, and its verdicts are checked."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_cuda.py"


@pytest.fixture(scope="module")
def check_cuda():
    spec = importlib.util.spec_from_file_location("check_cuda", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: the script would run its checks")
def test_without_a_gpu_it_says_so_and_exits_2(check_cuda, capsys):
    assert check_cuda.main(["--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().out


def test_dry_run_passes_every_check(check_cuda, capsys):
    check_cuda.FAILED.clear()
    assert check_cuda.main(["--device", "cpu", "--quick"]) == 0
    out = capsys.readouterr().out
    assert out.count("PASS") == 6 and "FAIL" not in out and "all checks passed" in out


def test_features_that_differ_between_the_devices_fail(check_cuda, monkeypatch, capsys):
    from mammo_annotator.ml.features import registry

    built, original = [], registry.build_extractor

    def build(name, **kw):
        ext = original(name, **kw)
        built.append(ext)
        if len(built) == 2:  # the "device" extractor: features 5 % off the CPU's
            plain = ext.extract
            monkeypatch.setattr(ext, "extract", lambda *a: plain(*a) * 1.05)
        return ext

    monkeypatch.setattr(registry, "build_extractor", build)
    check_cuda.FAILED.clear()
    check_cuda.check_features(torch.device("cpu"), quick=True)
    out = capsys.readouterr().out
    assert out.count("FAIL  features") == 2 and len(check_cuda.FAILED) == 2
    check_cuda.FAILED.clear()


def test_learned_features_that_differ_between_the_devices_fail(check_cuda, monkeypatch, capsys):
    from mammo_annotator.ml.features.learned import LearnedExtractor

    original, loaded = LearnedExtractor.from_bytes.__func__, []

    def from_bytes(cls, blob, what="learned extractor", device="auto"):
        ext = original(cls, blob, what, device)
        loaded.append(ext)
        if len(loaded) == 1:  # the "device" copy (loaded first): maps 5 % off the CPU's
            plain = ext.feature_map
            monkeypatch.setattr(ext, "feature_map", lambda work: plain(work) * 1.05)
        return ext

    monkeypatch.setattr(LearnedExtractor, "from_bytes", classmethod(from_bytes))
    check_cuda.FAILED.clear()
    check_cuda.check_end_to_end(torch.device("cpu"), quick=True)
    out = capsys.readouterr().out
    # the heads are scored on the CPU's features, so the end-to-end check itself still passes
    assert out.count("FAIL") == 1 and "FAIL  learned (end-to-end) extraction" in out and len(check_cuda.FAILED) == 1
    check_cuda.FAILED.clear()
