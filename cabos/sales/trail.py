"""The trail as a salesperson reads it: events newest first, in pages, grouped by visit.

A visit is a run of events of one visitor with less than 30 minutes between
them; events that happen off the site (emails, mode changes, handoffs,
outcomes) form runs of their own. Pages are keyset-paged on
(occurred_at, id) through ``ix_events_contact_time``, so page 1 of a
contact with 10,000 events costs what page 1 of any contact costs. A visit
cut by a page boundary continues on the next page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cabos.content.library import Library
from cabos.tracking.models import Event
from cabos.tracking.trail import trail as events_page

VISIT_GAP = timedelta(minutes=30)
PAGE_SIZE = 50
_CURSOR = re.compile(r"^(\d{1,12})\.(\d{1,6})_(\d{1,19})$")


@dataclass
class Visit:
    visitor_id: str | None
    events: list[Event] = field(default_factory=list)

    @property
    def started_at(self) -> datetime:
        return self.events[-1].occurred_at

    @property
    def ended_at(self) -> datetime:
        return self.events[0].occurred_at

    @property
    def on_site(self) -> bool:
        return self.visitor_id is not None


@dataclass
class TrailPage:
    visits: list[Visit]
    next_cursor: str | None
    count: int


def cursor_of(event: Event) -> str:
    ts = event.occurred_at.timestamp()
    seconds = int(ts)
    micros = event.occurred_at.microsecond
    return f"{seconds}.{micros:06d}_{event.id}"


def parse_cursor(raw: str | None) -> tuple[datetime, int] | None:
    """(occurred_at, id) from a cursor; anything malformed is the first page."""
    if not raw:
        return None
    m = _CURSOR.match(raw)
    if m is None:
        return None
    try:
        at = datetime.fromtimestamp(int(m.group(1)), UTC).replace(microsecond=int(m.group(2)))
    except (OverflowError, OSError, ValueError):
        return None
    return at, int(m.group(3))


def group_visits(events: list[Event]) -> list[Visit]:
    """Newest-first events into visits (same visitor, gaps under 30 minutes)."""
    visits: list[Visit] = []
    for event in events:
        current = visits[-1] if visits else None
        if current is not None and current.visitor_id == event.visitor_id \
                and current.events[-1].occurred_at - event.occurred_at < VISIT_GAP:
            current.events.append(event)
        else:
            visits.append(Visit(event.visitor_id, [event]))
    return visits


def page(session: Session, contact_id: int, cursor: str | None = None, limit: int = PAGE_SIZE) -> TrailPage:
    """One page of the contact's trail, grouped by visit; ``next_cursor`` opens the next one."""
    rows = events_page(session, contact_id, limit=limit + 1, before=parse_cursor(cursor))
    more = len(rows) > limit
    rows = rows[:limit]
    return TrailPage(group_visits(rows), cursor_of(rows[-1]) if more and rows else None, len(rows))


def title(event: Event, library: Library) -> str:
    """The content's title, or its slug if it is gone from the library."""
    if event.content_kind in ("article", "guide", "page") and event.content_slug:
        doc = library.document(event.content_kind, event.content_slug)  # type: ignore[arg-type]
        if doc is not None:
            return doc.title
    return event.content_slug or ""


def event_json(event: Event, library: Library) -> dict[str, Any]:
    """One event for webhooks and the API."""
    out: dict[str, Any] = {"id": event.id, "type": event.type, "occurred_at": event.occurred_at.isoformat(),
                           "visitor": event.visitor_id}
    if event.content_slug:
        out.update({"content_kind": event.content_kind, "content_slug": event.content_slug,
                    "title": title(event, library), "stage": event.stage, "problems": list(event.problems or [])})
    if event.type == "reading":
        out.update({"engaged_ms": event.engaged_ms, "scroll_pct": event.scroll_pct, "read_to_end": event.read_to_end})
    out["data"] = dict(event.data or {})
    return out
