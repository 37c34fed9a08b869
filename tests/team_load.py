"""N annotators as N processes on one project while retraining runs: the workload shared by the
concurrency test and ``benchmarks/bench_team.py``.

Each annotator loops: pick one of a few shared images, read its revision, pause as a reader
would, then save a new contour or move one of its own, passing the revision it read. A refusal
(``StaleImageError``) is counted and the annotator moves on. Afterwards the database must hold
exactly what every annotator was told was saved (nothing lost, nothing extra), and each image's
revision must have moved once per accepted write (no update lost between machines).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import time
from dataclasses import dataclass

from mammo_annotator.core.contours import check_contour
from mammo_annotator.store.images import StaleImageError


def _square(rng: random.Random, w: int, h: int) -> list[list[float]]:
    side = rng.randint(30, 90)
    x, y = rng.randint(5, w - side - 5), rng.randint(5, h - side - 5)
    return [[x, y], [x + side, y], [x + side, y + side], [x, y + side]]


def annotator(target: str, name: str, image_ids: list[int], seconds: float, seed: int, start, results) -> None:
    """One annotator process (spawned); puts its tally and what it saved on ``results``."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from mammo_annotator.services import annotations as svc
    from mammo_annotator.services.project import open_project
    from mammo_annotator.services.viewing import image_record

    project = open_project(target)
    rng = random.Random(seed)
    saved: dict[int, tuple[int, tuple]] = {}  # annotation id -> (image id, polygon as stored)
    tally = {"name": name, "saves": 0, "edits": 0, "conflicts": 0, "errors": [], "accepted": {}}
    start.wait()
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        image_id = rng.choice(image_ids)
        record = image_record(project, image_id)
        time.sleep(rng.uniform(0.0, 0.01))  # looking at the image: others may save meanwhile
        points = _square(rng, record.width, record.height)
        polygon = check_contour(points, record.width, record.height).polygon.points
        own = [a for a, (i, _) in saved.items() if i == image_id]
        try:
            if own and rng.random() < 0.4:
                aid = rng.choice(own)
                svc.edit_contour(project, aid, name, points=points, expected_revision=record.revision)
                saved[aid] = (image_id, polygon)
                tally["edits"] += 1
            else:
                res = svc.save_contour(project, image_id, points, annotator=name, expected_revision=record.revision)
                saved[res.annotation_id] = (image_id, polygon)
                tally["saves"] += 1
            tally["accepted"][image_id] = tally["accepted"].get(image_id, 0) + 1
        except StaleImageError:
            tally["conflicts"] += 1
        except Exception as exc:  # reported, never hidden: the test fails on any
            tally["errors"].append(f"{type(exc).__name__}: {exc}")
    tally["seconds"] = time.monotonic() - t0
    tally["saved"] = saved
    project.close()
    results.put(tally)


def trainer(target: str, holder: str, start, results) -> None:
    """A retraining job on its own "machine": the same TrainingQueue the app runs."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from mammo_annotator.services.jobs import TrainingQueue
    from mammo_annotator.services.project import open_project
    from mammo_annotator.services.training import TrainingRequest

    project = open_project(target)
    queue = TrainingQueue(project, auto_after=None, request=TrainingRequest(epochs=1, num_threads=1), holder=holder)
    start.wait()
    t0 = time.monotonic()
    job = queue.submit("concurrency test")
    queue.wait(600)
    results.put({"holder": holder, "state": job.state.value, "error": job.error, "seconds": time.monotonic() - t0,
                 "version": job.outcome.version_id if job.outcome else None})
    queue.close()
    project.close()


@dataclass
class LoadResult:
    annotators: int
    seconds: float
    saves: int
    edits: int
    conflicts: int
    lost: int
    extra: int
    revision_mismatches: int
    errors: list[str]
    trainers: list[dict]

    @property
    def writes_per_s(self) -> float:
        return (self.saves + self.edits) / self.seconds if self.seconds else 0.0

    def lines(self) -> list[str]:
        done = [t for t in self.trainers if t["state"] == "done"]
        refused = [t for t in self.trainers if t["error"] and "retraining runs on" in t["error"]]
        return [
            f"annotators {self.annotators}, {self.seconds:.1f} s: {self.saves} contours saved + {self.edits} edited "
            f"= {self.writes_per_s:.1f} accepted writes/s",
            f"stale edits refused: {self.conflicts}; annotations lost: {self.lost}; unexpected extra: {self.extra}; "
            f"images whose revision missed a write: {self.revision_mismatches}; errors: {len(self.errors)}",
            f"retraining: {len(done)} job ran ({', '.join(format(t['seconds'], '.1f') + ' s' for t in done)}), "
            f"{len(refused)} refused while it ran",
        ]


def run_load(target: str, image_ids: list[int], n_annotators: int, seconds: float, trainers: int = 2) -> LoadResult:
    """Start the annotators (and ``trainers`` retraining processes) together; check the database after."""
    from mammo_annotator.services.project import open_project
    from mammo_annotator.store import annotations as ann_store
    from mammo_annotator.store import images as image_store

    ctx = mp.get_context("spawn")
    start, results = ctx.Barrier(n_annotators + trainers), ctx.Queue()
    with_revisions = open_project(target)
    with with_revisions.session() as s:
        before = {i: image_store.get_image(s, i).revision for i in image_ids}
        live_before = {a.id for a in ann_store.list_annotations(s)}
    procs = [ctx.Process(target=annotator, args=(target, f"dr.{k}", image_ids, seconds, k, start, results)) for k in range(n_annotators)]
    procs += [ctx.Process(target=trainer, args=(target, f"trainer{k}@host{k} pid {k}", start, results)) for k in range(trainers)]
    for p in procs:
        p.start()
    outs = [results.get(timeout=seconds + 900) for _ in procs]
    for p in procs:
        p.join(60)
    tallies = [o for o in outs if "name" in o]
    with with_revisions.session() as s:
        live = {a.id: a for a in ann_store.list_annotations(s)}
        after = {i: image_store.get_image(s, i).revision for i in image_ids}
    with_revisions.close()
    promised = {aid: v for t in tallies for aid, v in t["saved"].items()}
    lost = sum(1 for aid, (image_id, poly) in promised.items()
               if aid not in live or live[aid].image_id != image_id or live[aid].polygon.points != poly)
    extra = len(set(live) - set(promised) - live_before)
    accepted = {i: sum(t["accepted"].get(i, 0) for t in tallies) for i in image_ids}
    mismatches = sum(1 for i in image_ids if after[i] - before[i] != accepted[i])
    return LoadResult(
        annotators=n_annotators, seconds=max(t["seconds"] for t in tallies),
        saves=sum(t["saves"] for t in tallies), edits=sum(t["edits"] for t in tallies),
        conflicts=sum(t["conflicts"] for t in tallies), lost=lost, extra=extra, revision_mismatches=mismatches,
        errors=[e for t in tallies for e in t["errors"]], trainers=[o for o in outs if "holder" in o],
    )
