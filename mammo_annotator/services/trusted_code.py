"""TorchScript files are programs: one is loaded only when the user has named it in this session.

``torch.jit.load`` runs the module's code, and a project's ``extractor`` setting can name a
TorchScript file. A project file can come from anyone, so that setting alone never loads
anything: the user allows a path explicitly, on the command line (``--allow-torchscript PATH``)
or in the app's confirmation, which shows the path and its SHA-256. The allowance is for that
content only: at load time the bytes are hashed once, compared with the allowed digest and
loaded from memory, so a file replaced after the confirmation is refused, not run.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from ..core.errors import MammoError
from .project import Project

_allowed: dict[str, str] = {}  # resolved path -> SHA-256 the user allowed
_lock = threading.Lock()


class UntrustedCodeError(MammoError):
    """A project asks to run a TorchScript file the user has not allowed in this session."""


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _key(path: str | Path) -> str:
    return str(Path(path).expanduser().resolve())


def allow_torchscript(path: str | Path, sha256: str | None = None) -> str:
    """Allow ``path`` for this process: its current content, or exactly ``sha256`` (the digest
    the user was shown). Returns the allowed digest."""
    try:
        digest = sha256 or file_sha256(path)
    except OSError as exc:
        raise UntrustedCodeError(f"{path}: cannot read the TorchScript file to allow it ({exc.strerror or exc})") from None
    with _lock:
        _allowed[_key(path)] = digest
    return digest


def forget_allowed() -> None:
    """Withdraw every allowance (a new session; tests)."""
    with _lock:
        _allowed.clear()


def allowed_digest(path: str | Path) -> str | None:
    with _lock:
        return _allowed.get(_key(path))


def project_torchscript(project: Project) -> Path | None:
    """The TorchScript file the project's ``extractor`` setting names, if it names one."""
    spec = project.setting("extractor", None)
    if not isinstance(spec, dict) or spec.get("name") != "torchscript":
        return None
    options = spec.get("options") or {}
    path = options.get("path") if isinstance(options, dict) else None
    return Path(str(path)) if path else None


def pending_torchscript(project: Project) -> tuple[Path, str] | None:
    """(path, SHA-256) of the project's TorchScript file when it exists and is not allowed yet:
    what a confirmation must show."""
    path = project_torchscript(project)
    if path is None or not path.is_file():
        return None
    digest = file_sha256(path)
    return None if allowed_digest(path) == digest else (path, digest)


def require_allowed(path: object) -> str:
    """The allowed digest of ``path``; UntrustedCodeError saying how to allow it otherwise."""
    digest = allowed_digest(str(path)) if path else None
    if digest is None:
        raise UntrustedCodeError(
            f"{path}: this project's feature extractor is a TorchScript file, and loading one runs its code; "
            f"it is loaded only when you name it in this session: pass --allow-torchscript {path} to the command, "
            "or confirm it when the app asks (it shows the file's SHA-256)")
    return digest
