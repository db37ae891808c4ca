"""The emails that tell a salesperson a contact is theirs (with the brief) and that it is overdue.

Queued on the sales outbox when the handoff is made, or when it passes its
first-response deadline (``alerts.queue_overdue``), so they leave only if that
commits; rendered when sent, from the handoff as it is then: an overdue
reminder for a handoff answered in the meantime is not sent.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage

from flask import current_app, render_template
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.content import current_library
from cabos.intent.rules import current_rules
from cabos.sales.brief import compose
from cabos.sales.models import Delivery, Handoff
from cabos.staff.models import StaffUser


EVENTS = ("handoff.assigned", "handoff.overdue")


def enqueue(session: Session, handoff: Handoff, now: datetime, event: str = "handoff.assigned") -> Delivery | None:
    """Queue the email about ``event`` to the handoff's assignee (none when nobody is assigned)."""
    if handoff.assigned_to is None:
        return None
    delivery = Delivery(kind="email", event=event, handoff_id=handoff.id, contact_id=handoff.contact_id,
                        target=str(handoff.assigned_to), payload={}, created_at=now, next_attempt_at=now)
    session.add(delivery)
    return delivery


def staff_url(path: str) -> str:
    base = current_app.config.get("SITE_URL") or current_library().site.base_url
    return base.rstrip("/") + path


def message_for(session: Session, delivery: Delivery, now: datetime) -> EmailMessage | None:
    """The email for ``delivery``, or None when there is nothing to say any more (gone, reassigned)."""
    handoff = session.get(Handoff, delivery.handoff_id) if delivery.handoff_id else None
    user = session.get(StaffUser, int(delivery.target)) if delivery.target.isdigit() else None
    if handoff is None or user is None or not user.active or handoff.assigned_to != user.id:
        return None
    overdue = delivery.event == "handoff.overdue"
    if overdue and (handoff.status != "new" or handoff.first_response_at is not None):
        return None  # answered since the reminder was queued
    contact = session.get(Contact, handoff.contact_id)
    if contact is None:
        return None
    library = current_library()
    brief = compose(session, contact, library, current_rules(), now)
    context = {"brief": brief, "contact": contact, "handoff": handoff, "user": user, "site": library.site,
               "url": staff_url(f"/staff/contacts/{contact.id}")}
    message = EmailMessage()
    who = contact.name or contact.email
    if overdue:
        subject = _("Overdue: %(who)s is still waiting for your first answer", who=who)
    else:
        subject = _("New contact for you: %(who)s", who=who)
    if contact.company:
        subject += f" ({contact.company})"
    # Header injection is impossible (EmailMessage refuses newlines), but keep subjects one line.
    message["Subject"] = " ".join(subject.split())[:200]
    message["To"] = user.email
    message.set_content(render_template("sales/email_overdue.txt" if overdue else "sales/email.txt", **context))
    return message
