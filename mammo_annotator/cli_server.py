"""Commands for team use: ``migrate`` (a project to / from a server), ``import-dicomweb`` and
``fetch-pacs`` (a PACS)."""

from __future__ import annotations

from .cli_model import id_number, project_text
from .core.errors import MammoError


def cmd_migrate(args, open_project, progress_bar) -> int:
    from .services.migrate import migrate_project

    bar = progress_bar("migrate")
    try:
        report = migrate_project(args.source, args.dest, progress=bar)
    finally:
        bar.close()
    print(report.summary())
    return 0


def cmd_import_dicomweb(args, open_project, progress_bar) -> int:
    from .cli import _print_report, apply_grid, grid_from_args
    from .services.dicomweb import import_dicomweb
    from .services.pacs_session import auth_description

    from .services.pacs_session import check_url

    grid = grid_from_args(args)
    check_url(args.url)  # a typo must not leave a new, empty project behind
    project = open_project(args, create=True)
    apply_grid(project, grid)
    print(f"PACS {args.url} ({auth_description()})")
    bar = progress_bar("import-dicomweb")
    try:
        report = import_dicomweb(project, args.url, studies=args.study or (), modality=args.modality or None,
                                 since=args.since, store=args.store, progress=bar)
    finally:
        bar.close()
    _print_report(report)
    return 0 if report.imported or not report.failed else 1


def cmd_fetch_pacs(args, open_project, progress_bar) -> int:
    from .services.pacs_session import auth_description
    from .services.pacs_fetch import cache_dir, fetch_missing

    project = open_project(args)
    print(f"cache {cache_dir(args.cache)} ({auth_description()})")
    return _reported(progress_bar, "fetch-pacs",
                     lambda bar: fetch_missing(project, args.image or (), cache=args.cache, progress=bar),
                     lambda failure: failure[1])


def _reported(progress_bar, title: str, work, describe) -> int:
    """Run ``work(bar)`` under a progress bar, print its report's summary and one line per failure
    (``describe(item)``); 1 when anything failed."""
    bar = progress_bar(title)
    try:
        report = work(bar)
    finally:
        bar.close()
    print(report.summary())
    for item in report.failed:
        print(f"  FAILED  {describe(item)}")
    return 1 if report.failed else 0


def stow_export(args, result, progress_bar) -> int:
    """After ``export seg|sr --stow URL``: send what the export wrote; 1 when any was refused."""
    from .services.stow import stow_files

    files = sorted(result.path.glob(f"*_{result.format}.dcm"))
    if not files:
        raise MammoError(f"{args.stow}: nothing to send (no {result.format.upper()} was written)")
    return _reported(progress_bar, "STOW-RS", lambda bar: stow_files(args.stow, files, progress=bar),
                     lambda failure: f"{failure[0]}: {failure[1]}")


def cmd_label_rule(args, open_project, progress_bar) -> int:
    from .services import agreement as agr

    project = open_project(args)
    if args.rule:
        try:
            rule = agr.rule_from_text(args.rule)
        except ValueError as exc:
            raise MammoError(str(exc)) from exc
        n = agr.set_label_rule(project, rule)
        print(f"label rule: {rule.describe()} ({n} images relabelled)")
    else:
        print(f"label rule: {agr.label_rule(project).describe()}")
    return 0


def cmd_agreement(args, open_project, progress_bar) -> int:
    from .services import agreement as agr

    project = open_project(args)
    rows = agr.agreement(project)
    for row in rows:
        pairs = ", ".join(f"{x}/{y} {d:.3f}" for x, y, d in row.pairs)
        print(f"image {row.image_id}: mean Dice {row.mean_dice:.3f} ({pairs})")
    if not rows:
        print("no image has malignant outlines from two annotators")
    if args.out:
        path, n = agr.export_agreement_csv(project, args.out, keep_ids=args.keep_ids)
        print(f"{n} pairs written to {path}")
    return 0


def register(sub, with_db, open_project, progress_bar) -> None:
    p = sub.add_parser("migrate", help="copy a whole project into another, empty database (e.g. SQLite file -> PostgreSQL)")
    p.add_argument("--from", dest="source", required=True, type=project_text, help="the project to copy: a file or a SQLAlchemy URL")
    p.add_argument("--to", dest="dest", required=True, type=project_text,
                   help="the empty destination: postgresql+psycopg://user@host/db (password from PGPASSWORD / ~/.pgpass) or a new file")
    p.set_defaults(func=lambda args: cmd_migrate(args, open_project, progress_bar))

    p = with_db(sub.add_parser("import-dicomweb", help="query a PACS (QIDO-RS) and import its mammograms (WADO-RS)"))
    p.add_argument("url", help="the DICOMweb root, e.g. https://pacs.example/dicom-web (credentials from MAMMO_DICOMWEB_* variables)")
    p.add_argument("--study", action="append", help="a StudyInstanceUID to import (repeatable; default: query the PACS)")
    p.add_argument("--modality", default="MG", help="only series of this modality (default MG; empty for all)")
    p.add_argument("--since", help="only studies from this date on (2024-05-01)")
    p.add_argument("--store", help="folder for the retrieved instances (default: beside the project)")
    p.add_argument("--window", help="region window size for a new project: pixels (224) or millimetres (22.4mm)")
    p.add_argument("--stride", help="region stride: pixels or millimetres (default: half the window)")
    p.set_defaults(func=lambda args: cmd_import_dicomweb(args, open_project, progress_bar))

    p = with_db(sub.add_parser("fetch-pacs", help="retrieve the images from a PACS whose file this machine lacks into "
                               "the user cache (verified by content hash), e.g. before working offline"))
    p.add_argument("--image", type=id_number, action="append", help="only this image id (repeatable; default: every PACS image)")
    p.add_argument("--cache", help="cache root instead of MAMMO_ANNOTATOR_CACHE / the user cache folder")
    p.set_defaults(func=lambda args: cmd_fetch_pacs(args, open_project, progress_bar))

    p = with_db(sub.add_parser("label-rule", help="which annotators' contours make the region labels: union, majority "
                               "or reference:NAME (shown without an argument)"))
    p.add_argument("rule", nargs="?", help="union | majority | reference:NAME")
    p.set_defaults(func=lambda args: cmd_label_rule(args, open_project, progress_bar))

    p = with_db(sub.add_parser("agreement", help="Dice of the annotators' malignant outlines per image"))
    p.add_argument("--out", help="also write them to this CSV")
    p.add_argument("--keep-ids", action="store_true", help="original image / patient ids instead of pseudonyms")
    p.set_defaults(func=lambda args: cmd_agreement(args, open_project, progress_bar))
