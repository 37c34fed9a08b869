"""Several annotators on one image: the label rule drives the stored region labels; Dice is exported."""

import csv

from mammo_annotator.core.types import RegionLabel
from mammo_annotator.services import agreement as agr
from mammo_annotator.services import annotations as svc
from mammo_annotator.store import regions as region_store
from tests.helpers import add_blank_image, square


def _labels(project, image_id):
    with project.session() as s:
        return region_store.region_set(s, region_store.grid_id_for(s, image_id)).labels


def test_rule_changes_the_region_labels_and_agreement_is_exported(project, tmp_path):
    image_id = add_blank_image(project)
    svc.save_contour(project, image_id, square(100, 100, 300), annotator="dr.a")
    svc.save_contour(project, image_id, square(250, 100, 300), annotator="dr.b")
    union = _labels(project, image_id)
    assert agr.set_label_rule(project, agr.rule_from_text("reference:dr.a")) == 1
    only_a = _labels(project, image_id)
    agr.set_label_rule(project, agr.rule_from_text("reference:dr.b"))
    only_b = _labels(project, image_id)
    assert only_a != only_b
    n_m = lambda labels: sum(lab == RegionLabel.M.value for lab in labels)  # noqa: E731
    assert n_m(union) >= max(n_m(only_a), n_m(only_b))
    agr.set_label_rule(project, agr.rule_from_text("majority"))  # two annotators: a tie is ignored unless both agree
    assert n_m(_labels(project, image_id)) <= min(n_m(only_a), n_m(only_b))
    svc.save_contour(project, image_id, square(600, 600, 40), annotator="dr.c")  # the rule holds for new edits too
    assert agr.label_rule(project).rule == "majority"

    ag = agr.image_agreement(project, image_id)
    assert ag.annotators == ("dr.a", "dr.b", "dr.c")
    pairs = {(x, y): d for x, y, d in ag.pairs}
    assert abs(pairs[("dr.a", "dr.b")] - 0.5) < 1e-9  # 2 * 150*300 / (2 * 300*300)
    assert pairs[("dr.a", "dr.c")] == 0.0
    path, n = agr.export_agreement_csv(project, tmp_path / "agreement.csv")
    rows = list(csv.DictReader(open(path)))
    assert n == 3 and len(rows) == 3 and rows[0]["label_rule"] == "majority"
    assert rows[0]["patient"] != "P1"  # pseudonymised by default
    assert {(r["annotator_1"], r["annotator_2"]) for r in rows} == set(pairs)


def test_cli_label_rule_and_agreement(project, tmp_path, capsys):
    from mammo_annotator.cli import main

    image_id = add_blank_image(project)
    svc.save_contour(project, image_id, square(100, 100, 300), annotator="dr.a")
    svc.save_contour(project, image_id, square(100, 100, 300), annotator="dr.b")
    assert main(["label-rule", "--db", project.target, "reference:dr.b"]) == 0
    assert main(["label-rule", "--db", project.target, "vote"]) == 2
    assert main(["label-rule", "--db", project.target]) == 0
    assert main(["agreement", "--db", project.target, "--out", str(tmp_path / "a.csv"), "--keep-ids"]) == 0
    out = capsys.readouterr()
    assert "reference annotator dr.b (1 images relabelled)" in out.out and "unknown label rule" in out.err
    assert "mean Dice 1.000" in out.out and (tmp_path / "a.csv").read_text().count("\n") == 2
