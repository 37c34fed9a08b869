"""A size limit on this user's cache of decoded pixels and PACS copies: the least recently used go first.

Every image shown once leaves its decoded pixels in the cache (a 4096 x 3328 full-field
mammogram: 27 MB), and an image from a PACS also its retrieved DICOM. Without a limit the folder
of a reading room grows by every image ever read. Both are caches in the strict sense: a pixel
file is decoded again from its source, a PACS copy retrieved again, so removing the oldest is
always safe. A use touches the file (its modification time is the last use). The folder is
measured, in a background thread, when the process first writes to it and after every
``CHECK_EVERY_BYTES`` written; past the limit, the least recently used files go until 90 % of
it is left. Other folders under the cache root (breast masks of a few kB, server projects'
side files) are never touched.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

ENV_LIMIT = "MAMMO_ANNOTATOR_CACHE_LIMIT_GB"  # a number of GB, or "none" for no limit
DEFAULT_LIMIT_GB = 20.0
PRUNED_FOLDERS = ("pixels", "pacs")
CHECK_EVERY_BYTES = 512 * 1024 ** 2
KEEP_FRACTION = 0.9  # a prune leaves this share of the limit, so the next write does not prune again

log = logging.getLogger(__name__)
_lock = threading.Lock()
_written_since_check: dict[Path, int] = {}  # cache root -> bytes written since it was last measured


@dataclass(frozen=True)
class PruneReport:
    removed: int  # files
    freed: int  # bytes
    total: int  # bytes left in the pruned folders


def limit_bytes() -> int | None:
    """The limit from ``$MAMMO_ANNOTATOR_CACHE_LIMIT_GB`` (default 20 GB); None for "none". A value
    that is not a number is logged and the default used: a cache setting never stops the viewer."""
    raw = os.environ.get(ENV_LIMIT, "").strip()
    if raw.lower() in ("none", "unlimited"):
        return None
    if not raw:
        return int(DEFAULT_LIMIT_GB * 1e9)
    try:
        gb = float(raw)
        if not gb >= 0:
            raise ValueError(raw)
    except ValueError:
        log.warning("%s=%r is not a number of GB (or 'none'); using %g GB", ENV_LIMIT, raw, DEFAULT_LIMIT_GB)
        gb = DEFAULT_LIMIT_GB
    return int(gb * 1e9)


def touch(path: Path) -> None:
    """Mark a cached file as just used (a read-only or vanished file is simply not marked)."""
    try:
        os.utime(path)
    except OSError:
        pass


def note_written(root: Path, nbytes: int, keep: Path) -> threading.Thread | None:
    """Account for a file just written under ``root``; when a measure is due, measure and prune in
    a background thread (a walk of a large cache must not hold the viewer), which is returned.
    ``keep`` (the file just written, about to be used) is never removed."""
    root = Path(root)
    with _lock:
        since = _written_since_check.get(root)
        if since is not None and since + nbytes < CHECK_EVERY_BYTES:
            _written_since_check[root] = since + nbytes
            return None
        _written_since_check[root] = 0
    limit = limit_bytes()
    if limit is None:
        return None
    thread = threading.Thread(target=_prune_quietly, args=(root, limit, (keep,)), name="cache-prune", daemon=True)
    thread.start()
    return thread


def _prune_quietly(root: Path, limit: int, keep: tuple[Path, ...]) -> None:
    try:
        prune(root, limit, keep)
    except Exception:  # a cache that cannot be measured stays as it is; never the reader's problem
        log.exception("cache %s: could not be pruned", root)


def _cached_files(root: Path) -> list[tuple[float, int, Path]]:
    out = []
    for folder in PRUNED_FOLDERS:
        for dirpath, _dirs, names in os.walk(root / folder):
            for name in names:
                if name.endswith(".tmp"):
                    continue  # a copy still being written (pacs_fetch removes stale ones)
                path = Path(dirpath) / name
                try:
                    st = path.stat()
                except OSError:
                    continue  # removed meanwhile by another process
                out.append((st.st_mtime, st.st_size, path))
    return out


def prune(root: Path, limit: int, keep: tuple[Path, ...] = ()) -> PruneReport:
    """Remove the least recently used cached files under ``root`` while they exceed ``limit`` bytes,
    down to ``KEEP_FRACTION`` of it. A file that cannot be removed (held open on Windows) stays."""
    files = _cached_files(Path(root))
    total = sum(size for _t, size, _p in files)
    removed = freed = 0
    if total > limit:
        target = int(limit * KEEP_FRACTION)
        kept = {Path(k) for k in keep}
        for _mtime, size, path in sorted(files):
            if total <= target:
                break
            if path in kept:
                continue
            try:
                path.unlink()
            except FileNotFoundError:
                total -= size  # another process pruned it first
                continue
            except OSError:
                continue
            total -= size
            removed += 1
            freed += size
        log.info("cache %s: removed %d least recently used files (%.1f MB); %.1f MB left",
                 root, removed, freed / 1e6, total / 1e6)
    return PruneReport(removed, freed, total)
