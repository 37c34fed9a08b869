"""The ``export`` and ``import-contours`` commands (registered by ``cli.build_parser``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from .cli_model import id_number, positive_int, project_text
from .core.errors import MammoError

EXPORT_FORMATS = ("labels", "geojson", "coco", "masks", "regions", "predictions", "seg", "sr", "all")


def cmd_export(args, open_project, progress_bar) -> int:
    from .services.export import FORMATS, ExportOptions, export, export_many

    project = open_project(args)
    if args.stow and args.what not in ("seg", "sr"):
        raise MammoError("--stow sends DICOM objects: use it with export seg or export sr")
    if not args.out and not args.stow:
        raise MammoError("--out is required (or --stow URL for seg / sr)")
    tmp = tempfile.TemporaryDirectory(prefix="mammo-stow-") if args.stow and not args.out else None
    args.out = args.out or tmp.name
    options = ExportOptions(keep_ids=args.keep_ids, per_image=args.per_image, model_version=args.model, top_regions=args.top)
    bar = progress_bar(f"export {args.what}")
    try:
        if args.what == "all":
            results = export_many(project, FORMATS, args.out, options, progress=bar)
        else:
            results = [export(project, args.what, args.out, options, progress=bar)]
    finally:
        bar.close()
    for result in results:
        print(result.summary())
        for key, reason in result.skipped:
            print(f"  skipped  {key}: {reason}")
        for key, warning in result.warnings:
            print(f"  warning  {key}: {warning}")
    if not args.keep_ids:
        print("patient and image ids are pseudonymised (use --keep-ids for the originals)")
    if args.stow:
        from .cli_server import stow_export

        try:
            return stow_export(args, results[0], progress_bar)
        finally:
            if tmp is not None:
                tmp.cleanup()
    if args.what != "all" and results[0].files == 0 and results[0].skipped:
        return 1  # every image was skipped: nothing was exported, and scripts should know
    return 0


def cmd_import_contours(args, open_project, progress_bar) -> int:
    from .services.import_contours import import_contours

    project = open_project(args)
    files: list[Path] = []
    for p in map(Path, args.files):
        files.extend(sorted([*p.glob("*.geojson"), *p.glob("*.json")]) if p.is_dir() else [p])
    bar = progress_bar("import contours")
    try:
        report = import_contours(project, files, replace=args.replace, progress=bar)
    finally:
        bar.close()
    print(report.summary())
    for path, reason in report.failed:
        print(f"  FAILED  {path}: {reason}")
    for key in report.unmatched:
        print(f"  not in the project  {key}")
    for key, reason in report.skipped:
        print(f"  skipped  {key}: {reason}")
    for warning in report.warnings:
        print(f"  warning  {warning}")
    return 0 if report.images or not (report.unmatched or report.skipped or report.failed) else 1


def cmd_share_pseudonyms(args, open_project, progress_bar) -> int:
    """Give --db the pseudonym secret of --from, so both projects' exports name a patient alike."""
    import argparse

    from .core.errors import MammoError
    from .services.export.pseudonyms import SECRET_SETTING, project_secret, set_project_secret

    target = open_project(args)
    source = open_project(argparse.Namespace(db=args.source))
    secret = project_secret(source)
    current = target.setting(SECRET_SETTING)
    if current == secret:
        print(f"{target.path} already shares the pseudonym secret of {source.path}")
        return 0
    if current and not args.force:
        raise MammoError(f"{target.path} has its own pseudonym secret; its earlier exports would no longer match "
                         "its new ones (use --force to replace it)")
    set_project_secret(target, secret)
    print(f"{target.path} now pseudonymises with the secret of {source.path}")
    return 0


def register(sub, with_db, open_project, progress_bar) -> None:
    p = with_db(sub.add_parser("export", help="export labels, contours, masks, predictions, DICOM SEG/SR"))
    p.add_argument("what", choices=EXPORT_FORMATS)
    p.add_argument("--out", help="output file (single-file formats) or folder (optional with --stow)")
    p.add_argument("--stow", metavar="URL", help="seg / sr: also send the objects to this DICOMweb PACS (STOW-RS); "
                   "with --keep-ids they join the source study, without it they carry the pseudonymised UIDs")
    p.add_argument("--keep-ids", action="store_true", help="write original patient/image ids and UIDs instead of pseudonyms")
    p.add_argument("--per-image", action="store_true", help="GeoJSON: one FeatureCollection file per image")
    p.add_argument("--model", type=id_number, default=None, help="predictions: model version id (default: the active one)")
    p.add_argument("--top", type=positive_int, default=5, help="predictions: regions per image, by d_M")
    p.set_defaults(func=lambda args: cmd_export(args, open_project, progress_bar))

    p = with_db(sub.add_parser("share-pseudonyms", help="use another project's pseudonym secret, so exports of "
                               "both projects give a patient the same pseudonym"))
    p.add_argument("--from", dest="source", required=True, type=project_text, help="the project whose secret to adopt")
    p.add_argument("--force", action="store_true", help="replace a secret this project already has")
    p.set_defaults(func=lambda args: cmd_share_pseudonyms(args, open_project, progress_bar))

    p = with_db(sub.add_parser("import-contours", help="import contours from GeoJSON or COCO files exported by the app"))
    p.add_argument("files", nargs="+", help="GeoJSON / COCO files, or folders of them")
    p.add_argument("--replace", action="store_true", help="replace (soft-delete) contours already on a matched image")
    p.set_defaults(func=lambda args: cmd_import_contours(args, open_project, progress_bar))
