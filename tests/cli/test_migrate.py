"""``mammo-annotator migrate``: a project copied whole to a real PostgreSQL server and back."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mammo_annotator.cli import main
from mammo_annotator.services import annotations as svc
from mammo_annotator.services.project import open_project
from mammo_annotator.store import models as model_store
from mammo_annotator.store.engine import open_database
from mammo_annotator.store.schema import Base
from tests.helpers import add_blank_image, square


def _dump(target) -> dict[str, list[tuple]]:
    engine, _ = open_database(target)
    try:
        with engine.connect() as c:
            out = {}
            for t in Base.metadata.sorted_tables:
                rows = c.execute(select(t).order_by(*t.primary_key.columns)).all()
                out[t.name] = [tuple(v.replace(tzinfo=None) if hasattr(v, "tzinfo") and v.tzinfo else v for v in r) for r in rows]
            return out
    finally:
        engine.dispose()


@pytest.fixture
def filled(tmp_path, monkeypatch):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "p.sqlite"
    p = open_project(path, create=True)
    a, b = add_blank_image(p, "P1"), add_blank_image(p, "P2", laterality="R")
    res = svc.save_contour(p, a, square(300, 300, 120), annotator="dr.a")
    svc.edit_contour(p, res.annotation_id, "dr.b", points=square(310, 300, 120))
    svc.save_contour(p, b, square(100, 200, 90), annotator="dr.b")
    svc.set_no_malignant(p, add_blank_image(p, "P3"), "dr.a")
    with p.session() as s:
        vid = model_store.add_model_version(s, "SS", "hc", "g", {"lr": 1}, {}, {"auc": 0.5}, bytes(range(256)) * 40)
        model_store.activate(s, vid)
    p.set_setting("alpha", 0.4)
    p.close()
    return path


def test_round_trip_sqlite_postgresql_sqlite(filled, pg_url, tmp_path, capsys):
    assert main(["migrate", "--from", str(filled), "--to", pg_url]) == 0
    assert "rows copied" in capsys.readouterr().out
    back = tmp_path / "back.sqlite"
    assert main(["migrate", "--from", pg_url, "--to", str(back)]) == 0
    original, on_server, returned = _dump(filled), _dump(pg_url), _dump(back)
    assert original == returned
    assert {t: len(r) for t, r in on_server.items()} == {t: len(r) for t, r in original.items()}
    assert len(original["annotations"]) == 2 and len(original["annotation_revisions"]) == 3
    assert len(original["region_labels"]) > 0

    p = open_project(pg_url)  # the server project works on: new ids follow the copied ones
    try:
        image_id = add_blank_image(p, "P9")
        assert image_id == max(r[0] for r in original["images"]) + 1
        svc.save_contour(p, image_id, square(50, 50, 60), annotator="dr.c")
        assert p.alpha() == 0.4
    finally:
        p.close()


def test_refuses_a_destination_that_holds_data(filled, pg_url, capsys):
    assert main(["migrate", "--from", str(filled), "--to", pg_url]) == 0
    assert main(["migrate", "--from", str(filled), "--to", pg_url]) == 2
    err = capsys.readouterr().err
    assert "already holds data" in err and "images" in err


def test_a_source_missing_a_table_stops_with_one_line_and_keeps_nothing(filled, tmp_path, capsys):
    """A damaged source (a table gone) surfaced as an unexpected OperationalError."""
    import sqlite3

    con = sqlite3.connect(filled)
    con.execute("DROP TABLE predictions")
    con.commit()
    con.close()
    dest = tmp_path / "copy.sqlite"
    capsys.readouterr()
    assert main(["migrate", "--from", str(filled), "--to", str(dest)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "the copy stopped and nothing was kept" in err and "predictions" in err
    assert all(n == 0 for n in _counts(dest).values())


def _counts(target) -> dict[str, int]:
    return {name: len(rows) for name, rows in _dump(str(target)).items()}
