"""Counts that tell a researcher what a project holds."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from ..store import extractors as extractor_store
from ..store import images as image_store
from ..store import models as model_store
from ..store import regions as region_store
from ..store.schema import AnnotationRow
from .features import default_extractor_spec
from .project import Project


def project_info(project: Project) -> dict:
    with project.session() as s:
        images = image_store.list_images(s)
        counts = image_store.counts(s)
        regions = region_store.label_counts(s)
        by_class = dict(
            s.execute(select(AnnotationRow.cls, func.count()).where(AnnotationRow.deleted_at.is_(None)).group_by(AnnotationRow.cls)).all()
        )
        versions = model_store.list_model_versions(s)
        active = model_store.active_model_id(s)
        learned = [key for key, _ in extractor_store.list_extractors(s)]
        extractor = model_store.get_setting(s, "extractor", None)
    if extractor is None:
        extractor = default_extractor_spec(project)
    weak = Counter(im.weak.name for im in images)
    status = Counter(im.status.value for im in images)
    return {
        "database": project.location,
        "images": counts["images"],
        "patients": counts["patients"],
        "weak_labels": {k: weak.get(k, 0) for k in ("N", "B", "M", "MB", "unknown")},
        "annotation_status": {k: status.get(k, 0) for k in ("not_annotated", "contoured", "no_malignant")},
        "lesion_contours": {"M": by_class.get("M", 0), "B": by_class.get("B", 0)},
        "regions": {
            "total": regions.get("regions", 0),
            "M": regions.get("M", 0),
            "BN": regions.get("BN", 0),
            "ignored": regions.get("ignored", 0),
            "unlabelled": regions.get("regions", 0) - sum(regions.get(k, 0) for k in ("M", "BN", "ignored")),
        },
        "model_versions": len(versions),
        "active_model": active,
        "extractor": extractor.get("options", {}).get("key") or extractor["name"],
        "learned_extractors": learned,
    }


def format_info(info: dict) -> str:
    w, st, r, c = info["weak_labels"], info["annotation_status"], info["regions"], info["lesion_contours"]
    lines = [
        f"database         {info['database']}",
        f"images           {info['images']} ({info['patients']} patients)",
        f"weak labels      N {w['N']}  B {w['B']}  M {w['M']}  MB {w['MB']}  unknown {w['unknown']}",
        f"annotation       contoured {st['contoured']}  no malignant {st['no_malignant']}  not annotated {st['not_annotated']}",
        f"lesion contours  M {c['M']}  B {c['B']}",
        f"regions          {r['total']} (M {r['M']}  BN {r['BN']}  ignored {r['ignored']}  unlabelled {r['unlabelled']})",
        f"model versions   {info['model_versions']} (active: {info['active_model'] or 'none'})",
        f"extractor        {info['extractor']}  ({len(info['learned_extractors'])} learned backbones stored)",
    ]
    return "\n".join(lines)
