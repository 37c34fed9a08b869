"""Command line over the services: researchers use every capability without the GUI.

Qt is imported only by the ``gui`` and ``screenshot`` commands, so the rest runs on servers.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import warnings
from pathlib import Path

from .cli_model import positive_int, project_text
from .core.errors import MammoError


def one_line(text: object) -> str:
    """A message on one line: a library's multi-line reason inside an error must not spread the
    one error line over several (scripts read the last line)."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _progress_bar(desc: str):
    """A tqdm-backed progress callback (done, total, message)."""
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit="", dynamic_ncols=True, file=sys.stderr)

    def update(done: int, total: int, message: str) -> None:
        if total and bar.total != total:
            bar.total = total
        bar.n = done
        bar.set_postfix_str(message[:60], refresh=False)
        bar.refresh()

    update.close = bar.close  # type: ignore[attr-defined]
    return update


def _open(args, create: bool = False, read_only: bool = False):
    """The project of ``--db``; ``read_only`` for commands that only read (they work while an app has it open)."""
    from .services.project import open_project

    return open_project(args.db, create=create, read_only=read_only)


def _print_report(report) -> None:
    print(report.summary())
    for path, reason in report.failed:
        print(f"  FAILED  {path}: {reason}")
    for path, existing in report.duplicates:
        print(f"  already imported  {path} (image {existing})")
    for path, warning in report.warnings:
        print(f"  warning  {path}: {warning}")


def _parse_size(text: str, option: str) -> tuple[int | None, float | None]:
    """'224' -> (224 px, None); '22.4mm' -> (None, 22.4 mm)."""
    t = text.strip().lower()
    try:
        if t.endswith("mm"):
            return None, float(t[:-2])
        return int(t.removesuffix("px")), None
    except ValueError:
        raise MammoError(f"{option} {text!r} is not a size: whole pixels (224) or millimetres (22.4mm)") from None


def grid_from_args(args):
    """The region grid of --window/--stride, checked before any project is opened or created."""
    if not (args.window or args.stride):
        return None
    from .core.types import GridSpec

    size_px, size_mm = _parse_size(args.window or "224", "--window")
    stride_px, stride_mm = _parse_size(args.stride, "--stride") if args.stride else (None, None)
    if (size_px is None) != (stride_px is None) and args.stride:
        raise MammoError("--window and --stride must both be in pixels or both in millimetres")
    if size_px is not None:
        spec = GridSpec(size_px=size_px, stride_px=stride_px if stride_px is not None else max(1, size_px // 2))
    else:
        spec = GridSpec(size_mm=size_mm, stride_mm=stride_mm if stride_mm is not None else size_mm / 2)
    problem = spec.problem()
    if problem:
        raise MammoError(f"--window/--stride: {problem}")
    return spec


def apply_grid(project, spec) -> None:
    """Set the project's region grid (only before the first import)."""
    if spec is None or spec == project.grid_spec():
        return
    from .services.info import project_info

    if project_info(project)["images"]:
        raise MammoError(f"{project.location}: the region grid cannot change once images are imported")
    project.set_grid_spec(spec)


def import_status(report) -> int:
    """0 when the batch did what it could: some images in, the failures named. 1 when nothing
    came in, or when the project's database stopped the batch (server gone, locked, full) and
    files were left untried: a script must not take a half-done batch for a finished one."""
    if report.stopped:
        return 1
    return 0 if report.imported or not report.failed else 1


def cmd_import(args) -> int:
    from .services.sources import items_from_paths
    from .services.importing import ImportReport, import_items

    grid = grid_from_args(args)
    project = _open(args, create=True)
    apply_grid(project, grid)
    report = ImportReport()
    items = items_from_paths([Path(p) for p in args.paths], labels_csv=Path(args.labels) if args.labels else None, report=report)
    bar = _progress_bar("import")
    import_items(project, items, progress=bar, report=report)
    bar.close()
    _print_report(report)
    return import_status(report)


def cmd_import_dataset(args) -> int:
    from .services.importing import ImportReport, import_items
    from .services.sources import dataset_items

    grid = grid_from_args(args)
    project = _open(args, create=True)
    apply_grid(project, grid)
    report = ImportReport()
    items = dataset_items(args.kind, Path(args.path), report=report, limit=args.limit)
    bar = _progress_bar(f"import {args.kind}")
    import_items(project, items, progress=bar, report=report)
    bar.close()
    _print_report(report)
    return import_status(report)


def cmd_info(args) -> int:
    from .services.info import format_info, project_info

    info = project_info(_open(args, read_only=True))
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def cmd_gui(args) -> int:
    from .qt.app import run_gui

    return run_gui(args.db, annotator=args.annotator)


def cmd_screenshot(args) -> int:
    from .qt.app import render_screenshot

    render_screenshot(args.db, args.out)
    print(f"screenshot written to {args.out}")
    return 0


def _grid_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--window", help="region window size for a new project: pixels (224) or millimetres (22.4mm)")
    p.add_argument("--stride", help="region stride: pixels or millimetres (default: half the window)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mammo-annotator", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error (a bug)")
    sub = parser.add_subparsers(dest="command")

    def with_db(p, required=True):
        p.add_argument("--db", required=required, type=project_text, help="project: a SQLite file, or a server URL such as "
                       "postgresql+psycopg://user@host/db (password from PGPASSWORD or ~/.pgpass)")
        return p

    p = with_db(sub.add_parser("import", help="import DICOM files/folders or PNG/TIFF images (with a labels CSV)"))
    p.add_argument("paths", nargs="+", help="files or folders (searched recursively)")
    p.add_argument("--labels", help="CSV of image-level labels: image, patient_id and birads | pathology | y_m,y_b")
    _grid_options(p)
    p.set_defaults(func=cmd_import)

    p = with_db(sub.add_parser("import-dataset", help="import a public dataset with its labels and lesion outlines"))
    p.add_argument("kind", choices=["mini-mias", "inbreast"])
    p.add_argument("path", help="the dataset's folder")
    p.add_argument("--limit", type=positive_int, default=None, help="import only the first N images (quick looks)")
    _grid_options(p)
    p.set_defaults(func=cmd_import_dataset)

    p = with_db(sub.add_parser("info", help="counts of images, labels, annotations and regions"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    from . import cli_export

    cli_export.register(sub, with_db, _open, _progress_bar)  # export, import-contours

    p = with_db(sub.add_parser("gui", help="open the desktop app (default command)"), required=False)
    p.add_argument("--annotator", help="annotator name (asked once otherwise)")
    p.set_defaults(func=cmd_gui)

    p = with_db(sub.add_parser("screenshot", help="render the app headless to a PNG (machines with no display)"), required=False)
    p.add_argument("--out", default="mammo-annotator.png")
    p.set_defaults(func=cmd_screenshot)

    _add_model_commands(sub, with_db)
    from . import cli_backup

    cli_backup.register(sub, with_db)  # backups: list, --check, --now, --restore
    for name in ("train", "retrain", "evaluate", "learn-features", "gui"):  # the commands that extract features
        sub.choices[name].add_argument(
            "--allow-torchscript", action="append", default=[], metavar="PATH",
            help="allow the project's TorchScript extractor file PATH to run in this session "
                 "(TorchScript runs code, so a project's setting alone never loads it)")
    return parser


def _add_model_commands(sub, with_db) -> None:
    from . import cli_model

    cli_model.register(sub, with_db, _open, _progress_bar)
    from . import cli_server

    cli_server.register(sub, with_db, _open, _progress_bar)  # migrate, import-dicomweb


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configured = bool(logging.getLogger().handlers)  # by an embedding program (or pytest): left alone
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not (args.verbose or args.debug or configured):
        # decoders log their own tracebacks and warnings on a broken file; the import report already
        # names the file and the reason, so the terminal shows that line, not the library's noise
        # (a handler filter: pydicom resets its logger's level when it is imported)
        for handler in logging.getLogger().handlers:
            handler.addFilter(lambda record: record.name.split(".")[0] not in ("pydicom", "tifffile", "PIL"))
        warnings.filterwarnings("ignore", module="pydicom")
    if args.command is None:
        args = parser.parse_args(["gui", *(argv or [])])
    if args.command != "gui":  # training and evaluation reuse their freed step memory (the window does not train)
        from .ml.allocator import keep_freed_memory

        keep_freed_memory()
    on_terminate = None
    if args.command != "gui" and threading.current_thread() is threading.main_thread():
        on_terminate = signal.signal(signal.SIGTERM, _stop_on_terminate)
    try:
        return _run(args)
    finally:
        if on_terminate is not None:
            signal.signal(signal.SIGTERM, on_terminate)


def _run(args) -> int:
    try:
        if getattr(args, "allow_torchscript", None):
            from .services.trusted_code import allow_torchscript

            for path in args.allow_torchscript:
                allow_torchscript(path)
        return int(args.func(args) or 0)
    except MammoError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.filename is None:
            return _unexpected(exc, args.debug)
        # the machine refused a path the user gave (permissions, a missing folder, a full disk)
        print(f"error: {exc.filename}: {one_line(exc.strerror or exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        return _unexpected(exc, args.debug)


def _unexpected(exc: Exception, debug: bool) -> int:
    """A bug: one line for the user, the traceback with --debug (and in -v logs)."""
    if debug:
        raise exc
    logging.getLogger(__name__).debug("unexpected error", exc_info=exc)
    first = str(exc).splitlines()[0] if str(exc) else ""
    print(f"error: unexpected {type(exc).__name__}: {first} (rerun with --debug for the traceback)", file=sys.stderr)
    return 3


def _stop_on_terminate(signum, frame) -> None:
    """SIGTERM (a scheduler's or `timeout`'s stop) unwinds like Ctrl-C, so temporary files are removed."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
