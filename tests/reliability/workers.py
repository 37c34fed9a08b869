"""Child processes of the reliability tests: run with ``python -m tests.reliability.workers CMD ...``
from the repository root. Each prints one line per acknowledged (committed) step, flushed, so
the parent knows exactly what a SIGKILL may not take away.

``zygote-saves`` and ``zygote-retrain`` import everything once, then fork a fresh child per
kill (no database connection is open at the fork), so dozens of kills fit in seconds.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _square(rng: random.Random, width: int, height: int) -> tuple[float, float, float]:
    """A square well inside the image (stored as drawn, no repair), so its outline can be checked."""
    side = rng.uniform(10, min(width, height) / 4)
    return rng.uniform(1, width - side - 1), rng.uniform(1, height - side - 1), side


def save_loop(db: str, seed: int, out, limit: int | None = None) -> None:
    """Save contours forever (or ``limit`` times), one ack line after each commit."""
    from mammo_annotator.services.annotations import save_contour
    from mammo_annotator.services.project import Project
    from mammo_annotator.store import images as image_store

    rng = random.Random(seed)
    project = Project(db)
    with project.session() as s:
        images = [(im.id, im.width, im.height) for im in image_store.list_images(s)]
    n = 0
    while limit is None or n < limit:
        image_id, width, height = rng.choice(images)
        x0, y0, side = _square(rng, width, height)
        res = save_contour(project, image_id, [[x0, y0], [x0 + side, y0], [x0 + side, y0 + side], [x0, y0 + side]], f"w{seed}")
        out.write(f"ack {res.annotation_id} {image_id} {x0:.3f} {y0:.3f} {side:.3f}\n")
        out.flush()
        n += 1
    project.close()


def read_loop(db: str, seconds: float) -> None:
    """Read the project (as the CLI's info and models do) until ``seconds`` pass; one line per read."""
    from mammo_annotator.services.info import project_info
    from mammo_annotator.services.model_history import list_versions
    from mammo_annotator.services.project import open_project

    end = time.monotonic() + seconds
    project = open_project(db, read_only=True)
    while time.monotonic() < end:
        info = project_info(project)
        versions = list_versions(project)
        print(f"read {info['images']} {len(versions)}", flush=True)
    project.close()


def _fork_and_kill(run_child, kills: int, delay: tuple[float, float], seed: int,
                   from_first_ack: bool = False) -> list[str]:
    """Fork ``kills`` children, SIGKILL each after a random delay (counted from its first ack line
    with ``from_first_ack``); returns every line they acked."""
    rng = random.Random(seed)
    lines: list[str] = []
    for k in range(kills):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: no connection was open in the parent
            os.close(r)
            try:
                run_child(k, os.fdopen(w, "w", buffering=1))
            finally:
                os._exit(0)
        os.close(w)
        with os.fdopen(r) as fh:
            # the delay counts from the child's first ack: on a loaded machine its imports and first
            # commit can take longer than the whole delay, and the kill would land before any save
            first = fh.readline() if from_first_ack else ""
            time.sleep(rng.uniform(*delay))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            lines.extend(line.strip() for line in [first, *fh] if line.strip())
    return lines


def zygote_saves(db: str, kills: int, seed: int) -> None:
    import mammo_annotator.services.annotations  # noqa: F401  (imports paid once, before the forks)
    import mammo_annotator.services.project  # noqa: F401

    lines = _fork_and_kill(lambda k, out: save_loop(db, seed * 1000 + k, out), kills, (0.05, 0.4), seed,
                           from_first_ack=True)
    print(json.dumps({"kills": kills, "acks": lines}))


def train_once(db: str, out) -> None:
    from mammo_annotator.services.project import Project
    from mammo_annotator.services.training import TrainingRequest, run_training

    project = Project(db)
    outcome = run_training(project, TrainingRequest(epochs=8, num_threads=1, activate="always", augment=()))
    out.write(f"trained {outcome.version_id} {int(outcome.activated)}\n")
    out.flush()
    project.close()


def zygote_retrain(db: str, kills: int, seed: int, low: float, high: float) -> None:
    import torch

    torch.set_num_threads(1)
    import mammo_annotator.services.training  # noqa: F401

    lines = _fork_and_kill(lambda k, out: train_once(db, out), kills, (low, high), seed)
    print(json.dumps({"kills": kills, "acks": lines}))


def hold_instance(db: str, seconds: float) -> None:
    """An app instance: takes the project's lock, says so, keeps it open."""
    from mammo_annotator.services.project_guard import open_instance

    project, note = open_instance(db)
    print(f"holding {os.getpid()} read_only={project.read_only} note={note}", flush=True)
    time.sleep(seconds)
    project.close()


def try_instance(db: str) -> None:
    """A second app instance: prints whether it got the project read-only, and the message."""
    from mammo_annotator.services.project_guard import open_instance

    project, note = open_instance(db)
    print(json.dumps({"read_only": project.read_only, "note": note}), flush=True)
    project.close()


def start_app(dest: str, tag: str, t0: float) -> None:
    """What the app does at start-up without --db: copy the example (once) and open it, then edit."""
    from mammo_annotator.services.project import copy_example
    from mammo_annotator.services.project_guard import open_instance

    while time.time() < t0:  # all starters go at the same moment
        pass
    project, note = open_instance(copy_example(dest))
    if not project.read_only:
        for i in range(5):
            project.set_setting(f"k-{tag}-{i}", "x" * 3000)
            print(f"ack k-{tag}-{i}", flush=True)
    print(f"opened read_only={project.read_only}", flush=True)
    project.close()


def main(argv: list[str]) -> None:
    cmd, args = argv[0], argv[1:]
    if cmd == "saver":
        save_loop(args[0], int(args[1]), sys.stdout, int(args[2]) if len(args) > 2 else None)
    elif cmd == "reader":
        read_loop(args[0], float(args[1]))
    elif cmd == "zygote-saves":
        zygote_saves(args[0], int(args[1]), int(args[2]))
    elif cmd == "zygote-retrain":
        zygote_retrain(args[0], int(args[1]), int(args[2]), float(args[3]), float(args[4]))
    elif cmd == "hold":
        hold_instance(args[0], float(args[1]))
    elif cmd == "try":
        try_instance(args[0])
    elif cmd == "start-app":
        start_app(args[0], args[1], float(args[2]))
    else:
        raise SystemExit(f"unknown worker command {cmd}")


if __name__ == "__main__":
    main(sys.argv[1:])
