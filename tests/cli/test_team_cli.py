"""The command line with a server project and the --stow option's checks."""

from mammo_annotator.cli import main


def test_info_on_a_server_project_and_password_in_url_refused(pg_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    assert main(["info", "--db", pg_url, "--json"]) == 0
    out = capsys.readouterr().out
    assert '"images": 0' in out and pg_url in out
    with_password = pg_url.replace("mammo@", "mammo:hunter2@")
    assert main(["info", "--db", with_password]) == 2
    err = capsys.readouterr().err
    assert "PGPASSWORD or ~/.pgpass" in err and "hunter2" not in err


def test_stow_option_checks(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MAMMO_ANNOTATOR_CACHE", str(tmp_path / "cache"))
    db = str(tmp_path / "p.sqlite")
    assert main(["info", "--db", db]) == 2  # no such project yet
    from mammo_annotator.services.project import open_project

    open_project(db, create=True).close()
    assert main(["export", "--db", db, "labels", "--stow", "http://127.0.0.1:1/dicom-web"]) == 2
    assert "use it with export seg or export sr" in capsys.readouterr().err
    assert main(["export", "--db", db, "seg"]) == 2
    assert "--out is required" in capsys.readouterr().err
    assert main(["export", "--db", db, "seg", "--stow", "http://127.0.0.1:1/dicom-web"]) == 2
    assert "nothing to send" in capsys.readouterr().err
