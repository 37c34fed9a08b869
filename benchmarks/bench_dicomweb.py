"""PACS round trip over DICOMweb against a throw-away Orthanc: import, contour, STOW SEG + SR, read back.

    python benchmarks/bench_dicomweb.py [--images 20] [--size 2048 1664]

Starts Orthanc with its DICOMweb plugin (Debian packages orthanc, orthanc-dicomweb) as the tests
do, puts ``--images`` synthetic 16-bit MG instances into it with Orthanc's REST API, then times
``import_dicomweb`` (QIDO-RS + WADO-RS into a new project: decode, hash, breast mask, region grid),
a second import (everything already held: the QIDO queries only), the SEG and SR exports with
STOW-RS (``--keep-ids``: filed with the source studies), and reading them back (QIDO + WADO-RS),
checking every SEG mask against the project's contours; then, as another machine (the retrieved
files moved away, an empty user cache), opening every image: WADO-RS again, SHA-256 checked,
decoded, and a second open from the pixel cache. Prints instances/s and MB/s per step.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--size", type=int, nargs=2, default=[2048, 1664], metavar=("ROWS", "COLS"))
    args = ap.parse_args(argv)

    import highdicom as hd
    import numpy as np

    from mammo_annotator.services import annotations as svc
    from mammo_annotator.services.dicomweb import connect, import_dicomweb
    from mammo_annotator.services.export import ExportOptions, export
    from mammo_annotator.services.export.masks import class_mask
    from mammo_annotator.services.project import open_project
    from mammo_annotator.services.stow import stow_files
    from mammo_annotator.services.viewing import worklist
    from tests import orthanc_server as orth
    from tests.services.export_helpers import write_mg_dicom

    tmp = Path(tempfile.mkdtemp(prefix="mammo-bench-dicomweb-"))
    os.environ["MAMMO_ANNOTATOR_CACHE"] = str(tmp / "cache")
    os.environ["MAMMO_DICOMWEB_USER"], os.environ["MAMMO_DICOMWEB_PASSWORD"] = orth.USER, orth.PASSWORD
    server = orth.start()
    try:
        rows, cols = args.size
        files = [write_mg_dicom(tmp / f"{k}.dcm", k, rows, cols, "LR"[k % 2]) for k in range(args.images)]
        mb = sum(f.stat().st_size for f in files) / 1e6
        for f in files:
            server.upload(f)
        print(f"{args.images} MG instances of {rows} x {cols} (16-bit, {mb:.1f} MB) in Orthanc {server.rest('GET', '/system')['Version']}")

        project = open_project(tmp / "p.sqlite", create=True)
        t0 = time.perf_counter()
        report = import_dicomweb(project, server.dicomweb, modality="MG")
        t_import = time.perf_counter() - t0
        assert len(report.imported) == args.images and not report.failed, report.summary()
        print(f"import-dicomweb (QIDO + WADO-RS + import): {t_import:6.2f} s  {args.images / t_import:6.2f} instances/s  {mb / t_import:6.1f} MB/s")
        t0 = time.perf_counter()
        again = import_dicomweb(project, server.dicomweb, modality="MG")
        t_again = time.perf_counter() - t0
        assert len(again.duplicates) == args.images
        print(f"second import (all held: queries only):    {t_again:6.2f} s")

        for row in worklist(project):
            svc.save_contour(project, row.image_id, [[200, 200], [600, 220], [560, 640], [240, 560]], annotator="dr.a")
        for kind in ("seg", "sr"):
            t0 = time.perf_counter()
            result = export(project, kind, tmp / kind, ExportOptions(keep_ids=True))
            t_export = time.perf_counter() - t0
            written = sorted((tmp / kind).glob(f"*_{kind}.dcm"))
            t0 = time.perf_counter()
            stow = stow_files(server.dicomweb, written)
            t_stow = time.perf_counter() - t0
            assert len(stow.stored) == result.files == args.images, stow.summary()
            kb = sum(f.stat().st_size for f in written) / 1e3
            print(f"export {kind} ({kb / len(written):6.1f} kB each):           {t_export:6.2f} s;  STOW-RS {t_stow:6.2f} s  "
                  f"{len(written) / t_stow:6.2f} objects/s")

        client = connect(server.dicomweb)
        t0 = time.perf_counter()
        checked = 0
        records = {r.image_id: r for r in worklist(project)}
        from mammo_annotator.store import images as image_store

        with project.session() as s:
            by_uid = {image_store.get_image(s, i).sop_instance_uid: image_store.get_image(s, i) for i in records}
        for study in client.search_for_studies(search_filters={"ModalitiesInStudy": "SEG"}):
            study_uid = study["0020000D"]["Value"][0]
            for series in client.search_for_series(study_instance_uid=study_uid, search_filters={"Modality": "SEG"}):
                series_uid = series["0020000E"]["Value"][0]
                for inst in client.search_for_instances(study_instance_uid=study_uid, series_instance_uid=series_uid):
                    seg = hd.seg.Segmentation.from_dataset(
                        client.retrieve_instance(study_uid, series_uid, inst["00080018"]["Value"][0]))
                    uid = seg.get_source_image_uids()[0][2]
                    image = by_uid[uid]
                    mask = seg.get_pixels_by_source_instance([uid], segment_numbers=[1])[0, :, :, 0].astype(bool)
                    assert np.array_equal(mask, class_mask(svc.contours(project, image.id), "M", image.height, image.width))
                    checked += 1
        t_read = time.perf_counter() - t0
        print(f"read back SEG (QIDO + WADO-RS + decode):   {t_read:6.2f} s  {checked} masks equal to the contours")

        import shutil

        from mammo_annotator.services.pacs_fetch import cache_dir
        from mammo_annotator.services.pixels import load_pixels

        shutil.move(tmp / "p.pacs", tmp / "moved")  # another machine: no retrieved files, an empty cache
        os.environ["MAMMO_ANNOTATOR_CACHE"] = str(tmp / "cache-b")
        images = list(by_uid.values())
        for label in ("open on another machine (WADO-RS + SHA-256 + decode)", "open again (pixel cache)"):
            t0 = time.perf_counter()
            for image in images:
                np.asarray(load_pixels(image)).sum()
            t_open = time.perf_counter() - t0
            print(f"{label}: {t_open:6.2f} s  {t_open / len(images) * 1000:6.0f} ms/image")
        assert len(list(cache_dir().rglob("*.dcm"))) == len(images)
        project.close()
    finally:
        orth.stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
