"""The soak of issue 12: the services driven as the GUI drives them, under load and faults.

For ``seconds``: an app instance (it holds the project's lock) saves contours as an annotator
does while its training queue retrains in the background (auto-triggered by the annotations,
plus a manual retrain now and then); other processes read with the CLI (``info``, ``models``);
a second app instance tries to open the project; extra writer processes are SIGKILLed in the
middle of their saves. Then it checks: full integrity check ok, every acknowledged save and
every stored version present, the active version whole. ``benchmarks/bench_soak.py`` runs it
for minutes and prints the figures; ``test_soak.py`` runs a short one.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .procs import acked_saves, cli, integrity, missing_saves, popen_worker


@dataclass
class SoakResult:
    seconds: float = 0.0
    saves: int = 0
    save_errors: list[str] = field(default_factory=list)
    retrains_done: int = 0
    retrains_failed: list[str] = field(default_factory=list)
    cli_reads: int = 0
    cli_failures: list[str] = field(default_factory=list)
    second_instance: int = 0
    second_instance_wrong: list[str] = field(default_factory=list)
    kills: int = 0
    killed_writer_acks: int = 0
    integrity: str = ""
    missing: list[int] = field(default_factory=list)
    versions_missing: list[int] = field(default_factory=list)
    active_ok: bool = False

    @property
    def ok(self) -> bool:
        return (self.integrity == "ok" and not self.missing and not self.versions_missing and self.active_ok
                and not self.save_errors and not self.cli_failures and not self.second_instance_wrong)

    def lines(self) -> list[str]:
        return [
            f"ran {self.seconds:.0f} s",
            f"load held    {self.saves} contour saves by the app ({self.saves / max(self.seconds, 1e-9):.1f}/s), "
            f"{self.retrains_done} background retrains, {self.cli_reads} CLI reads (info/models), "
            f"{self.second_instance} second-instance opens",
            f"faults       {self.kills} writer processes killed by SIGKILL mid-save "
            f"({self.killed_writer_acks} of their saves acknowledged before the kills)",
            f"errors       saves {len(self.save_errors)}, retrains failed {len(self.retrains_failed)}, "
            f"CLI {len(self.cli_failures)}, second instance not read-only {len(self.second_instance_wrong)}",
            f"integrity    {self.integrity}",
            f"lost         saves {len(self.missing)}, versions {len(self.versions_missing)}; "
            f"active version whole: {self.active_ok}",
        ]


def build_project(folder: Path) -> Path:
    """A synthetic project with cached features and a first model (a template is copied once)."""
    from tests.helpers import synthetic_project_file

    from mammo_annotator.services.project import open_project
    from mammo_annotator.services.training import TrainingRequest, run_training

    template = synthetic_project_file(folder, n_patients=6, seed=5, size=(384, 320))
    project = open_project(template)
    run_training(project, TrainingRequest(epochs=8, num_threads=1, activate="always", augment=()))
    project.close()
    path = folder / "soak.sqlite"
    shutil.copy(template, path)
    return path


def run_soak(path: Path, seconds: float, seed: int = 0, retrain_every_s: float = 20.0,
             kill_every_s: float = 4.0, cli_pause_s: float = 0.5) -> SoakResult:
    from mammo_annotator.ml import modelio
    from mammo_annotator.services.annotations import save_contour
    from mammo_annotator.services.jobs import TrainingQueue
    from mammo_annotator.services.project import open_project
    from mammo_annotator.services.project_guard import open_instance
    from mammo_annotator.services.training import TrainingRequest
    from mammo_annotator.store import images as image_store
    from mammo_annotator.store import models as model_store

    res = SoakResult()
    rng = random.Random(seed)
    project, note = open_instance(path)
    assert not project.read_only, note
    queue = TrainingQueue(project, auto_after=4,
                          request=TrainingRequest(warm_start=True, num_threads=1, epochs=8, augment=()))
    with project.session() as s:
        images = [(im.id, im.width, im.height) for im in image_store.list_images(s)]
    acked: dict[int, tuple[int, float, float, float]] = {}
    stop = threading.Event()
    t0 = time.monotonic()

    def annotator() -> None:  # the GUI thread: a contour every ~100 ms
        while not stop.is_set():
            image_id, w, h = rng.choice(images)
            side = rng.uniform(10, min(w, h) / 4)
            x0, y0 = rng.uniform(1, w - side - 1), rng.uniform(1, h - side - 1)
            try:
                r = save_contour(project, image_id, [[x0, y0], [x0 + side, y0], [x0 + side, y0 + side], [x0, y0 + side]],
                                 "soak")
                acked[r.annotation_id] = (image_id, x0, y0, side)
                res.saves += 1
            except Exception as exc:
                res.save_errors.append(f"{type(exc).__name__}: {exc}")
            stop.wait(0.1)

    def cli_reader() -> None:  # other processes read the same file with the CLI
        k = 0
        while not stop.is_set():
            cmd = ("info", "models")[k % 2]
            k += 1
            r = cli(cmd, "--db", path, timeout=120)
            if r.returncode == 0:
                res.cli_reads += 1
            else:
                res.cli_failures.append(f"{cmd}: {r.stderr.strip()[-300:]}")
            if k % 4 == 1:  # now and then a second app instance tries to open it
                p = popen_worker("try", path)
                out, err = p.communicate(timeout=120)
                res.second_instance += 1
                try:
                    got = json.loads(out.strip().splitlines()[-1])
                    if not got["read_only"] or "another Mammo Annotator instance" not in (got["note"] or ""):
                        res.second_instance_wrong.append(out)
                except (ValueError, IndexError, KeyError):
                    res.second_instance_wrong.append(err[-300:])
            stop.wait(cli_pause_s)

    killed_acks: list[str] = []

    def killer() -> None:  # another writer dies by SIGKILL in the middle of its saves
        k = 0
        while not stop.is_set():
            p = popen_worker("saver", path, 1000 + k)
            k += 1
            first = p.stdout.readline()  # it is saving now: the kill lands among its transactions
            stop.wait(rng.uniform(kill_every_s * 0.25, kill_every_s))
            p.send_signal(signal.SIGKILL)
            out, _ = p.communicate(timeout=60)
            killed_acks.extend([first, *out.splitlines()])
            res.kills += 1

    threads = [threading.Thread(target=f, name=f.__name__, daemon=True) for f in (annotator, cli_reader, killer)]
    for t in threads:
        t.start()
    next_retrain = time.monotonic() + retrain_every_s / 2
    while time.monotonic() - t0 < seconds:
        if time.monotonic() >= next_retrain:  # Ctrl+R
            queue.submit("soak: requested")
            next_retrain += retrain_every_s
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(180)
    queue.wait(300)
    for job in queue.history:
        if job.state.value == "done" and job.outcome is not None and job.outcome.version_id is not None:
            res.retrains_done += 1
        elif job.state.value == "error":
            res.retrains_failed.append(job.error or "?")
    versions_made = [j.outcome.version_id for j in queue.history if j.outcome is not None and j.outcome.version_id]
    queue.close()
    project.close()
    res.seconds = time.monotonic() - t0

    res.integrity = integrity(path)
    killed = acked_saves(killed_acks)
    res.killed_writer_acks = len(killed)
    acked.update(killed)
    res.missing = missing_saves(path, acked)
    reader = open_project(path, read_only=True)
    try:
        with reader.session() as s:
            ids = {v.id for v in model_store.list_model_versions(s)}
            active = model_store.active_model_id(s)
            blob = model_store.model_weights(s, active) if active is not None else None
    finally:
        reader.close()
    res.versions_missing = [v for v in versions_made if v not in ids]
    try:
        res.active_ok = blob is not None and modelio.from_bytes(blob, f"version {active}") is not None
    except Exception:
        res.active_ok = False
    return res
