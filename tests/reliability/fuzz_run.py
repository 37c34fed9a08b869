"""Run the import fuzz corpus and judge every case: imported, reported by name, or a failure of
the rule (a traceback, a good file lost, a bad file unreported, rows half-written).

``python -m tests.reliability.fuzz_run [--seed N] [--scale K]`` runs a whole campaign and prints
its figures per failure class (the reliability test asserts the same on one seed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .fuzz_corpus import Batch, build_corpus


@dataclass
class Outcome:
    """What one batch gave: per case, how it ended; and what went wrong with the rule."""

    ended: dict[str, str] = field(default_factory=dict)  # case path -> imported | reported | refused-whole
    tracebacks: list[str] = field(default_factory=list)  # errors that escaped or were "unexpected"
    lost: list[str] = field(default_factory=list)  # good files not imported
    unreported: list[str] = field(default_factory=list)  # must-fail files that were neither reported nor named
    half_written: list[str] = field(default_factory=list)


def _named(key: str) -> Path:
    """The file a report entry names ('path' or 'path:line')."""
    head, _, tail = key.rpartition(":")
    return Path(head if head and tail.isdigit() else key).resolve()


def run_batch(project, batch: Batch) -> Outcome:
    """Import one batch as the CLI does (sources, then import_items) and judge every case."""
    from sqlalchemy import func, select

    from mammo_annotator.core.errors import MammoError
    from mammo_annotator.services.importing import ImportReport, import_items
    from mammo_annotator.services.sources import dataset_items, items_from_paths
    from mammo_annotator.store.schema import ImageRow, RegionGridRow

    def counts():
        with project.session() as s:
            return tuple(s.scalar(select(func.count()).select_from(t)) for t in (ImageRow, RegionGridRow))

    out = Outcome()
    before = counts()
    report = ImportReport()
    try:
        if batch.source == "paths":
            items = items_from_paths([batch.root], labels_csv=batch.labels, report=report)
        else:
            items = dataset_items(batch.source, batch.root, report=report)
        import_items(project, items, report=report)
    except MammoError as exc:  # the source file as a whole is refused: fine only when that is the plan
        if not (batch.refused_whole and str(getattr(exc, "path", "")) in str(exc)):
            out.tracebacks.append(f"{batch.name}: {type(exc).__name__}: {exc}")
        for case in batch.cases:
            out.ended[str(case.path)] = "refused-whole"
        if counts() != before:
            out.half_written.append(f"{batch.name}: refused, yet rows were written")
        return out
    except Exception as exc:  # noqa: BLE001 - exactly what the campaign counts
        out.tracebacks.append(f"{batch.name}: {type(exc).__name__}: {exc}")
        return out
    if batch.refused_whole:
        out.unreported.append(f"{batch.name}: the unreadable source was not refused")
    failed = {_named(k): r for k, r in report.failed}
    warned = {_named(k) for k, _ in report.warnings}
    out.tracebacks += [f"{k}: {r}" for k, r in report.failed if r.startswith("unexpected error")]
    with project.session() as s:
        imported = {Path(p).resolve() for p in s.scalars(select(ImageRow.source_path).where(ImageRow.id.in_(report.imported)))}
    for case in batch.cases:
        path = case.path.resolve()
        named = (case.report_path or case.path).resolve()
        if case.good:
            out.ended[str(case.path)] = "imported" if path in imported or path in dict(report.duplicates) else "lost"
            if out.ended[str(case.path)] == "lost":
                out.lost.append(f"{case.path}: {failed.get(path, 'not imported, no reason given')}")
        elif (named in warned) if case.reported_as == "warning" else (named in failed):
            out.ended[str(case.path)] = "reported"
        elif path in imported and not case.must_fail:
            out.ended[str(case.path)] = "imported"  # a harmless flip (inside a value): still a readable image
        else:
            out.ended[str(case.path)] = "unreported"
            out.unreported.append(f"{case.kind} {case.path}")
    after = counts()
    if after[0] - before[0] != len(report.imported) or after[1] - before[1] != len(report.imported):
        out.half_written.append(f"{batch.name}: {after} rows after, {before} before, {len(report.imported)} imported")
    return out


def tally(batches: list[Batch], outcomes: list[Outcome]) -> dict[str, dict[str, int]]:
    """Per class: how many inputs, and how each ended."""
    table: dict[str, dict[str, int]] = {}
    for batch, outcome in zip(batches, outcomes):
        for case in batch.cases:
            row = table.setdefault(case.kind, {})
            end = outcome.ended.get(str(case.path), "crashed")
            row[end] = row.get(end, 0) + 1
    return table


def main(argv: list[str] | None = None) -> int:
    import argparse
    import os
    import tempfile
    import time

    from mammo_annotator.core.types import GridSpec
    from mammo_annotator.services.project import open_project

    parser = argparse.ArgumentParser(description="run the import fuzz campaign and print its figures")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MAMMO_ANNOTATOR_CACHE"] = str(Path(tmp) / "cache")
        t0 = time.perf_counter()
        batches = build_corpus(Path(tmp) / "corpus", args.seed, args.scale)
        project = open_project(Path(tmp) / "p.sqlite", create=True)
        project.set_grid_spec(GridSpec(size_px=64, stride_px=64))
        outcomes = [run_batch(project, b) for b in batches]
        project.close()
        seconds = time.perf_counter() - t0
    table = tally(batches, outcomes)
    print(f"{'class':40s} {'inputs':>6s}  endings")
    for kind, ends in sorted(table.items()):
        print(f"{kind:40s} {sum(ends.values()):6d}  " + ", ".join(f"{k} {v}" for k, v in sorted(ends.items())))
    bad = sum(sum(e.values()) for k, e in table.items() if k != "good")
    print(f"bad inputs {bad}, good files {sum(table.get('good', {}).values())}, batches {len(batches)}, {seconds:.0f} s")
    for name, attr in (("tracebacks", "tracebacks"), ("good files lost", "lost"), ("unreported", "unreported"),
                       ("half-written", "half_written")):
        items = [x for o in outcomes for x in getattr(o, attr)]
        print(f"{name}: {len(items)}" + "".join(f"\n  {x}" for x in items[:20]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
