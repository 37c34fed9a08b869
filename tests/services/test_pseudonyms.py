"""Pseudonyms are keyed: nobody without the project's secret can recompute one from a guessed id."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from mammo_annotator.core.records import ImageRecord
from mammo_annotator.core.types import AnnotationStatus, WeakLabel
from mammo_annotator.services.export import pseudonyms as ps
from mammo_annotator.services.project import open_project

SECRET = "k" * 64


def test_pseudonyms_are_hmac_sha256_under_the_secret():
    p = ps.Pseudonyms(SECRET)
    mac = hmac.new(SECRET.encode(), b"patient:12345", hashlib.sha256).hexdigest()
    assert p.patient("12345") == "P-" + mac[:16]
    assert p.image("ab" * 32) == "I-" + hmac.new(SECRET.encode(), ("image:" + "ab" * 32).encode(), hashlib.sha256).hexdigest()[:20]
    # a plain hash of the id (what anyone could compute from a guessed patient id) is not it
    for plain in (hashlib.sha256(b"12345").hexdigest(), hashlib.sha256(b"patient:12345").hexdigest()):
        assert p.patient("12345") != "P-" + plain[:16]
    assert ps.Pseudonyms("x" * 64).patient("12345") != p.patient("12345")  # another secret, another pseudonym
    assert ps.Pseudonyms(SECRET).patient("12345") == p.patient("12345")  # the same secret, the same one


def test_formats_fit_their_dicom_fields_and_kinds_do_not_collide():
    p = ps.Pseudonyms(SECRET)
    assert re.fullmatch(r"P-[0-9a-f]{16}", p.patient("a"))
    assert re.fullmatch(r"I-[0-9a-f]{20}", p.image("a"))
    assert re.fullmatch(r"S-[0-9a-f]{14}", p.study("1.2.3"))  # StudyID is SH: 16 characters at most
    assert p.study("1.2.3") == "S-" + hmac.new(SECRET.encode(), b"study:1.2.3", hashlib.sha256).hexdigest()[:14]
    for uid in ("1.2.3", "1.2.840.10008.5.1.4.1.1.1.2", "9" * 64):
        new = p.uid(uid)
        assert re.fullmatch(r"2\.25\.(0|[1-9][0-9]*)", new) and len(new) <= 44 and new != uid
        assert int(new[5:]) == int.from_bytes(hmac.new(SECRET.encode(), f"uid:{uid}".encode(), hashlib.sha256).digest()[:16], "big")
    assert p.uid("1.2.3") == p.uid("1.2.3") != p.uid("1.2.4")
    # the same value under different kinds gives unrelated digests
    digests = {p.patient("v")[2:], p.image("v")[2:18], p.study("v")[2:]}
    assert len(digests) == 3 and p.patient("v")[2:16] != p.study("v")[2:16]


def test_project_secret_is_created_once_and_can_be_shared(tmp_path):
    a = open_project(tmp_path / "a.sqlite", create=True)
    b = open_project(tmp_path / "b.sqlite", create=True)
    try:
        secret = ps.project_secret(a)
        assert re.fullmatch(r"[0-9a-f]{64}", secret) and ps.project_secret(a) == secret
        assert ps.project_secret(b) != secret  # random per project
        assert ps.Pseudonyms.for_project(a).patient("p") == ps.Pseudonyms(secret).patient("p")
        with pytest.raises(ValueError, match="at least 32"):
            ps.set_project_secret(b, "short")
        ps.set_project_secret(b, secret)
        assert ps.Pseudonyms.for_project(b).patient("p") == ps.Pseudonyms.for_project(a).patient("p")
        ps.set_project_secret(b, "y" * 32)  # exactly 32 is enough
        assert ps.project_secret(b) == "y" * 32
    finally:
        a.close()
        b.close()
    again = open_project(tmp_path / "a.sqlite")
    try:
        assert ps.project_secret(again) == secret  # stored in the project: exports made on different days join
    finally:
        again.close()


def test_identities_pseudonymise_unless_keep_ids(tmp_path):
    project = open_project(tmp_path / "p.sqlite", create=True)
    try:
        record = ImageRecord(7, "PAT-1", "ST", "C:\\scans\\Jane Doe 1.dcm", "cd" * 32, 10, 10, 16, None, "L", "CC",
                             "MONOCHROME2", "MG", None, None, WeakLabel(1, 0), None, None, None,
                             AnnotationStatus.NOT_ANNOTATED, 1)
        p = ps.Pseudonyms.for_project(project)
        hidden = ps.Identities(project, keep_ids=False)
        ident = hidden.of(record)
        assert ident == ps.ImageIdentity(p.image("cd" * 32), p.patient("PAT-1"), "", "", p.image("cd" * 32))
        assert hidden.patient("PAT-1") == p.patient("PAT-1") and hidden.uid("1.2.3") == p.uid("1.2.3")
        kept = ps.Identities(project, keep_ids=True)
        ident = kept.of(record)
        assert (ident.image, ident.patient, ident.file, ident.sha256) == ("7", "PAT-1", "Jane Doe 1.dcm", "cd" * 32)
        assert ident.stem.startswith("7_") and "/" not in ident.stem and "\\" not in ident.stem
        assert kept.patient("PAT-1") == "PAT-1" and kept.uid("1.2.3") == "1.2.3"
    finally:
        project.close()
