"""What happened after the call: accept, send back to nurture, disqualify, won, lost.

Every outcome is a ``handoff_outcomes`` row (the dashboard reads them), an
``outcome`` event on the contact's trail (marketing sees it there), a
webhook, and the ``outcome_recorded`` signal (nurture re-enrols a contact
sent back). The first outcome of any kind is the first response the SLA
measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.content import current_library
from cabos.intent import hooks as intent_hooks
from cabos.sales import webhooks
from cabos.sales.models import CLOSED, Handoff, HandoffOutcome
from cabos.sales.policy import policy_of
from cabos.sales.signals import outcome_recorded
from cabos.staff.models import StaffUser
from cabos.tracking.models import Event

KINDS = ("accepted", "sent_back", "disqualified", "won", "lost")
NEEDS_REASON = ("sent_back", "disqualified", "lost")
MAX_REVENUE_CENTS = 10**14  # a trillion in any currency: beyond that it is a typo


class OutcomeError(ValueError):
    """The outcome cannot be recorded; the message says what to fix. HTTP 400."""

    code = 400


@dataclass(frozen=True)
class OutcomeInput:
    kind: str
    reason: str = ""
    note: str = ""
    revenue_cents: int | None = None
    currency: str | None = None
    won_on: date | None = None


def allowed(handoff: Handoff) -> tuple[str, ...]:
    """The outcomes a handoff in its current status can take."""
    if handoff.status == "new":
        return KINDS
    if handoff.status == "accepted":
        return KINDS[1:]
    return ()


def validate(handoff: Handoff, data: OutcomeInput, now: datetime) -> OutcomeInput:
    """Check ``data`` against the status and the configured reasons; fill the defaults."""
    if data.kind not in KINDS:
        raise OutcomeError(_("Unknown outcome; choose one of: %(kinds)s", kinds=", ".join(KINDS)))
    if data.kind not in allowed(handoff):
        raise OutcomeError(_("This handoff is already closed (%(status)s).", status=handoff.status)
                           if handoff.status in CLOSED else
                           _("This handoff is already accepted."))
    policy = policy_of(current_library())
    reason = " ".join((data.reason or "").split())
    if data.kind in NEEDS_REASON:
        if reason not in policy.reasons.get(data.kind, ()):
            raise OutcomeError(_("Choose one of the reasons in the list."))
    elif data.kind != "won":
        reason = ""
    note = (data.note or "").strip()[:2000]
    if data.kind != "won":
        return OutcomeInput(data.kind, reason, note)
    if data.revenue_cents is None or not 0 < data.revenue_cents <= MAX_REVENUE_CENTS:
        raise OutcomeError(_("Enter the revenue won, a positive amount."))
    currency = (data.currency or policy.currency).upper()
    if len(currency) != 3 or not currency.isalpha():
        raise OutcomeError(_("The currency is a three-letter code, such as EUR."))
    won_on = data.won_on or now.date()
    if won_on > now.date() + timedelta(days=1) or won_on.year < 2000:
        raise OutcomeError(_("The date won cannot be in the future."))
    return OutcomeInput("won", reason, note, data.revenue_cents, currency, won_on)


def record_outcome(session: Session, handoff: Handoff, data: OutcomeInput, by: StaffUser | None,
                   now: datetime) -> HandoffOutcome:
    """Record ``data`` on ``handoff`` (validated first); the caller commits."""
    data = validate(handoff, data, now)
    outcome = HandoffOutcome(handoff_id=handoff.id, contact_id=handoff.contact_id,
                             staff_user_id=by.id if by else None, kind=data.kind, reason=data.reason, note=data.note,
                             revenue_cents=data.revenue_cents, currency=data.currency, won_on=data.won_on,
                             occurred_at=now)
    session.add(outcome)
    if handoff.first_response_at is None:
        handoff.first_response_at = now
    handoff.status = data.kind
    if data.kind in CLOSED:
        handoff.open_contact_id = None
        handoff.closed_at = now
        handoff.outcome_reason = data.reason
    if data.kind == "won":
        handoff.revenue_cents, handoff.currency, handoff.won_on = data.revenue_cents, data.currency, data.won_on
    event_data = {"handoff": handoff.id, "outcome": data.kind, "reason": data.reason or None,
                  "by": by.id if by else None}
    if data.kind == "won":
        event_data.update(revenue_cents=data.revenue_cents, currency=data.currency, won_on=data.won_on.isoformat()
                          if data.won_on else None)
    session.add(Event(type="outcome", occurred_at=now, contact_id=handoff.contact_id, data=event_data))
    session.flush()
    intent_hooks.after_event(session, handoff.contact_id, now)  # an outcome can end purchase mode
    contact = session.get(Contact, handoff.contact_id)
    if contact is not None:
        webhooks.enqueue(session, "handoff.outcome", handoff, contact, now,
                         {"outcome": {"kind": data.kind, "reason": data.reason or None, "note": data.note or None,
                                      "revenue_cents": data.revenue_cents, "currency": data.currency,
                                      "won_on": data.won_on.isoformat() if data.won_on else None,
                                      "by": by.email if by else None}})
    outcome_recorded.send(current_app._get_current_object(), handoff=handoff, outcome=outcome,  # type: ignore[attr-defined]
                          session=session)
    return outcome


def try_record(session: Session, handoff: Handoff, data: OutcomeInput, by: StaffUser | None,
               now: datetime) -> str | None:
    """Record ``data``, or undo the attempt and return why it was refused (None if recorded); the caller commits."""
    try:
        record_outcome(session, handoff, data, by, now)
    except OutcomeError as exc:
        session.rollback()
        return str(exc)
    return None
