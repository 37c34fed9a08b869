"""Stable pseudonyms for patients, images and DICOM UIDs, keyed by a per-project secret.

A pseudonym is an HMAC-SHA256 of the original value under a random secret kept in the project's
settings table: the same project always gives the same pseudonym (exports made on different days
join), while nobody without the project database can reverse it or recompute it from a guessed
patient id. Images are keyed by their content hash, which, unlike the database id, survives a
re-import of the same file.

DICOM UIDs are remapped the same way (``2.25.<128-bit integer>``, the UUID-derived root of
PS3.5 B.2), so pseudonymised SEG / SR objects still reference each other's and the source
image's UIDs consistently: a copy of the source images de-identified with the same project
secret (``Pseudonyms.uid``) matches them exactly.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import PurePath

from ...core.records import ImageRecord
from ...store import models as model_store
from ..project import Project
from .paths import safe_component

SECRET_SETTING = "export.pseudonym_secret"


def project_secret(project: Project) -> str:
    """The project's pseudonym secret, created (and stored) on first use."""
    with project.session() as s:
        secret = model_store.get_setting(s, SECRET_SETTING)
        if not secret:
            secret = secrets.token_hex(32)
            model_store.set_setting(s, SECRET_SETTING, secret)
    return secret


def set_project_secret(project: Project, secret: str) -> None:
    """Share a secret between projects (e.g. a copy made for re-import), so pseudonyms match."""
    if len(secret) < 32:
        raise ValueError("a pseudonym secret needs at least 32 characters")
    project.set_setting(SECRET_SETTING, secret)


class Pseudonyms:
    """HMAC-based pseudonyms under one secret."""

    def __init__(self, secret: str):
        self._key = secret.encode()

    @classmethod
    def for_project(cls, project: Project) -> "Pseudonyms":
        return cls(project_secret(project))

    def _digest(self, kind: str, value: str) -> bytes:
        return hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).digest()

    def patient(self, patient_key: str) -> str:
        return "P-" + self._digest("patient", patient_key).hex()[:16]

    def image(self, sha256: str) -> str:
        return "I-" + self._digest("image", sha256).hex()[:20]

    def study(self, study_uid: str) -> str:
        """A StudyID (SH, at most 16 characters) for a study, the same in every object of it."""
        return "S-" + self._digest("study", study_uid).hex()[:14]

    def uid(self, uid: str) -> str:
        """A deterministic replacement UID (at most 44 characters)."""
        return "2.25." + str(int.from_bytes(self._digest("uid", str(uid))[:16], "big"))


@dataclass(frozen=True)
class ImageIdentity:
    """How one image is named in exports: pseudonyms by default, originals with ``keep_ids``."""

    image: str  # the image key written in every export (pseudonym, or the database id)
    patient: str
    file: str  # source file name, only with keep_ids ("" otherwise)
    sha256: str  # content hash, only with keep_ids ("" otherwise)
    stem: str  # a safe file-name stem for per-image outputs


class Identities:
    """Turns image records into the identities an export writes."""

    def __init__(self, project: Project, keep_ids: bool):
        self.keep_ids = keep_ids
        self._project = project
        self._pseudonyms: Pseudonyms | None = None

    @property
    def pseudonyms(self) -> Pseudonyms:
        """Made on first use: the first pseudonymised export stores the project's secret, while an
        export that keeps the identities never needs it, so it also runs on a read-only project."""
        if self._pseudonyms is None:
            self._pseudonyms = Pseudonyms.for_project(self._project)
        return self._pseudonyms

    def of(self, image: ImageRecord) -> ImageIdentity:
        return self.of_parts(image.id, image.sha256, image.patient_key, image.source_path)

    def of_parts(self, image_id: int, sha256: str, patient_key: str, source_path: str) -> ImageIdentity:
        if self.keep_ids:
            name = PurePath(source_path.replace("\\", "/")).name
            stem = safe_component(f"{image_id}_{PurePath(name).stem}", fallback=str(image_id))
            return ImageIdentity(str(image_id), patient_key, name, sha256, stem)
        pseudonym = self.pseudonyms.image(sha256)
        return ImageIdentity(pseudonym, self.pseudonyms.patient(patient_key), "", "", pseudonym)

    def patient(self, patient_key: str) -> str:
        return patient_key if self.keep_ids else self.pseudonyms.patient(patient_key)

    def uid(self, uid: str) -> str:
        return uid if self.keep_ids else self.pseudonyms.uid(uid)
