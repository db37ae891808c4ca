"""Leaving sequences: purchase mode, handoff to sales, unsubscribe; and coming back when sales sends a contact back.

The intent part announces every change of mode or grade (``intent_changed``);
sales announces handoffs and outcomes. Nurture listens:

- a contact who switches to purchase mode leaves every sequence that has the
  ``purchase_mode`` exit, and their queued sends are cancelled;
- if the handoff rule holds as well (``should_hand_off``), they leave *all*
  sequences and ``create_handoff`` hands them to sales;
- any handoff (however it was made) ends their sequences;
- a handoff sent back to nurture resumes the sequences the contact left for it,
  at the step they would have received next;
- a contact who becomes a customer (won) leaves the sequences meant for
  prospects (those with the ``handoff`` exit).

Receivers run inside the caller's transaction and never commit.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.intent.scoring import PURCHASE, Assessment, evidence_json
from cabos.intent.store import IntentUpdate, intent_changed
from cabos.nurture.models import ACTIVE, CANCELLED, EXITED, QUEUED, Enrolment, OutboxMessage
from cabos.nurture.sequences import Nurture, nurture_of
from cabos.sales.handoffs import create_handoff
from cabos.sales.models import Handoff
from cabos.sales.signals import handoff_created, outcome_recorded

log = logging.getLogger("cabos.nurture")


def exit_sequences(session: Session, contact_id: int, reason: str, now: datetime,
                   sequences: list[str] | None = None) -> int:
    """End the contact's active enrolments (all, or those in ``sequences``); cancel their queued sends."""
    enrolments = update(Enrolment).where(Enrolment.contact_id == contact_id, Enrolment.status == ACTIVE)
    queued = update(OutboxMessage).where(OutboxMessage.contact_id == contact_id, OutboxMessage.status == QUEUED)
    if sequences is not None:
        if not sequences:
            return 0
        enrolments = enrolments.where(Enrolment.sequence.in_(sequences))
        queued = queued.where(OutboxMessage.sequence.in_(sequences))
    ended = session.execute(enrolments.values(status=EXITED, exit_reason=reason, ended_at=now, updated_at=now,
                                              next_due_at=None).execution_options(synchronize_session=False)).rowcount
    # Rows a sender has already claimed are stopped by the sender's own check (enrolment exited).
    session.execute(queued.values(status=CANCELLED, reason=reason).execution_options(synchronize_session=False))
    return ended or 0


def hand_off(session: Session, contact: Contact, assessment: Assessment | None, now: datetime,
             source: str) -> Handoff:
    """Purchase mode and the handoff rule holds: leave every sequence, hand the contact to sales."""
    exit_sequences(session, contact.id, "handoff", now)
    evidence: dict[str, Any] = {"source": source}
    if assessment is not None:
        evidence.update(mode=assessment.mode, grade=assessment.grade, score=round(assessment.score, 3),
                        evidence_count=assessment.evidence_count,
                        items=evidence_json(assessment)["items"][:10])
    return create_handoff(session, contact, evidence, now)


def purchase_exits(nurture: Nurture | None) -> list[str] | None:
    """Sequences that end on purchase mode (None: all of them, when the content is not at hand)."""
    if nurture is None:
        return None
    return [s.slug for s in nurture.sequences.values() if "purchase_mode" in s.exits]


def _nurture() -> Nurture | None:
    if not has_app_context() or "cabos.content" not in current_app.extensions:
        return None
    return nurture_of(current_app.extensions["cabos.content"].current())


def on_intent_changed(session: Session, update: IntentUpdate, **_: Any) -> None:
    """A contact's mode or grade changed: stop sequences on purchase mode, hand off when the rule holds."""
    if update.mode != PURCHASE:
        return
    switch = next((c for c in update.changes if c.kind == "mode" and c.to_value == PURCHASE), None)
    now = switch.at if switch is not None else update.assessment.as_of
    if update.eligible:
        contact = session.get(Contact, update.contact_id)
        if contact is not None:
            hand_off(session, contact, update.assessment, now, "intent")
        return
    if switch is not None:
        exit_sequences(session, update.contact_id, "purchase_mode", now, purchase_exits(_nurture()))


def on_handoff_created(_sender: Any, handoff: Handoff, session: Session, **_: Any) -> None:
    """However a handoff was made (sales can create one by hand), the contact's sequences end."""
    exit_sequences(session, handoff.contact_id, "handoff", handoff.created_at)


def on_outcome_recorded(_sender: Any, handoff: Handoff, outcome: Any, session: Session, **_: Any) -> None:
    """Sent back to nurture: resume the sequences the contact left; won: leave the prospects' sequences."""
    if getattr(outcome, "kind", None) == "won":
        nurture = _nurture()
        prospects = None if nurture is None else [s.slug for s in nurture.sequences.values() if "handoff" in s.exits]
        exit_sequences(session, handoff.contact_id, "customer", outcome.occurred_at, prospects)
        return
    if getattr(outcome, "kind", None) != "sent_back":
        return
    resume(session, handoff.contact_id, outcome.occurred_at, _nurture(), {"handoff": handoff.id})


def resume(session: Session, contact_id: int, now: datetime, nurture: Nurture | None,
           why: dict[str, Any]) -> int:
    """A new round of each sequence the contact left for sales, from the step they would have had next."""
    if nurture is None:
        return 0
    rows = session.scalars(select(Enrolment).where(Enrolment.contact_id == contact_id)
                           .order_by(Enrolment.sequence, Enrolment.round)).all()
    latest: dict[str, Enrolment] = {}
    for row in rows:
        latest[row.sequence] = row
    resumed = 0
    for slug, row in latest.items():
        sequence = nurture.sequences.get(slug)
        if sequence is None or row.status != EXITED or row.exit_reason not in ("handoff", "purchase_mode"):
            continue
        index = sequence.position(row.next_step, row.step_index)
        if index >= len(sequence.steps):
            continue
        step = sequence.steps[index]
        session.add(Enrolment(contact_id=contact_id, sequence=slug, round=row.round + 1, status=ACTIVE,
                              next_step=step.id, step_index=index, next_due_at=now + step.wait, enrolled_at=now,
                              updated_at=now, trigger={"kind": "sent_back", **why}))
        resumed += 1
    session.flush()
    return resumed


def connect() -> None:
    """Listen to intent and sales (idempotent: blinker keeps one connection per receiver)."""
    intent_changed.connect(on_intent_changed, weak=False)
    handoff_created.connect(on_handoff_created, weak=False)
    outcome_recorded.connect(on_outcome_recorded, weak=False)
