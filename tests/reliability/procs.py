"""Helpers of the reliability tests: worker processes, a project of blank images, checks."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def worker(*args: object, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``tests.reliability.workers`` with ``args``; raises on a non-zero exit."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "tests.reliability.workers", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def worker_json(*args: object, timeout: float = 120) -> dict:
    return json.loads(worker(*args, timeout=timeout).stdout.strip().splitlines()[-1])


def popen_worker(*args: object) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "tests.reliability.workers", *map(str, args)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def cli(*args: object, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "mammo_annotator.cli", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def blank_project(path: Path, n_images: int = 6) -> Path:
    """A project of ``n_images`` blank images (no pixel I/O), closed."""
    from mammo_annotator.services.project import open_project
    from tests.helpers import add_blank_image

    project = open_project(path, create=True)
    for i in range(n_images):
        add_blank_image(project, patient=f"P{i // 2}", laterality="LR"[i % 2], size=(700, 700))
    project.close()
    return path


def integrity(path: Path) -> str:
    """PRAGMA integrity_check (full) and foreign_key_check, as one verdict: 'ok' or the problems."""
    con = sqlite3.connect(path)
    try:
        rows = [r[0] for r in con.execute("PRAGMA integrity_check")]
        fks = con.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        con.close()
    verdict = "; ".join(rows)
    return verdict if not fks else f"{verdict}; foreign keys: {fks[:3]}"


def acked_saves(lines: list[str]) -> dict[int, tuple[int, float, float, float]]:
    """annotation id -> (image id, x0, y0, side) for every acknowledged save."""
    out = {}
    for line in lines:
        parts = line.split()
        if parts and parts[0] == "ack":
            out[int(parts[1])] = (int(parts[2]), float(parts[3]), float(parts[4]), float(parts[5]))
    return out


def missing_saves(path: Path, acked: dict[int, tuple[int, float, float, float]]) -> list[int]:
    """Acknowledged annotations absent from the file or stored with another outline."""
    from mammo_annotator.services.project import open_project
    from mammo_annotator.store import annotations as ann_store

    project = open_project(path, read_only=True)
    try:
        with project.session() as s:
            stored = {a.id: a for a in ann_store.list_annotations(s, include_deleted=True)}
    finally:
        project.close()
    missing = []
    for ann_id, (image_id, x0, y0, side) in acked.items():
        a = stored.get(ann_id)
        if a is None or a.image_id != image_id:
            missing.append(ann_id)
            continue
        bx0, by0, bx1, by1 = a.polygon.bounds
        if abs(bx0 - x0) > 0.01 or abs(by0 - y0) > 0.01 or abs(bx1 - bx0 - side) > 0.01:
            missing.append(ann_id)
    return missing


def annotation_count(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT count(*) FROM annotations").fetchone()[0]
    finally:
        con.close()
