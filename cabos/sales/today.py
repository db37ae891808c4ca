"""A salesperson's day: what is new, what is overdue, what is due today, who came back to read.

Every list is the salesperson's own (handoffs assigned to them, next steps they
wrote) and bounded; each line carries the facts the page turns into its
"why". The reads go through indexes: handoffs by (assignee, status, time),
next steps by (author, done, due date), the trail by (contact, time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.sales.models import Activity, Handoff
from cabos.sales.queue import overdue_clause
from cabos.staff.models import StaffUser
from cabos.tracking.models import Event

LIMIT = 20  # per list: a day has only so many lines worth reading (the queue has the rest)
RECENT_CONTACTS = 300  # "came back" looks at the salesperson's most recent contacts


@dataclass(frozen=True)
class Line:
    contact: Contact
    at: datetime | date  # what the line is sorted by: handed off, due, read
    handoff: Handoff | None = None
    step: Activity | None = None
    readings: int = 0  # came back: how many readings since the last contact
    last_title: str = ""
    since: datetime | None = None


@dataclass
class Day:
    new: list[Line] = field(default_factory=list)
    overdue: list[Line] = field(default_factory=list)
    due_today: list[Line] = field(default_factory=list)
    late_steps: list[Line] = field(default_factory=list)
    came_back: list[Line] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.new or self.overdue or self.due_today or self.late_steps or self.came_back)


def _contacts(session: Session, ids: set[int]) -> dict[int, Contact]:
    if not ids:
        return {}
    return {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(ids)))}


def day(session: Session, user: StaffUser, now: datetime, today: date, title_of: Any = None) -> Day:
    """The lists of ``user``'s day at ``now`` (``today`` in the team's zone)."""
    mine = Handoff.assigned_to == user.id
    new = list(session.scalars(select(Handoff).where(mine, Handoff.status == "new", Handoff.first_response_at.is_(None),
                                                     Handoff.due_at >= now)
                               .order_by(Handoff.created_at.desc()).limit(LIMIT)))
    late = list(session.scalars(select(Handoff).where(mine, overdue_clause(now)).order_by(Handoff.due_at)
                                .limit(LIMIT)))
    steps = list(session.scalars(select(Activity).where(Activity.staff_user_id == user.id, Activity.done_at.is_(None),
                                                        Activity.due_on.is_not(None), Activity.due_on <= today)
                                 .order_by(Activity.due_on.desc(), Activity.id).limit(2 * LIMIT)))
    back = came_back(session, user, now)
    contacts = _contacts(session, {h.contact_id for h in new + late} | {s.contact_id for s in steps}
                         | {c for c, *_ in back})
    found = Day()
    found.new = [Line(contacts[h.contact_id], h.created_at, handoff=h) for h in new if h.contact_id in contacts]
    found.overdue = [Line(contacts[h.contact_id], h.due_at, handoff=h) for h in late if h.contact_id in contacts]
    for s in steps:
        bucket = found.due_today if s.due_on == today else found.late_steps
        if s.contact_id in contacts and len(bucket) < LIMIT:
            bucket.append(Line(contacts[s.contact_id], s.due_on or today, step=s))
    titles = latest_titles(session, back, title_of)
    found.came_back = [Line(contacts[c], last, readings=n, last_title=titles.get(c, ""), since=since)
                       for c, last, n, since in back if c in contacts]
    return found


def came_back(session: Session, user: StaffUser, now: datetime) -> list[tuple[int, datetime, int, datetime]]:
    """(contact, last reading, readings since, since) for ``user``'s contacts who read after their last contact.

    "Their last contact" is the salesperson's latest note or call on the contact,
    else the first response to the handoff, else the handoff itself.
    """
    handoffs = session.execute(select(Handoff.contact_id, func.max(func.coalesce(Handoff.first_response_at,
                                                                                 Handoff.created_at)))
                               .where(Handoff.assigned_to == user.id, Handoff.status != "disqualified")
                               .group_by(Handoff.contact_id)
                               .order_by(func.max(Handoff.created_at).desc()).limit(RECENT_CONTACTS)).all()
    if not handoffs:
        return []
    since = {c: at for c, at in handoffs}
    ids = list(since)
    for c, at in session.execute(select(Activity.contact_id, func.max(Activity.occurred_at))
                                 .where(Activity.staff_user_id == user.id, Activity.contact_id.in_(ids))
                                 .group_by(Activity.contact_id)):
        since[c] = max(since[c], at)
    # One query: each contact's readings after their own "since" (a CASE on the contact), read through
    # (contact_id, occurred_at) for these contacts only.
    after = case({c: literal(at, Event.occurred_at.type) for c, at in since.items()}, value=Event.contact_id)
    found = session.execute(select(Event.contact_id, func.max(Event.occurred_at), func.count())
                            .where(Event.contact_id.in_(ids), Event.type == "reading", Event.occurred_at > after)
                            .group_by(Event.contact_id)).all()
    out = [(c, last, n, since[c]) for c, last, n in found]
    out.sort(key=lambda r: r[1], reverse=True)
    return out[:LIMIT]


def latest_titles(session: Session, back: list[tuple[int, datetime, int, datetime]], title_of: Any) -> dict[int, str]:
    """The title of each contact's newest reading (one query: the reading at each contact's last time)."""
    if title_of is None or not back:
        return {}
    last = {c: literal(at, Event.occurred_at.type) for c, at, *_ in back}
    events = session.scalars(select(Event).where(Event.contact_id.in_(list(last)), Event.type == "reading",
                                                 Event.occurred_at == case(last, value=Event.contact_id)))
    return {e.contact_id: title_of(e) for e in events if e.contact_id is not None}
