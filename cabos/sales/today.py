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

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, load_only

from cabos.contacts.models import Contact
from cabos.sales.models import Activity, Handoff
from cabos.sales.queue import overdue_clause
from cabos.staff.models import StaffUser
from cabos.tracking.models import Event

LIMIT = 20  # per list: a day has only so many lines worth reading (the queue has the rest)
RECENT_CONTACTS = 300  # "came back" looks at the salesperson's most recent contacts
# What a line shows; the JSON columns (a handoff's evidence, an event's data) stay unread.
HANDOFF_LINE = load_only(Handoff.contact_id, Handoff.created_at, Handoff.due_at, Handoff.status, Handoff.grade,
                         Handoff.top_problem, Handoff.first_response_at)
EVENT_LINE = load_only(Event.type, Event.occurred_at, Event.contact_id, Event.content_kind, Event.content_slug)


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
    # A line shows the name, address and company only: the JSON columns stay unread.
    return {c.id: c for c in session.scalars(select(Contact).options(load_only(Contact.email, Contact.name,
                                                                                 Contact.company))
                                               .where(Contact.id.in_(ids)))}


def day(session: Session, user: StaffUser, now: datetime, today: date, title_of: Any = None) -> Day:
    """The lists of ``user``'s day at ``now`` (``today`` in the team's zone)."""
    mine = Handoff.assigned_to == user.id
    new = list(session.scalars(select(Handoff).options(HANDOFF_LINE)
                               .where(mine, Handoff.status == "new", Handoff.first_response_at.is_(None),
                                      Handoff.due_at >= now)
                               .order_by(Handoff.created_at.desc()).limit(LIMIT)))
    late = list(session.scalars(select(Handoff).options(HANDOFF_LINE).where(mine, overdue_clause(now))
                                .order_by(Handoff.due_at).limit(LIMIT)))
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
    # One statement, compiled once and cached: the salesperson's 300 newest contacts ("handed", a CTE
    # read twice) with the moment of their last contact (their latest handoff answer, or a later note of
    # theirs: one grouped read of their notes on these contacts, not a subquery per contact), joined to
    # the events on (contact_id, occurred_at) so each contact's index range starts at its own "since" and
    # only the events after it are visited. (A CASE on 300 contacts made the database test every event
    # of all of them; a VALUES list of 300 pairs cost more to compile than to run.) The type is counted,
    # not filtered: a WHERE on it lets SQLite walk ix_events_type_time instead (1.4 s at 5M events).
    handed = (select(Handoff.contact_id,
                     func.max(func.coalesce(Handoff.first_response_at, Handoff.created_at)).label("at"))
              .where(Handoff.assigned_to == user.id, Handoff.status != "disqualified")
              .group_by(Handoff.contact_id).order_by(func.max(Handoff.created_at).desc())
              .limit(RECENT_CONTACTS).cte("handed"))
    noted = (select(Activity.contact_id, func.max(Activity.occurred_at).label("at"))
             .where(Activity.staff_user_id == user.id, Activity.contact_id.in_(select(handed.c.contact_id)))
             .group_by(Activity.contact_id).subquery("noted"))
    since = (select(handed.c.contact_id, case((noted.c.at > handed.c.at, noted.c.at), else_=handed.c.at).label("at"))
             .outerjoin(noted, noted.c.contact_id == handed.c.contact_id).cte("since"))
    readings = func.count(case((Event.type == "reading", 1)))
    found = session.execute(select(Event.contact_id, func.max(case((Event.type == "reading", Event.occurred_at))),
                                   readings, since.c.at)
                            .select_from(since)
                            .join(Event, (Event.contact_id == since.c.contact_id) & (Event.occurred_at > since.c.at))
                            .group_by(Event.contact_id, since.c.at).having(readings > 0)).all()
    out = [(c, last_read, n, at) for c, last_read, n, at in found]
    out.sort(key=lambda r: r[1], reverse=True)
    return out[:LIMIT]


def latest_titles(session: Session, back: list[tuple[int, datetime, int, datetime]], title_of: Any) -> dict[int, str]:
    """The title of each contact's newest reading (one query: the reading at each contact's last time)."""
    if title_of is None or not back:
        return {}
    # Two expanding IN lists (compiled once, cached): SQLite probes ix_events_contact_time for each
    # (contact, time) combination, at most LIMIT² cheap probes; the exact pairs are kept here. (A row-value
    # IN is not read through that index by SQLite; a CASE on the contact scans every event.)
    wanted = {(c, at) for c, at, *_ in back}
    events = session.scalars(select(Event).options(EVENT_LINE)
                             .where(Event.contact_id.in_({c for c, _at in wanted}),
                                    Event.occurred_at.in_({at for _c, at in wanted})))
    return {e.contact_id: title_of(e) for e in events
            if e.contact_id is not None and e.type == "reading" and (e.contact_id, e.occurred_at) in wanted}
