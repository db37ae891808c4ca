"""Handing a contact to sales: one open handoff per contact, assigned, with a deadline.

``create_handoff`` is what nurture calls when a contact enters purchase mode
and the handoff rule holds. It snapshots the intent evidence (what sales is
told is what the model counted at that moment), picks a salesperson (the
assignment rules of site.yml, else round-robin among active sales users),
fixes the first-response deadline, and puts on the outbox the assignee's
email and the webhooks. Nothing is sent here: the outbox is delivered after
the transaction commits (``cabos sales deliver`` or the worker loop).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.content import current_library
from cabos.intent import current_state
from cabos.intent.scoring import evidence_json, profile_fields
from cabos.intent.store import history
from cabos.sales import accounts, alerts, notify, sla, webhooks
from cabos.sales.lifecycle import FINAL, stage_of
from cabos.sales.models import Handoff
from cabos.sales.policy import policy_of
from cabos.sales.signals import handoff_created
from cabos.staff.accounts import active_sales
from cabos.staff.models import StaffUser
from cabos.tracking.models import Event


def intent_snapshot(session: Session, contact_id: int, now: datetime) -> dict[str, Any]:
    """The intent model's view of the contact at ``now``: mode, grade, score, interest, evidence items."""
    state = current_state(session, contact_id, now)
    if state is None:
        return {"mode": None, "grade": None, "score": 0.0, "interest": [], "items": [], "fit": []}
    a = state.assessment
    stored = evidence_json(a)
    switch = next((c for c in reversed(history(session, contact_id))
                   if c.kind == "mode" and c.to_value == "purchase"), None)
    return {
        "mode": a.mode, "grade": a.grade, "score": round(a.score, 3), "fit_points": a.fit_points,
        "mode_since": state.mode_since.isoformat(),
        "interest": [[p, round(v, 3)] for p, v in a.interest],
        "items": stored["items"], "fit": stored["fit"], "evidence_count": a.evidence_count,
        "purchase_since": switch.occurred_at.isoformat() if switch is not None else None,
        "why": dict(a.why),  # what decided the mode; a demo request carries its form and message
    }


def open_handoff(session: Session, contact_id: int) -> Handoff | None:
    return session.scalar(select(Handoff).where(Handoff.open_contact_id == contact_id))


def latest_handoff(session: Session, contact_id: int) -> Handoff | None:
    return session.scalar(select(Handoff).where(Handoff.contact_id == contact_id)
                          .order_by(Handoff.created_at.desc(), Handoff.id.desc()).limit(1))


def candidates(session: Session, contact: Contact, snapshot: dict[str, Any]) -> list[StaffUser]:
    """Who may get this contact: the first matching assignment rule's people, else every salesperson."""
    everyone = active_sales(session)
    fields = profile_fields(contact.email, {"name": contact.name, "company": contact.company, "role": contact.role,
                                            "company_size": contact.company_size, "country": contact.country},
                            contact.custom)
    interest = snapshot.get("interest") or []
    fields["problem"] = interest[0][0] if interest else None
    fields["grade"] = snapshot.get("grade")
    for rule in policy_of(current_library()).rules:
        if rule.matches(fields):
            chosen = [u for u in everyone if u.email in rule.to]
            if chosen:
                return chosen
    return everyone


def round_robin(session: Session, users: Sequence[StaffUser]) -> StaffUser | None:
    """The user whose last assignment is the oldest (never assigned first; ties by id)."""
    if not users:
        return None
    last = dict(session.execute(select(Handoff.assigned_to, func.max(Handoff.created_at))
                                .where(Handoff.assigned_to.in_([u.id for u in users]))
                                .group_by(Handoff.assigned_to)).all())
    return min(users, key=lambda u: (last.get(u.id) is not None, last.get(u.id) or datetime.min, u.id))


def create_handoff(session: Session, contact: Contact, evidence: dict[str, Any], now: datetime,
                   reason: str = "purchase_mode") -> Handoff:
    """Hand ``contact`` to sales (idempotent: an open handoff is returned as it is).

    ``evidence`` is what made the caller decide (stored as ``trigger`` beside the
    intent snapshot). A disqualified contact is not handed off again: their
    disqualified handoff is returned. The caller commits.
    """
    existing = open_handoff(session, contact.id)
    if existing is not None:
        return existing
    latest = latest_handoff(session, contact.id)
    if latest is not None and stage_of(latest.status) in FINAL:
        return latest
    snapshot = intent_snapshot(session, contact.id, now)
    snapshot["trigger"] = evidence
    interest = snapshot.get("interest") or []
    assignee = round_robin(session, candidates(session, contact, snapshot))
    config = current_app.config
    handoff = Handoff(
        contact_id=contact.id, open_contact_id=contact.id, assigned_to=assignee.id if assignee else None,
        created_at=now, due_at=sla.add_working_hours(now, float(config["SALES_SLA_HOURS"]), sla.schedule_from(config)),
        status="new", reason=reason[:32], evidence=snapshot, score=float(snapshot.get("score") or 0.0),
        grade=snapshot.get("grade"), top_problem=interest[0][0] if interest else None,
    )
    try:
        with session.begin_nested():  # another worker may have just handed the same contact off
            session.add(handoff)
            session.flush()
    except IntegrityError:
        winner = open_handoff(session, contact.id)
        if winner is None:
            raise
        return winner
    accounts.account_of(session, contact, now)  # the account page shows everyone sales is talking to
    session.add(Event(type="handoff", occurred_at=now, contact_id=contact.id, data={
        "handoff": handoff.id, "assigned_to": handoff.assigned_to, "reason": handoff.reason,
        "grade": handoff.grade, "score": handoff.score, "top_problem": handoff.top_problem}))
    notify.enqueue(session, handoff, now)
    webhooks.enqueue(session, "handoff.created", handoff, contact, now)
    alerts.enqueue(session, "handoff.created", handoff, now)
    session.flush()
    handoff_created.send(current_app._get_current_object(), handoff=handoff, session=session)  # type: ignore[attr-defined]
    return handoff


def reassign(session: Session, handoff: Handoff, user: StaffUser, now: datetime) -> None:
    """Give an open handoff to another active salesperson (admins); they get the email."""
    if not handoff.is_open:
        raise ValueError("only an open handoff can be reassigned")
    if not user.active or user.role not in ("sales", "admin"):
        raise ValueError("assign to an active salesperson")
    handoff.assigned_to = user.id
    notify.enqueue(session, handoff, now)
    session.flush()

