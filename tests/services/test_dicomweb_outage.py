"""A PACS import into a shared PostgreSQL project whose server is shut down inside the second
image: the import stops there as a file import does (the instances left are reported, not
retrieved to fail one by one), and a re-run once the server is back finishes it. The PACS is a
real local HTTP server (``HostilePacs``) serving three small mammograms."""

from __future__ import annotations


from mammo_annotator.services.dicomweb import import_dicomweb
from mammo_annotator.services.importing import NOT_IMPORTED
from mammo_annotator.services.project import open_project
from tests.pg_outage import halted_inside_second_image, private_pg, resume  # noqa: F401 - the fixture
from tests.services.test_dicomweb_hostile2 import MULTIPART, answer, good_instance, multipart, pacs, uid  # noqa: F401


def _three_studies(pacs, tmp_path) -> list[str]:
    """Three studies of one MG instance each; their 'study/series/sop' keys in query order."""
    keys, studies = [], []
    for n in (1, 2, 3):
        study, series, sop, data = good_instance(tmp_path, n)
        studies.append(uid("0020000D", study))
        pacs.json(f"/studies/{study}/series", [{**uid("0020000E", series), "00080060": {"vr": "CS", "Value": ["MG"]}}])
        pacs.json(f"/studies/{study}/series/{series}/instances", [uid("00080018", sop)])
        pacs.routes[f"/studies/{study}/series/{series}/instances/{sop}"] = (
            lambda h, body=multipart(data): answer(h, 200, MULTIPART, body))
        keys.append(f"{study}/{series}/{sop}")
    pacs.json("/studies", studies)
    return keys


def test_a_server_shut_down_mid_pacs_import_stops_it_and_a_rerun_finishes(private_pg, pacs, tmp_path):
    """Before: every instance left was still retrieved from the PACS and failed on its own
    ('not stored in ...'), each after waiting for the database; no 'stopped' in the summary."""
    keys = _three_studies(pacs, tmp_path)
    project = open_project(private_pg.new_database(), create=True)
    with halted_inside_second_image(private_pg, project.engine) as images_written:
        report = import_dicomweb(project, pacs.url, store=tmp_path / "store")
    assert "halt" in images_written
    assert len(report.imported) == 1
    (second, in_flight), (third, why) = report.failed  # every instance accounted for
    assert second == str(tmp_path / "store" / f"{keys[1].split('/')[-1]}.dcm")  # retrieved: named by its file, as imports are
    assert third == f"pacs:{keys[2]}" and why == NOT_IMPORTED
    assert project.location in in_flight and "terminating connection" in in_flight
    assert not any(p.endswith(keys[2].split("/")[-1]) for p in pacs.seen)  # not retrieved only to fail
    assert project.location in report.stopped and "run the import again" in report.summary()

    resume(private_pg)
    again = import_dicomweb(project, pacs.url, store=tmp_path / "store")
    assert again.failed == [] and len(again.imported) == 2 and [i for _, i in again.duplicates] == report.imported
    project.close()
