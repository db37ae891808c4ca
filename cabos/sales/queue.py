"""The handoff queue: who is waiting for which salesperson, hottest first, overdue ones flagged.

Every sort and filter comes from an allow-list; anything else falls back to
the default. A salesperson only ever sees their own handoffs (the scope is
part of the query, not of the template).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Select, and_, select
from sqlalchemy.orm import Session

from cabos import formats
from cabos.contacts.models import Contact
from cabos.intent.models import IntentState
from cabos.intent.rules import Rules
from cabos.intent.scoring import decay
from cabos.sales.lifecycle import stage_of
from cabos.sales.models import CLOSED, OPEN, Handoff
from cabos.staff.models import StaffUser

SORTS = ("hot", "waiting", "due", "newest")
STATUSES = ("open", "new", "accepted", "overdue", "closed", "all", *CLOSED)
PAGE_SIZE = 50
MAX_ROWS = 5000  # the "hot" sort ranks in Python (decay is per contact): bounded


@dataclass(frozen=True)
class Filters:
    status: str = "open"
    sort: str = "hot"
    assignee: str = "all"  # 'all' | 'none' | a staff user id
    page: int = 1

    @classmethod
    def from_args(cls, args: Mapping[str, str], may_pick_assignee: bool) -> Filters:
        """Allow-listed filters from query parameters; unknown values give the default."""
        status = args.get("status", "open")
        sort = args.get("sort", "hot")
        assignee = args.get("assignee", "all") if may_pick_assignee else "all"
        if assignee not in ("all", "none") and not (assignee.isdigit() and len(assignee) < 10):
            assignee = "all"
        page_raw = args.get("page", "1")
        page = int(page_raw) if page_raw.isdigit() and len(page_raw) < 6 else 1
        return cls(status if status in STATUSES else "open", sort if sort in SORTS else "hot", assignee, max(page, 1))


@dataclass(frozen=True)
class Row:
    handoff: Handoff
    contact: Contact
    assignee: StaffUser | None
    score: float  # now, decay applied
    mode: str | None
    overdue: bool
    waited: timedelta  # handed off → first response (or now, or closing): the CSV's waited_hours
    stage: str = "lead"

    @property
    def waiting(self) -> timedelta | None:
        """How long the lead has been waiting for a first answer (None once answered or closed)."""
        return self.waited if self.handoff.first_response_at is None and self.handoff.is_open else None

    @property
    def answered_in(self) -> timedelta | None:
        return self.waited if self.handoff.first_response_at is not None else None


def visible(query: Select, user: StaffUser) -> Select:
    """Salespeople see their own handoffs; admins and marketing see every one."""
    if user.role == "sales":
        return query.where(Handoff.assigned_to == user.id)
    return query


def overdue_clause(now: datetime):  # type: ignore[no-untyped-def]
    return and_(Handoff.status == "new", Handoff.first_response_at.is_(None), Handoff.due_at < now)


def rows(session: Session, user: StaffUser, filters: Filters, rules: Rules, now: datetime,
         page_size: int = PAGE_SIZE) -> tuple[list[Row], bool]:
    """One page of the queue and whether there is another."""
    query = (select(Handoff, Contact, StaffUser, IntentState.score, IntentState.computed_at, IntentState.mode)
             .join(Contact, Contact.id == Handoff.contact_id)
             .outerjoin(StaffUser, StaffUser.id == Handoff.assigned_to)
             .outerjoin(IntentState, IntentState.contact_id == Handoff.contact_id))
    query = visible(query, user)
    status = filters.status
    if status == "open":
        query = query.where(Handoff.status.in_(OPEN))
    elif status == "closed":
        query = query.where(Handoff.status.in_(CLOSED))
    elif status == "overdue":
        query = query.where(overdue_clause(now))
    elif status != "all":
        query = query.where(Handoff.status == status)
    if filters.assignee == "none":
        query = query.where(Handoff.assigned_to.is_(None))
    elif filters.assignee != "all":
        query = query.where(Handoff.assigned_to == int(filters.assignee))
    order = {"waiting": (Handoff.created_at.asc(), Handoff.id.asc()), "due": (Handoff.due_at.asc(), Handoff.id.asc()),
             "newest": (Handoff.created_at.desc(), Handoff.id.desc()), "hot": (Handoff.created_at.desc(),
                                                                                Handoff.id.desc())}[filters.sort]
    query = query.order_by(*order)
    start = (filters.page - 1) * page_size
    if filters.sort == "hot":
        found = [_row(r, rules, now) for r in session.execute(query.limit(MAX_ROWS))]
        # Hottest: the highest score now; overdue first among equals, then the longest waiting.
        found.sort(key=lambda r: (-round(r.score, 6), not r.overdue, r.handoff.created_at, r.handoff.id))
        return found[start:start + page_size], len(found) > start + page_size
    page = [_row(r, rules, now) for r in session.execute(query.offset(start).limit(page_size + 1))]
    return page[:page_size], len(page) > page_size


def _row(r: object, rules: Rules, now: datetime) -> Row:
    handoff, contact, assignee, score, computed_at, mode = r  # type: ignore[misc]
    current = (score or 0.0) * decay(now - computed_at, rules) if computed_at is not None else 0.0
    overdue = handoff.status == "new" and handoff.first_response_at is None and handoff.due_at < now
    end = handoff.first_response_at or (now if handoff.is_open else handoff.closed_at or now)
    return Row(handoff, contact, assignee, current, mode, overdue, end - handoff.created_at, stage_of(handoff.status))


def may_open(session: Session, user: StaffUser, contact_id: int) -> bool:
    """Whether ``user`` may see this contact: admins and marketing always, sales when handed to them."""
    if user.role in ("admin", "marketer"):
        return True
    return session.scalar(select(Handoff.id).where(Handoff.contact_id == contact_id,
                                                   Handoff.assigned_to == user.id).limit(1)) is not None


def may_act(user: StaffUser, handoff: Handoff) -> bool:
    """Whether ``user`` may record outcomes on ``handoff``: its assignee, or an admin."""
    return user.role == "admin" or (user.role == "sales" and handoff.assigned_to == user.id)


# -- CSV -----------------------------------------------------------------------------------------

CSV_COLUMNS = ("handoff", "status", "handed_off_at", "due_at", "overdue", "waited_hours", "name", "email", "company",
               "role", "country", "grade", "score", "top_problem", "assigned_to", "first_response_at",
               "outcome_reason", "revenue", "currency", "won_on")


def to_csv(found: Iterable[Row], problem_names: Mapping[str, str]) -> str:
    """The rows in the locale's spreadsheet dialect; times in the team's zone, numbers as numbers."""
    rows = ([h.id, h.status, h.created_at, h.due_at, "yes" if r.overdue else "no",
             round(r.waited.total_seconds() / 3600, 1), c.name, c.email, c.company, c.role, c.country, h.grade,
             round(r.score, 1), problem_names.get(h.top_problem or "", h.top_problem or ""),
             r.assignee.email if r.assignee else "", h.first_response_at,
             h.outcome_reason, Decimal(h.revenue_cents) / 100 if h.revenue_cents is not None else None,
             h.currency or "", h.won_on]
            for r in found for h, c in [(r.handoff, r.contact)])
    return formats.csv_text(CSV_COLUMNS, rows)


def all_rows(session: Session, user: StaffUser, filters: Filters, rules: Rules, now: datetime) -> list[Row]:
    """Every row of the filtered queue (CSV export), up to MAX_ROWS."""
    first = Filters(filters.status, filters.sort, filters.assignee, 1)
    return rows(session, user, first, rules, now, page_size=MAX_ROWS)[0]
