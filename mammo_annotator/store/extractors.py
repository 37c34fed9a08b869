"""Weights of the project's own feature extractors, by extractor key (bytes in, bytes out)."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from .schema import ExtractorWeightsRow


def put_extractor_weights(session: Session, extractor_key: str, weights: bytes, meta: dict) -> None:
    """Store (or keep) the weights of ``extractor_key``; the key holds a digest of the weights,
    so an existing row with the same key already holds the same weights."""
    if session.get(ExtractorWeightsRow, extractor_key) is None:
        session.add(ExtractorWeightsRow(extractor_key=extractor_key, weights=weights,
                                        meta_json=json.dumps(meta, default=str)))
        session.flush()


def extractor_weights(session: Session, extractor_key: str) -> bytes:
    row = session.get(ExtractorWeightsRow, extractor_key)
    if row is None:
        raise KeyError(f"no stored weights for extractor {extractor_key!r}")
    return row.weights


def list_extractors(session: Session) -> list[tuple[str, dict]]:
    """(key, meta) of every stored extractor, oldest first."""
    rows = session.execute(select(ExtractorWeightsRow.extractor_key, ExtractorWeightsRow.meta_json)
                           .order_by(ExtractorWeightsRow.created_at))
    return [(k, json.loads(m)) for k, m in rows]


def features_cached_with(session: Session, key_prefix: str) -> bool:
    """Whether any image has features cached under an extractor key starting with ``key_prefix``."""
    from .schema import FeatureRow

    return session.execute(select(FeatureRow.id).where(FeatureRow.extractor_key.startswith(key_prefix))
                           .limit(1)).first() is not None
