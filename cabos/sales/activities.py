"""Notes, calls, meetings and emails a salesperson logs on a contact, each with an optional next step.

Each one is a ``sales_activities`` row (what the Today page and the API read)
and an ``activity`` event on the contact's trail (so marketing sees the
conversation beside the reading). A new next step replaces the contact's open
ones: a contact has one next thing to do, not a pile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.sales.models import Activity
from cabos.staff.models import StaffUser
from cabos.tracking.models import Event

KINDS = ("note", "call", "meeting", "email")
MAX_BODY = 2000
MAX_STEP = 300


class ActivityError(ValueError):
    """The note cannot be saved; the message says what to fix. HTTP 400."""

    code = 400


@dataclass(frozen=True)
class ActivityInput:
    kind: str
    body: str = ""
    next_step: str = ""
    due_on: date | None = None


def validate(data: ActivityInput, today: date) -> ActivityInput:
    """Check the texts and the due date (``today`` in the sales team's zone); return the cleaned input."""
    if data.kind not in KINDS:
        raise ActivityError(_("Choose what it was: %(kinds)s.", kinds=", ".join(KINDS)))
    body = (data.body or "").strip()
    step = " ".join((data.next_step or "").split())
    if not body and not step:
        raise ActivityError(_("Write what was said, or a next step."))
    if len(body) > MAX_BODY:
        raise ActivityError(_("The note is too long (%(num)d characters; at most %(max)d).", num=len(body),
                              max=MAX_BODY))
    if len(step) > MAX_STEP:
        raise ActivityError(_("The next step is too long (%(num)d characters; at most %(max)d).", num=len(step),
                              max=MAX_STEP))
    if step and data.due_on is None:
        raise ActivityError(_("Give the next step a due date."))
    if data.due_on is not None and not step:
        raise ActivityError(_("Say what the next step is, or leave its date empty."))
    if data.due_on is not None and data.due_on < today:
        raise ActivityError(_("The due date is in the past; choose today or later."))
    return ActivityInput(data.kind, body, step, data.due_on)


def record(session: Session, contact: Contact, data: ActivityInput, by: StaffUser | None, now: datetime,
           today: date) -> Activity:
    """Validate and store ``data`` on ``contact`` (row and trail event); the caller commits."""
    data = validate(data, today)
    if data.next_step:
        close_steps(session, contact.id, now)
    activity = Activity(contact_id=contact.id, staff_user_id=by.id if by else None, kind=data.kind, body=data.body,
                        next_step=data.next_step, due_on=data.due_on, occurred_at=now, created_at=now)
    session.add(activity)
    session.flush()
    session.add(Event(type="activity", occurred_at=now, contact_id=contact.id, data={
        "activity": activity.id, "kind": data.kind, "body": data.body[:500], "by": by.id if by else None,
        "next_step": data.next_step or None, "due_on": data.due_on.isoformat() if data.due_on else None}))
    return activity


def close_steps(session: Session, contact_id: int, now: datetime) -> None:
    """Mark the contact's open next steps done."""
    session.execute(update(Activity).where(Activity.contact_id == contact_id, Activity.due_on.is_not(None),
                                           Activity.done_at.is_(None)).values(done_at=now)
                    .execution_options(synchronize_session=False))


def complete(session: Session, activity: Activity, now: datetime) -> None:
    """The next step was done."""
    if activity.done_at is None and activity.due_on is not None:
        activity.done_at = now


def recent(session: Session, contact_id: int, limit: int = 50) -> list[Activity]:
    return list(session.scalars(select(Activity).where(Activity.contact_id == contact_id)
                                .order_by(Activity.occurred_at.desc(), Activity.id.desc()).limit(limit)))


def open_step(session: Session, contact_id: int) -> Activity | None:
    """The contact's open next step (the soonest due), if any."""
    return session.scalar(select(Activity).where(Activity.contact_id == contact_id, Activity.due_on.is_not(None),
                                                 Activity.done_at.is_(None))
                          .order_by(Activity.due_on, Activity.id).limit(1))


def activity_json(activity: Activity, staff: dict[int, StaffUser] | None = None) -> dict[str, Any]:
    """One activity for the API."""
    by = (staff or {}).get(activity.staff_user_id or 0)
    return {"id": activity.id, "contact_id": activity.contact_id, "kind": activity.kind, "body": activity.body,
            "by": activity.staff_user_id, "by_email": by.email if by else None,
            "occurred_at": activity.occurred_at.isoformat(), "next_step": activity.next_step or None,
            "due_on": activity.due_on.isoformat() if activity.due_on else None,
            "done_at": activity.done_at.isoformat() if activity.done_at else None}
