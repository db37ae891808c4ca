"""Reading the trail: one contact's events newest first, one article's readings over time.

Both are paged (keyset, never OFFSET) and served by the events indexes:
(contact_id, occurred_at) and (content_slug, occurred_at).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from cabos.tracking.models import ContentView, DropCount, Event

# A reading with no engaged time counts a view, never interest: intent filters with this.
ENGAGED = and_(Event.type == "reading", Event.engaged_ms > 0)


def trail(session: Session, contact_id: int, limit: int = 50,
          before: tuple[datetime, int] | None = None) -> list[Event]:
    """A contact's events, newest first; pass the last row's (occurred_at, id) for the next page."""
    query = select(Event).where(Event.contact_id == contact_id)
    if before is not None:
        at, event_id = before
        query = query.where(or_(Event.occurred_at < at, and_(Event.occurred_at == at, Event.id < event_id)))
    return list(session.scalars(query.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit)))


def readings_of(session: Session, slug: str, since: datetime, until: datetime, limit: int = 1000) -> list[Event]:
    """Readings of one content between two times, oldest first."""
    query = (select(Event).where(Event.content_slug == slug, Event.occurred_at >= since,
                                 Event.occurred_at < until, Event.type == "reading")
             .order_by(Event.occurred_at, Event.id).limit(limit))
    return list(session.scalars(query))


def views_by_day(session: Session, kind: str, slug: str, since: date) -> list[tuple[date, int, int]]:
    """(day, views, of which untracked) for one content, from the aggregate counts."""
    rows = session.execute(select(ContentView.day, ContentView.views, ContentView.untracked)
                           .where(ContentView.content_kind == kind, ContentView.content_slug == slug,
                                  ContentView.day >= since).order_by(ContentView.day))
    return [(d, v, u) for d, v, u in rows]


def drop_counts(session: Session, since: date) -> list[tuple[str, int]]:
    """Dropped beacons per reason since a day, most frequent first (for staff)."""
    total = func.sum(DropCount.count)
    rows = session.execute(select(DropCount.reason, total).where(DropCount.day >= since)
                           .group_by(DropCount.reason).order_by(total.desc(), DropCount.reason))
    return [(r, int(n)) for r, n in rows]


def drops_by_day(session: Session, since: date) -> list[tuple[date, str, int]]:
    """(day, reason, count) of dropped beacons since a day, newest day first (for staff)."""
    rows = session.execute(select(DropCount.day, DropCount.reason, DropCount.count).where(DropCount.day >= since)
                           .order_by(DropCount.day.desc(), DropCount.reason))
    return [(d, r, int(n)) for d, r, n in rows]
