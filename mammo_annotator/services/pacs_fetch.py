"""An image imported from a PACS, on a machine without its file: retrieved again, verified, cached.

On a shared (server) project the machine that ran ``import-dicomweb`` keeps the retrieved
instances in its own folder, so another machine finds no file at the stored path. It then
retrieves the same instance over WADO-RS, by the PACS root and UIDs the import recorded, with
its own credentials from the environment (as ``import-dicomweb``: bearer token or HTTP basic,
TLS verified), checks that the bytes hash to the SHA-256 the import stored, and keeps them in
this user's cache folder, so each machine retrieves an image once. A copy that differs is
refused and never shown; a failure names the image and the reason and leaves no file behind
(the copy is written to a temporary name and renamed only once verified).

Several readers may want the same instance at once (the viewer's retrieval worker and the
thumbnail thread): threads of one process retrieve it once (the second waits for the first and
takes its verified copy); two processes each write their own temporary file (process and thread
in its name) and rename it over the same, identical, verified copy.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from platformdirs import user_cache_dir

from ..core.errors import ImageReadError, MammoError
from ..core.imageio import content_sha256
from ..core.progress import CancelToken, ProgressFn, check_cancel, no_progress
from ..core.records import ImageRecord
from ..store import images as image_store
from . import cache_limit
from .dicomweb import retrieve_to
from .pacs_session import PacsError, connect, explain
from .qido import InstanceRef
from .project import Project

ENV_CACHE = "MAMMO_ANNOTATOR_CACHE"  # the same root as the pixel cache; tests point it at a temporary folder


class PacsFetchError(ImageReadError):
    """An image that is neither on this machine nor retrievable (as imported) from its PACS."""

    def __init__(self, image: ImageRecord, reason: str):
        self.image_id = image.id
        super().__init__(f"image {image.id} ({image.display_name})", reason)


def cache_dir(root: str | os.PathLike | None = None) -> Path:
    """This user's folder of instances retrieved from a PACS: ``root``, else ``$MAMMO_ANNOTATOR_CACHE``,
    else the platform's user cache folder; a ``pacs`` folder below it."""
    base = root or os.environ.get(ENV_CACHE) or user_cache_dir("mammo-annotator", appauthor=False)
    return Path(base) / "pacs"


def cached_path(image: ImageRecord, root: str | os.PathLike | None = None) -> Path:
    """Keyed by content hash: the same instance in two projects is kept once."""
    return cache_dir(root) / image.sha256[:2] / f"{image.sha256}.dcm"


def needs_fetch(image: ImageRecord) -> bool:
    """From a PACS, and its stored file is not on this machine."""
    return image.pacs is not None and not Path(image.source_path).is_file()


def local_file(image: ImageRecord, cache: str | os.PathLike | None = None) -> Path:
    """The file holding the image here: its stored path when that exists (or when the image is not
    from a PACS: the caller reports it missing); else its verified copy, retrieved on first use."""
    if not needs_fetch(image):
        return Path(image.source_path)
    return fetch(image, cache)


_STALE_TEMP_S = 3600  # a temporary copy this old was left by a process that ended mid-retrieval
_retrieving: dict[str, threading.Lock] = {}  # cached path -> held while a thread of this process retrieves it
_retrieving_guard = threading.Lock()


def _one_retrieval(path: Path) -> threading.Lock:
    """The lock a thread holds while it retrieves ``path`` (one small lock per instance retrieved)."""
    with _retrieving_guard:
        return _retrieving.setdefault(str(path), threading.Lock())


def _verified(path: Path, image: ImageRecord) -> bool:
    try:
        return path.is_file() and content_sha256(path) == image.sha256
    except (ImageReadError, OSError):
        return False


def fetch(image: ImageRecord, cache: str | os.PathLike | None = None) -> Path:
    """The image's cached copy, retrieved from its PACS when absent (or damaged); PacsFetchError
    when the PACS cannot be reached, no longer holds it, or returns different bytes."""
    origin = image.pacs
    if origin is None:
        raise PacsFetchError(image, f"its file ({image.source_path}) is not on this machine and it was not imported from a PACS")
    path = cached_path(image, cache)
    if _verified(path, image):
        cache_limit.touch(path)
        return path
    with _one_retrieval(path):
        if _verified(path, image):  # another thread of this process retrieved it while this one waited
            return path
        _retrieve_copy(image, path)
    cache_limit.note_written(path.parents[2], path.stat().st_size, keep=path)
    return path


def _drop_stale_temps(path: Path) -> None:
    """Temporary copies of ``path`` left by a process that ended mid-retrieval (closed while the PACS
    was still answering); a live writer's file is younger than an hour."""
    cutoff = time.time() - _STALE_TEMP_S
    for tmp in [*path.parent.glob(f"{path.name}.*.tmp"), *path.parent.glob(f"{path.name}.*.tmp.raw")]:
        try:
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()
        except OSError:
            pass


def _retrieve_copy(image: ImageRecord, path: Path) -> Path:
    import requests

    origin = image.pacs
    missing = f"not on this machine ({image.source_path}); retrieving it from {origin.url} failed"
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _drop_stale_temps(path)
        retrieve_to(connect(origin.url), InstanceRef(origin.study_uid, origin.series_uid, origin.sop_uid), tmp)
        digest = content_sha256(tmp)
        if digest != image.sha256:
            raise PacsFetchError(image, f"the copy retrieved from {origin.url} is not the imported file (SHA-256 {digest[:16]}..., "
                                        f"imported {image.sha256[:16]}...): the PACS's instance changed since import; refused")
        try:
            os.replace(tmp, path)
        except OSError:
            if not _verified(path, image):  # else another process renamed the same verified copy first
                raise                       # (Windows refuses to replace a file another reader holds open)
    except PacsFetchError:
        raise
    except PacsError as exc:  # the PACS answered something that is not the instance (retrieve_to says what)
        raise PacsFetchError(image, f"{missing}: {exc.reason}") from exc
    except requests.HTTPError as exc:
        code = exc.response.status_code if exc.response is not None else None
        if code == 404:
            raise PacsFetchError(image, f"{missing}: the PACS no longer holds the instance (HTTP 404, SOP Instance UID "
                                        f"{origin.sop_uid})") from exc
        raise PacsFetchError(image, f"{missing}: {explain(origin.url, exc).reason}") from exc
    except requests.RequestException as exc:
        raise PacsFetchError(image, f"{missing}: {explain(origin.url, exc).reason}") from exc
    except OSError as exc:
        raise PacsFetchError(image, f"{missing}: cannot write the copy to {path.parent} ({exc.strerror or exc})") from exc
    except Exception as exc:  # a broken response (not DICOM, truncated): this image fails, nothing is kept
        raise PacsFetchError(image, f"{missing}: {type(exc).__name__}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path


@dataclass
class FetchReport:
    fetched: list[int] = field(default_factory=list)
    cached: list[int] = field(default_factory=list)  # already here (file present or copy verified)
    failed: list[tuple[int, str]] = field(default_factory=list)  # (image id, message)
    cancelled: bool = False

    def summary(self) -> str:
        parts = [f"{len(self.fetched)} retrieved", f"{len(self.cached)} already here", f"{len(self.failed)} failed"]
        if self.cancelled:
            parts.append("stopped by the user")
        return ", ".join(parts)


def fetch_missing(project: Project, image_ids: Sequence[int] = (), cache: str | os.PathLike | None = None,
                  progress: ProgressFn = no_progress, cancel: CancelToken | None = None) -> FetchReport:
    """Retrieve every PACS image (or those of ``image_ids``) whose file this machine lacks, before
    working offline; a failing image is reported and the others go on."""
    report = FetchReport()
    with project.session() as s:
        if not image_ids:
            todo = [im for im in image_store.list_images(s) if im.pacs is not None]
        else:
            todo = []
            for i in image_ids:
                try:
                    todo.append(image_store.get_image(s, i))
                except KeyError:
                    report.failed.append((i, f"image {i}: not in the project"))
    for k, image in enumerate(todo):
        progress(k, len(todo), f"image {image.id}")
        try:
            check_cancel(cancel)
        except MammoError:
            report.cancelled = True
            break
        if Path(image.source_path).is_file() or (image.pacs is not None and _verified(cached_path(image, cache), image)):
            report.cached.append(image.id)
            continue
        try:
            fetch(image, cache)  # an image not from a PACS whose file is gone: refused, with that reason
            report.fetched.append(image.id)
        except PacsFetchError as exc:
            report.failed.append((image.id, str(exc)))
    progress(len(todo), len(todo), report.summary())
    return report
