"""Retention: old events go, and anonymous visitors who never identified go sooner.

Each function deletes one batch and returns how many rows went, so the caller (the CLI)
commits between batches and never holds the write lock for long.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cabos.tracking.models import Event, Visitor


def purge_events(session: Session, before: datetime, batch: int = 5000) -> int:
    """Delete up to ``batch`` events that happened before ``before``."""
    ids = select(Event.id).where(Event.occurred_at < before).limit(batch).scalar_subquery()
    return session.execute(delete(Event).where(Event.id.in_(ids))).rowcount or 0


def purge_anonymous(session: Session, inactive_since: datetime, batch: int = 1000) -> tuple[int, int]:
    """Delete up to ``batch`` visitors never linked to a contact and unseen since ``inactive_since``,
    with their events; return (visitors, events)."""
    ids = list(session.scalars(select(Visitor.id).where(Visitor.contact_id.is_(None),
                                                         Visitor.last_seen_at < inactive_since).limit(batch)))
    if not ids:
        return 0, 0
    events = session.execute(delete(Event).where(Event.visitor_id.in_(ids))).rowcount or 0
    visitors = session.execute(delete(Visitor).where(Visitor.id.in_(ids), Visitor.contact_id.is_(None))).rowcount or 0
    return visitors, events
