"""Mutation testing of the critical modules with mutmut; prints the kill rate per module.

Each module is tested in a scratch copy of the repository (so the working tree never gets a
``mutants/`` folder or a mutmut config), against its related test files only, one worker, at
low priority. Slow; not part of CI. The tests it leads to are.

    .venv/bin/python scripts/mutation.py                     # every module, the working tree
    .venv/bin/python scripts/mutation.py iom metrics         # some of them
    .venv/bin/python scripts/mutation.py --rev af7e4e2 iom   # the tree of a commit (a "before" figure)
    .venv/bin/python scripts/mutation.py --tests-rev af7e4e2 training   # today's code, that commit's tests
    .venv/bin/python scripts/mutation.py --survivors iom     # also print each surviving mutant's diff
    .venv/bin/python scripts/mutation.py --sample 40 active_learning   # 40 evenly spaced mutants only

A mutant counts as killed when a test fails on it or it times out (an endless loop is caught);
the kill rate is killed / (killed + survived). "no tests" mutants (code no selected test runs)
are counted as survivors.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PKG = "mammo_annotator"


@dataclass(frozen=True)
class Target:
    source: str  # path of the module under mammo_annotator/
    tests: tuple[str, ...]  # related test files (missing ones are left out: older revisions)
    functions: tuple[str, ...] = ()  # mutate only these functions (mutmut name globs); () = all
    trains: bool = False  # its tests train a model: run them under forkserver, as the ml modules


TARGETS: dict[str, Target] = {
    "iom": Target("core/iom.py", ("tests/core/test_regions_iom.py", "tests/core/test_iom_properties.py")),
    "contours": Target("core/contours.py", ("tests/core/test_regions_iom.py", "tests/core/test_contours.py",
                                            "tests/core/test_iom_properties.py", "tests/core/test_hostile_contours.py")),
    "losses": Target("ml/losses.py", ("tests/ml/test_losses.py",)),
    "shared_fc": Target("ml/shared_fc.py", ("tests/ml/test_shared_fc.py",
                                            "tests/ml/test_train.py::test_fast_dropout_is_independent_bernoulli_half")),
    "metrics": Target("ml/metrics.py", ("tests/ml/test_metrics.py",)),
    "froc": Target("ml/froc.py", ("tests/ml/test_cv_report.py::test_froc_by_hand", "tests/ml/test_froc.py")),
    "annotations": Target("services/annotations.py", ("tests/services/test_annotations.py",
                                                      "tests/services/test_annotation_properties.py",
                                                      "tests/services/test_agreement.py")),
    "training": Target("services/training.py", ("tests/services/test_activation.py",
                                                "tests/services/test_training.py::test_activate_never_stores_without_activating",
                                                "tests/services/test_training.py::test_activate_always_takes_even_a_worse_version",
                                                "tests/services/test_training.py::test_if_better_around_the_tolerance",
                                                "tests/services/test_training.py::test_warm_retrain_and_worse_version_not_activated",
                                                "tests/services/test_training.py::test_first_training_activates_and_scores_every_image",
                                                "tests/services/test_training.py::test_diverged_run_keeps_previous_model"),
                       ("validates_worse", "should_activate", "TrainingRequest*"), trains=True),
    "pseudonyms": Target("services/export/pseudonyms.py", ("tests/services/test_export_dicom.py",
                                                           "tests/services/test_export_reimport.py",
                                                           "tests/services/test_pseudonyms.py")),
    "active_learning": Target("services/active_learning.py", ("tests/services/test_jobs_and_active_learning.py",
                                                              "tests/services/test_active_learning.py"), trains=True),
    "cv": Target("ml/cv.py", ("tests/ml/test_cv_report.py", "tests/ml/test_cv_folds.py"), trains=True),
    "minimias": Target("core/datasets/minimias.py", (
        "tests/core/test_datasets.py", "tests/core/test_hostile_datasets.py", "tests/core/test_minimias.py",
        "tests/core/test_hostile_inputs3.py::test_an_upper_case_refnum_is_reported_not_skipped_as_prose")),
    "birads": Target("core/birads.py", ("tests/core/test_birads.py", "tests/core/test_datasets.py")),
    "dataset": Target("ml/dataset.py", ("tests/ml/test_dataset.py", "tests/ml/test_losses.py", "tests/ml/test_froc.py")),
    "model": Target("ml/model.py", ("tests/ml/test_model_heads.py", "tests/ml/test_losses.py",
                                    "tests/ml/test_shared_fc.py::test_head_logits_follow_its_dropout_mode",
                                    "tests/ml/test_shared_fc.py::test_a_head_config_refuses_a_dropout_that_keeps_nothing",
                                    "tests/ml/test_shared_fc.py::test_a_region_selection_step_gives_the_same_head_gradients_with_and_without_the_gather",
                                    "tests/ml/test_modelio.py", "tests/ml/test_train.py::test_scores_shapes_and_d",
                                    "tests/ml/test_train.py::test_warm_start_and_early_stopping"), trains=True),
    "scoring": Target("ml/scoring.py", ("tests/ml/test_scoring.py", "tests/ml/test_train.py::test_scores_shapes_and_d",
                                        "tests/ml/test_method_review.py::test_max_region_localises_by_region_class_probability_alone",
                                        "tests/ml/test_degenerate_projects.py", "tests/ml/test_froc.py"), trains=True),
    "regions": Target("core/regions.py", ("tests/core/test_regions_iom.py", "tests/core/test_region_grid.py",
                                          "tests/core/test_hostile_images.py")),
}

KILLED = {"killed", "timeout", "caught by type check", "segfault"}


def snapshot(dest: Path, rev: str | None, tests_rev: str | None = None) -> None:
    """The repository's files (tracked + untracked not ignored, or those of commit ``rev``) in
    ``dest``; with ``tests_rev`` the tests/ folder as it was at that commit instead."""
    if tests_rev:
        snapshot(dest, rev)
        shutil.rmtree(dest / "tests")
        data = subprocess.run(["git", "archive", tests_rev, "tests"], cwd=REPO, check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(dest, filter="data")
        return
    if rev:
        data = subprocess.run(["git", "archive", rev], cwd=REPO, check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(dest, filter="data")
        return
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def write_config(root: Path, target: Target) -> list[str]:
    tests = []
    for t in target.tests:
        path, _, name = t.partition("::")
        if not (root / path).is_file():
            continue
        if name and f"def {name}(" not in (root / path).read_text():
            if not any(x.startswith(path + "::") and f"def {x.partition('::')[2]}(" in (root / path).read_text()
                       for x in target.tests):
                tests.append(path)  # none of the named tests exists in this revision: the whole file
            continue
        tests.append(t)
    tests = list(dict.fromkeys(tests))
    if not tests:
        raise SystemExit(f"none of the test files of {target.source} exists: {target.tests}")
    # mutmut reads [tool.mutmut] from pyproject.toml first, else [mutmut] from setup.cfg
    lines = ["[mutmut]", f"source_paths = {PKG}", f"only_mutate = {PKG}/{target.source}",
             "pytest_add_cli_args_test_selection =", *[f"    {t}" for t in tests],
             "pytest_add_cli_args =", "    -p", "    no:cacheprovider", "    -q", "    -k", "    not postgresql",
             # torch in a plainly forked child can hang: a survivor then reads as a timeout (a kill)
             "process_isolation = forkserver" if target.trains or "/ml/" in f"/{target.source}" else "process_isolation = fork",
             "use_git_change_detection = false", ""]
    (root / "setup.cfg").write_text("\n".join(lines))
    return tests


def results(root: Path, target: Target) -> dict[str, str]:
    meta = root / "mutants" / PKG / (target.source + ".meta")
    sys.path.insert(0, str(Path(sys.executable).parent.parent))
    from mutmut.stats import status_by_exit_code

    codes = json.loads(meta.read_text())["exit_code_by_key"]
    return {k: status_by_exit_code[v] for k, v in codes.items()}


def mutant_globs(target: Target) -> list[str]:
    mod = f"{PKG}.{target.source[:-3].replace('/', '.')}"
    out = []
    for fn in target.functions:
        head, _, rest = fn.partition("*")
        if "." in head or head[:1].isupper():  # a class (method mutants are Class.xǁClassǁmethod__mutmut_N)
            out.append(f"{mod}.x*{head}*")
        else:
            out.append(f"{mod}.x_{head}__mutmut_*")
    return out


def run_one(name: str, target: Target, rev: str | None, survivors: bool, keep: Path | None,
            sample: int | None = None, tests_rev: str | None = None) -> tuple[int, int, list[str]]:
    root = Path(tempfile.mkdtemp(prefix=f"mutation-{name}-")) if keep is None else keep / name
    root.mkdir(parents=True, exist_ok=True)
    snapshot(root, rev, tests_rev)
    tests = write_config(root, target)
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "QT_QPA_PLATFORM": "offscreen",
                        "PYTHONDONTWRITEBYTECODE": "1"}
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    globs = mutant_globs(target)
    print(f"== {name}: {PKG}/{target.source} against {' '.join(tests)}", flush=True)
    log = root / "mutmut.log"
    if sample:
        # generate every mutant and the test statistics only (a filter matching nothing stops mutmut
        # right after), then test an evenly spaced, fixed subset of them
        with open(log, "w") as out:
            subprocess.run(["nice", "-n", "10", mutmut, "run", "--max-children", "1", "no-such-mutant"], cwd=root, env=env,
                           stdout=out, stderr=subprocess.STDOUT)
        import fnmatch

        names = sorted(k for k in results(root, target) if not globs or any(fnmatch.fnmatch(k, g) for g in globs))
        step = max(1, len(names) / sample)
        globs = [names[int(i * step)] for i in range(min(sample, len(names)))]
        print(f"   testing {len(globs)} of {len(names)} mutants (evenly spaced)", flush=True)
    cmd = ["nice", "-n", "10", mutmut, "run", "--max-children", "1", *globs]
    with open(log, "a") as out:
        proc = subprocess.run(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        status = results(root, target)
    except FileNotFoundError:
        print(log.read_text()[-3000:])
        raise SystemExit(f"mutmut failed on {name} (exit {proc.returncode}); log in {log}")
    if target.functions or sample:
        import fnmatch

        status = {k: v for k, v in status.items() if any(fnmatch.fnmatch(k, g) for g in globs)}
    killed = sum(v in KILLED for v in status.values())
    timeouts = sorted(k for k, v in status.items() if v == "timeout")
    for k in timeouts:
        print(f"   killed by timeout only (a hang reads as a kill; check it): {k}", flush=True)
    survived = [k for k, v in status.items() if v not in KILLED and v != "not checked"]
    if survivors:
        for k in survived:
            diff = subprocess.run([mutmut, "show", k], cwd=root, env=env, capture_output=True, text=True).stdout
            print(diff)
    if keep is None:
        shutil.rmtree(root, ignore_errors=True)
    return killed, len(survived), survived


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("modules", nargs="*", metavar="MODULE", help=f"some of {', '.join(TARGETS)} (default: all)")
    ap.add_argument("--rev", help="test the files of this commit instead of the working tree")
    ap.add_argument("--tests-rev", help="with the tests/ folder of this commit (the code's tests before new ones)")
    ap.add_argument("--survivors", action="store_true", help="print the diff of every surviving mutant")
    ap.add_argument("--keep", type=Path, help="keep the scratch copies under this folder")
    ap.add_argument("--sample", type=int, help="test only N evenly spaced mutants per module (for modules whose tests train models)")
    args = ap.parse_args()
    unknown = sorted(set(args.modules) - set(TARGETS))
    if unknown:
        ap.error(f"unknown module(s) {unknown}; known: {', '.join(TARGETS)}")
    rows = []
    for name in args.modules or list(TARGETS):
        killed, survived, names = run_one(name, TARGETS[name], args.rev, args.survivors, args.keep, args.sample, args.tests_rev)
        total = killed + survived
        rate = 100.0 * killed / total if total else float("nan")
        rows.append((name, killed, total, rate))
        print(f"{name}: {killed}/{total} killed = {rate:.1f} %", flush=True)
        for k in names:
            print(f"   survived: {k}")
    print("\nmodule           killed / mutants   kill rate")
    for name, killed, total, rate in rows:
        print(f"{name:16s} {killed:6d} / {total:<7d}   {rate:5.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
