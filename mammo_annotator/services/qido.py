"""QIDO-RS: which mammograms a PACS holds. A query is read page by page to an empty page, at
most ``MAMMO_DICOMWEB_MAX_ROWS`` rows (100,000): a PACS that pages for ever is stopped, the rows
received are used and the report names the query and the cap. A study, series or instance the
PACS describes incompletely is reported by name, never guessed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence
from urllib.parse import urlencode

from ..core.errors import MammoError
from .pacs_session import ENV_MAX_ROWS, PacsError, explain, max_rows

STUDY_UID, SERIES_UID, SOP_UID, MODALITY, STUDY_DATE = "0020000D", "0020000E", "00080018", "00080060", "00080020"
QIDO_PAGE_ROWS = 500


@dataclass(frozen=True)
class InstanceRef:
    study: str
    series: str
    sop: str

    @property
    def key(self) -> str:
        return f"{self.study}/{self.series}/{self.sop}"


def _value(item: object, tag: str) -> str | None:
    """The first value of ``tag`` in a DICOM JSON data set; None when the PACS left it out or sent
    something that is not DICOM JSON (a bare string value is taken whole, never its first letter)."""
    element = item.get(tag) if isinstance(item, dict) else None
    values = element.get("Value") if isinstance(element, dict) else None
    if isinstance(values, (str, int, float)):
        values = [values]
    if not isinstance(values, list) or not values or values[0] in (None, ""):
        return None
    return str(values[0])


def qido_date(text: str) -> str:
    """'2024-05-01' or '20240501' -> '20240501' (a QIDO date), or a clear error (also for a day
    that does not exist: 2024-13-45 was sent to the PACS)."""
    import datetime

    text = text.strip()
    digits = text.replace("-", "")
    try:
        if not re.fullmatch(r"\d{8}", digits):
            raise ValueError
        datetime.datetime.strptime(digits, "%Y%m%d")
    except ValueError:
        raise MammoError(f"Studies since: '{text}' is not a date; write it as 2024-05-01") from None
    return digits


def _search_all(search, key: str, url: str, query: str, where: str, problems: list[tuple[str, str]],
                **kw) -> list[dict]:
    """Every match of a QIDO query, a page at a time (``limit``/``offset``); stops at an empty page
    or at a page that brings nothing new (a PACS that ignores ``offset``), never at a short one (a
    PACS's own page size may be below the one asked for). Each page has one
    deadline (``http_deadline``), its retries included. A PACS that keeps sending new rows (a bug,
    or a hostile server) is stopped after ``max_rows()``: the rows received are kept, and an entry
    in ``problems`` (at ``where``) names the query and the cap."""
    from . import http_deadline

    cap = max_rows()
    out: list[dict] = []
    seen: set[str] = set()
    received = 0
    while True:
        limit = min(QIDO_PAGE_ROWS, cap + 1 - received)  # one row past the cap tells a full answer from more
        with http_deadline.Transfer(url):
            rows = search(limit=limit, offset=len(out), **kw)
        if not isinstance(rows, list):
            raise PacsError(url, f"the PACS's answer to a query is not DICOM JSON (a {type(rows).__name__}, not a list of data sets)")
        fresh = [r for r in rows if _value(r, key) not in seen]
        out.extend(fresh)
        seen.update(_value(r, key) for r in fresh)
        received += len(rows)
        if not rows or not fresh:  # a short page is not the end: a PACS may page fewer rows than asked
            return out
        if received > cap:
            problems.append((where, f"the PACS kept sending rows for the query {query}: stopped after {cap} rows (the cap "
                                    f"set by {ENV_MAX_ROWS}); those received are used, any others are left out. Narrow "
                                    f"the query (e.g. studies since a date) or raise {ENV_MAX_ROWS}"))
            return out[:cap]


def _query(url: str, path: str, filters: dict | None = None) -> str:
    """A QIDO query as its URL, for a message (the filters as the PACS gets them)."""
    return f"{url.rstrip('/')}{path}" + (f"?{urlencode(filters)}" if filters else "")


def find_instances(client, url: str, studies: Sequence[str] = (), modality: str | None = "MG",
                   since: str | None = None, problems: list[tuple[str, str]] | None = None) -> list[InstanceRef]:
    """QIDO-RS: the instances of the given studies (or of every study since ``since`` holding
    ``modality``), restricted to series of that modality. A study, series or instance the PACS
    lists without its UID cannot be retrieved: it is added to ``problems`` (where, reason), never
    dropped unsaid."""
    from . import http_deadline

    problems = [] if problems is None else problems

    def lacking(where: str, rows: list, key: str, name: str) -> None:
        n = sum(1 for r in rows if _value(r, key) is None)
        if n:
            problems.append((where, f"the PACS listed {n} {name}(s) without a {name} Instance UID ({key}); "
                                    "they cannot be retrieved"))

    try:
        if not studies:
            filters = {}
            if modality:
                filters["ModalitiesInStudy"] = modality
            if since:
                filters["StudyDate"] = f"{qido_date(since)}-"
            found = _search_all(client.search_for_studies, STUDY_UID, url, _query(url, "/studies", filters),
                                "pacs:studies", problems, search_filters=filters)
            lacking("pacs:studies", found, STUDY_UID, "Study")
            studies = list(dict.fromkeys(s for s in (_value(r, STUDY_UID) for r in found) if s))
        refs: list[InstanceRef] = []
        for study in studies:
            series_filters = {"Modality": modality} if modality else {}
            found_series = _search_all(client.search_for_series, SERIES_UID, url,
                                       _query(url, f"/studies/{study}/series", series_filters), f"pacs:{study}", problems,
                                       study_instance_uid=study, search_filters=series_filters)
            lacking(f"pacs:{study}", found_series, SERIES_UID, "Series")
            for series in found_series:
                series_uid = _value(series, SERIES_UID)
                if not series_uid or (modality and _value(series, MODALITY) not in (None, modality)):
                    continue
                found_instances = _search_all(client.search_for_instances, SOP_UID, url,
                                              _query(url, f"/studies/{study}/series/{series_uid}/instances"),
                                              f"pacs:{study}/{series_uid}", problems,
                                              study_instance_uid=study, series_instance_uid=series_uid)
                lacking(f"pacs:{study}/{series_uid}", found_instances, SOP_UID, "SOP")
                for inst in found_instances:
                    sop = _value(inst, SOP_UID)
                    if sop:
                        refs.append(InstanceRef(study, series_uid, sop))
        return refs
    except Exception as exc:
        if isinstance(exc, MammoError) and not isinstance(exc, http_deadline.TooSlow):
            raise
        raise explain(url, exc) from exc
