"""What a sequence will do: one contact's next emails exactly (preview), everyone's next days in numbers (simulate).

Both read the database and change nothing. They assume the contacts' state
stays as it is now (no new readings): a simulation is a projection, not a
promise. A step is decided exactly as the scheduler decides it (same exits,
conditions and article choice), only earlier.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from cabos.contacts.capture import normalise_email
from cabos.contacts.models import Contact
from cabos.content.library import Library
from cabos.intent.rules import rules_of
from cabos.nurture.emails import Composed, Values
from cabos.nurture.models import ACTIVE, Enrolment, OutboxMessage
from cabos.nurture.outbox import Composer
from cabos.nurture.scheduler import Person, holds, load_people, pick_article, problems_of
from cabos.nurture.sequences import Sequence, nurture_of


@dataclass
class PreviewStep:
    step: str
    email: str
    due_at: datetime | None
    status: str  # sent, queued, skipped, … (done) or 'will send' / 'will skip' (to come)
    reason: str = ""
    composed: Composed | None = None


@dataclass
class Preview:
    contact: Contact
    sequence: Sequence
    enrolled: bool
    steps: list[PreviewStep]
    ending: str  # how the sequence ends for this contact, in words


def _exit_now(sequence: Sequence, person: Person, enrolled_at: datetime) -> str:
    if person.suppressed:
        return "unsubscribe"
    if "handoff" in sequence.exits and person.open_handoff:
        return "handoff"
    if person.purchase_since(enrolled_at) and "purchase_mode" in sequence.exits:
        return "purchase_mode"
    return ""


def preview(session: Session, app: Flask, library: Library, slug: str, email: str, now: datetime) -> Preview:
    """Every step of ``slug`` for one contact: what was decided, and what would be sent and when."""
    nurture = nurture_of(library)
    sequence = nurture.sequences.get(slug)
    if sequence is None:
        known = ", ".join(sorted(nurture.sequences)) or "none"
        raise LookupError(f"no sequence {slug!r} (known: {known}); run `cabos check`")
    contact = session.scalar(select(Contact).where(Contact.email == normalise_email(email)))
    if contact is None:
        raise LookupError(f"no contact with the address {email!r}")
    rules = rules_of(library)
    person = load_people(session, [contact.id], rules, now)[contact.id]
    composer = Composer(app, library)
    enrolment = session.scalar(select(Enrolment).where(Enrolment.contact_id == contact.id, Enrolment.sequence == slug)
                               .order_by(Enrolment.round.desc()).limit(1))
    steps: list[PreviewStep] = []
    suggested: set[str] = set()
    if enrolment is not None:
        for row in session.scalars(select(OutboxMessage).where(OutboxMessage.enrolment_id == enrolment.id)
                                   .order_by(OutboxMessage.due_at, OutboxMessage.id)):
            if row.data.get("article"):
                suggested.add(row.data["article"])
            values = composer.values(contact, row.data)
            composed = composer.compose(row.id, row.email, contact, values, tracked=False) \
                if values is not None and row.email in nurture.emails and row.status not in ("skipped",) else None
            steps.append(PreviewStep(row.step, row.email, row.sent_at or row.due_at, row.status, row.reason, composed))
        if enrolment.status != ACTIVE:
            ending = "completed" if enrolment.status == "completed" else f"left: {enrolment.exit_reason}"
            return Preview(contact, sequence, True, steps, ending)
        index = sequence.position(enrolment.next_step, enrolment.step_index)
        due = enrolment.next_due_at or now
        enrolled_at = enrolment.enrolled_at
    else:
        index, due, enrolled_at = 0, now + sequence.steps[0].wait, now
    reason = _exit_now(sequence, person, enrolled_at)
    if reason:
        return Preview(contact, sequence, enrolment is not None, steps, f"leaves at the next step: {reason}")
    for i in range(index, len(sequence.steps)):
        step = sequence.steps[i]
        if i > index:
            due = due + step.wait
        email_ = nurture.emails.get(step.email)
        if email_ is None:
            steps.append(PreviewStep(step.id, step.email, due, "will wait", "email missing or has errors"))
            continue
        if not holds(step.when, person):
            steps.append(PreviewStep(step.id, step.email, due, "will skip", "condition: " + step.when.describe()
                                     if step.when else "condition"))
            continue
        data = {}
        if email_.needs_article:
            article = pick_article(library, person, problems_of(sequence, library), suggested)
            if article is None:
                steps.append(PreviewStep(step.id, step.email, due, "will skip", "nothing left to read"))
                continue
            suggested.add(article.slug)
            data = {"article": article.slug}
        values = composer.values(contact, data) or Values(contact.name, contact.company)
        steps.append(PreviewStep(step.id, step.email, max(due, now), "will send", "",
                                 composer.compose(0, step.email, contact, values, tracked=False)))
    return Preview(contact, sequence, enrolment is not None, steps, "completes after the last step")


# --- simulate -----------------------------------------------------------------------------------------------


@dataclass
class StepForecast:
    sends: int = 0
    skips: dict[str, int] = field(default_factory=dict)


@dataclass
class Forecast:
    sequence: str
    contacts: int = 0
    steps: dict[str, StepForecast] = field(default_factory=dict)
    exits: dict[str, int] = field(default_factory=dict)  # completed, purchase_mode, handoff, unsubscribe, enrolled


def simulate(session: Session, library: Library, now: datetime, days: int, page: int = 1000) -> dict[str, Forecast]:
    """For every active enrolment, the steps it will reach in ``days`` days and how it leaves."""
    nurture = nurture_of(library)
    rules = rules_of(library)
    horizon = now + timedelta(days=days)
    forecasts = {slug: Forecast(slug, steps={s.id: StepForecast() for s in seq.steps})
                 for slug, seq in nurture.sequences.items()}
    last = 0
    while True:
        batch = list(session.scalars(select(Enrolment).where(Enrolment.status == ACTIVE, Enrolment.id > last)
                                     .order_by(Enrolment.id).limit(page)))
        if not batch:
            break
        last = batch[-1].id
        people = load_people(session, (e.contact_id for e in batch), rules, now)
        suggested: dict[int, set[str]] = defaultdict(set)
        for row in session.execute(select(OutboxMessage.enrolment_id, OutboxMessage.data)
                                   .where(OutboxMessage.enrolment_id.in_([e.id for e in batch]))):
            if row.data and row.data.get("article"):
                suggested[row.enrolment_id].add(row.data["article"])
        for enrolment in batch:
            sequence = nurture.sequences.get(enrolment.sequence)
            person = people.get(enrolment.contact_id)
            if sequence is None or person is None:
                continue
            forecast = forecasts[sequence.slug]
            forecast.contacts += 1
            outcome = _walk(sequence, enrolment, person, library, now, horizon, forecast,
                            suggested[enrolment.id])
            forecast.exits[outcome] = forecast.exits.get(outcome, 0) + 1
    return forecasts


def _walk(sequence: Sequence, enrolment: Enrolment, person: Person, library: Library, now: datetime,
          horizon: datetime, forecast: Forecast, suggested: set[str]) -> str:
    nurture_emails = nurture_of(library).emails
    index = sequence.position(enrolment.next_step, enrolment.step_index)
    due = max(enrolment.next_due_at or now, now)
    for i in range(index, len(sequence.steps)):
        step = sequence.steps[i]
        if i > index:
            due = due + step.wait
        if due > horizon:
            return "still enrolled"
        reason = _exit_now(sequence, person, enrolment.enrolled_at)
        if reason:
            return reason
        counted = forecast.steps[step.id]
        email = nurture_emails.get(step.email)
        skip = ""
        if email is None:
            skip = "missing_email"
        elif not holds(step.when, person):
            skip = "condition"
        elif email.needs_article:
            article = pick_article(library, person, problems_of(sequence, library), suggested)
            if article is None:
                skip = "nothing_to_read"
            else:
                suggested.add(article.slug)
        if skip:
            counted.skips[skip] = counted.skips.get(skip, 0) + 1
        else:
            counted.sends += 1
    return "completed"
