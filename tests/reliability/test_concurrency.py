"""Concurrent writers and readers on one project file: saver processes, CLI readers (info,
models), a read-only reader process and in-process service threads, all at once. None sees
"database is locked", every acknowledged save is stored, and the file stays whole."""

from __future__ import annotations

import threading

from mammo_annotator.services.annotations import save_contour
from mammo_annotator.services.project import open_project
from mammo_annotator.store import images as image_store

from .procs import acked_saves, blank_project, cli, integrity, missing_saves, popen_worker

SAVES_PER_WRITER = 40


def test_writers_and_readers_in_parallel_processes_and_threads(tmp_path):
    path = blank_project(tmp_path / "p.sqlite")
    writers = [popen_worker("saver", path, seed, SAVES_PER_WRITER) for seed in (11, 12)]
    reader = popen_worker("reader", path, 8)
    project = open_project(path)  # the services in this process, as the GUI drives them
    with project.session() as s:
        ids = [im.id for im in image_store.list_images(s)]
    local: dict[int, tuple[int, float, float, float]] = {}
    errors: list[str] = []

    def annotate(offset: int) -> None:
        try:
            for i in range(25):
                x0, y0, side = 10.0 + i * 3 + offset, 20.0 + offset, 40.0
                res = save_contour(project, ids[i % len(ids)], [[x0, y0], [x0 + side, y0], [x0 + side, y0 + side],
                                                                [x0, y0 + side]], f"t{offset}")
                local[res.annotation_id] = (res.image_id, x0, y0, side)
        except Exception as exc:  # collected: the assertion below names it
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=annotate, args=(k * 100,)) for k in range(2)]
    for t in threads:
        t.start()
    cli_runs = [cli(cmd, "--db", path) for cmd in ("info", "models", "info")]  # CLI readers meanwhile
    for t in threads:
        t.join(120)
    outs = [w.communicate(timeout=180) for w in writers]
    reads, read_err = reader.communicate(timeout=60)
    project.close()

    assert errors == []
    for w, (out, err) in zip(writers, outs):
        assert w.returncode == 0, err[-2000:]
    assert reader.returncode == 0 and reads.count("read ") > 0, read_err[-2000:]
    for r in cli_runs:
        assert r.returncode == 0 and "locked" not in r.stderr, r.stderr
    acked = acked_saves([line for out, _ in outs for line in out.splitlines()])
    assert len(acked) == 2 * SAVES_PER_WRITER
    acked.update(local)
    assert len(local) == 50
    assert integrity(path) == "ok"
    assert missing_saves(path, acked) == []


def test_a_session_never_crosses_threads(tmp_path):
    """Each thread opens its own connection; one handed to another thread is refused, not shared."""
    from sqlalchemy import text
    from sqlalchemy.exc import ProgrammingError

    path = blank_project(tmp_path / "p.sqlite", n_images=1)
    project = open_project(path)
    seen: dict[str, object] = {}
    with project.engine.connect() as conn:
        conn.execute(text("SELECT 1"))

        def other_thread() -> None:
            with project.engine.connect() as own:
                seen["own"] = own.connection.dbapi_connection
            try:
                conn.execute(text("SELECT 1"))
            except ProgrammingError as exc:
                seen["refused"] = str(exc)

        t = threading.Thread(target=other_thread)
        t.start()
        t.join(30)
        assert seen["own"] is not conn.connection.dbapi_connection
        assert "same thread" in str(seen.get("refused", ""))
    project.close()
