"""The scheduler: who enters which sequence, and which steps are due, as outbox rows.

Two phases, each in short transactions that a second, overlapping tick can
never double:

1. ``enrol_new`` reads the events trail from where the last tick stopped (a
   cursor row) and enrols contacts whose new events match a trigger (a guide
   they asked for, or a state: interest in a problem, a mode). An enrolment is
   unique per contact, sequence and round.
2. ``schedule_due`` takes the enrolments whose ``next_due_at`` has come,
   through its index (so a tick costs what is due, not what is enrolled),
   decides each step (queue it, skip it and say why, or end the sequence) and,
   **in the same transaction**, writes the outbox row (unique per contact,
   sequence, step and round) and moves the enrolment to its next step.

Locking: on SQLite each transaction starts with ``BEGIN IMMEDIATE`` (the
single-writer lock, taken up front so two ticks queue instead of deadlocking);
on PostgreSQL due enrolments are taken ``FOR UPDATE SKIP LOCKED`` and the
cursor row ``FOR UPDATE``. The unique keys make a mistake there harmless.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact, Suppression
from cabos.contacts.privacy import email_hash
from cabos.content.library import Library
from cabos.content.model import Document
from cabos.intent.models import IntentState
from cabos.intent.recommend import next_readings
from cabos.intent.rules import Rules
from cabos.intent.scoring import INFORMATION, PURCHASE, Assessment, from_stored, should_hand_off
from cabos.nurture.handoff import hand_off
from cabos.nurture.models import (
    ACTIVE,
    COMPLETED,
    EXITED,
    QUEUED,
    SKIPPED,
    Cursor,
    Enrolment,
    OutboxMessage,
)
from cabos.nurture.sequences import ALWAYS, NEVER, Condition, Nurture, Sequence
from cabos.sales.models import Handoff
from cabos.tracking.models import Event

log = logging.getLogger("cabos.nurture")

EVENTS_CURSOR = "events"
# Event types that can start a sequence: a guide's form or download, or any activity
# after which a contact's interest or mode may have changed.
GUIDE_TYPES = ("form_submit", "download")
ACTIVITY_TYPES = ("form_submit", "download", "reading", "mode_change", "merge")
# PostgreSQL hands out ids before commit, so a long transaction can commit an event
# below the cursor; each tick looks this many ids back (enrolments are idempotent).
OVERLAP = 500
POSTPONE = timedelta(hours=1)


@dataclass
class Counts:
    """What a tick did, for the log and the CLI."""

    enrolled: int = 0
    queued: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    exited: dict[str, int] = field(default_factory=dict)
    completed: int = 0
    postponed: int = 0
    handoffs: int = 0

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def exit(self, reason: str) -> None:
        self.exited[reason] = self.exited.get(reason, 0) + 1


@dataclass(frozen=True)
class Plan:
    """What the scheduler needs besides the database: content, rules, settings."""

    library: Library
    nurture: Nurture
    rules: Rules
    max_late: timedelta


def begin_write(session: Session) -> None:
    """Start a write transaction; on SQLite take the single-writer lock now (BEGIN IMMEDIATE)."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_ignoring_duplicates(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT DO NOTHING: a row that exists already was written by another tick."""
    if not rows:
        return
    dialect = postgresql if is_postgres(session) else sqlite
    # The table, not the class: a Core executemany, without the ORM's bulk bookkeeping.
    session.execute(dialect.insert(model.__table__).on_conflict_do_nothing(), rows)


# --- contacts as the scheduler sees them ---------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    name: str
    company: str
    suppressed: bool
    consented: bool  # ticked "I agree to receive emails" on a form
    assessment: Assessment | None
    mode_since: datetime | None
    open_handoff: bool
    customer: bool = False  # won: the sequences meant for prospects (``handoff`` exit) are not for them

    @property
    def mode(self) -> str:
        return self.assessment.mode if self.assessment is not None else INFORMATION

    @property
    def interest(self) -> tuple[tuple[str, float], ...]:
        return self.assessment.interest if self.assessment is not None else ()

    def purchase_since(self, moment: datetime) -> bool:
        """Switched to purchase mode at or after ``moment`` (and still in it)."""
        return self.mode == PURCHASE and self.mode_since is not None and self.mode_since >= moment


def load_people(session: Session, ids: Iterable[int], rules: Rules, now: datetime) -> dict[int, Person]:
    """Contacts with their suppression, current intent (decay applied) and open handoff, in a few queries."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    contacts = session.execute(select(Contact.id, Contact.email, Contact.name, Contact.company, Contact.consent_at)
                               .where(Contact.id.in_(ids))).all()
    hashes = {c.id: email_hash(c.email) for c in contacts}
    suppressed = set(session.scalars(select(Suppression.email_hash)
                                     .where(Suppression.email_hash.in_(list(hashes.values())))))
    states = {}
    for row in session.execute(select(IntentState.contact_id, IntentState.computed_at, IntentState.evidence,
                                      IntentState.grade, IntentState.fit_points, IntentState.mode,
                                      IntentState.mode_since, IntentState.rules_version)
                               .where(IntentState.contact_id.in_(ids))):
        if not row.rules_version:
            continue
        assessment = from_stored(row.computed_at, row.evidence, row.grade, row.fit_points, rules).at(now, rules)
        # Decay only ever brings purchase mode back to information, so the stored moment holds.
        states[row.contact_id] = (assessment, row.mode_since if row.mode == assessment.mode else None)
    handoffs = set(session.scalars(select(Handoff.open_contact_id).where(Handoff.open_contact_id.in_(ids))))
    customers = set(session.scalars(select(Handoff.contact_id).where(Handoff.contact_id.in_(ids),
                                                                     Handoff.status == "won")))
    return {c.id: Person(c.id, c.email, c.name, c.company, hashes[c.id] in suppressed, c.consent_at is not None,
                         states.get(c.id, (None, None))[0], states.get(c.id, (None, None))[1], c.id in handoffs,
                         c.id in customers)
            for c in contacts}


def holds(condition: Condition | None, person: Person) -> bool:
    """A trigger's or step's condition, for this contact now."""
    if condition is None:
        return True
    if condition.mode and person.mode != condition.mode:
        return False
    if condition.problem:
        interest = person.interest
        if condition.min_interest is not None:
            return dict(interest).get(condition.problem, 0.0) >= condition.min_interest and (
                condition.min_interest > 0 or condition.problem in dict(interest))
        return bool(interest) and interest[0][0] == condition.problem
    return True


def problems_of(sequence: Sequence, library: Library) -> tuple[str, ...]:
    """The problems a sequence is about, for contacts without an interest profile yet."""
    if sequence.trigger.guide and sequence.trigger.guide in library.guides:
        return library.guides[sequence.trigger.guide].problems
    condition = sequence.trigger.condition
    return (condition.problem,) if condition and condition.problem else ()


def pick_article(library: Library, person: Person, fallback: tuple[str, ...], exclude: set[str]) -> Document | None:
    """The next best unread article on the contact's top problem, not already suggested in this sequence."""
    if person.assessment is not None and person.assessment.interest:
        for doc in next_readings(library, person.assessment, limit=len(exclude) + 1):
            if doc.slug not in exclude:
                return doc
        return None
    stages = library.site.stage_slugs
    for problem in fallback:
        docs = sorted(library.articles_for(problem),
                      key=lambda d: (stages.index(d.stage) if d.stage in stages else 0, -(d.date.toordinal()
                                                                                           if d.date else 0)))
        for doc in docs:
            if doc.slug not in exclude:
                return doc
    return None


# --- phase 1: enrolment -----------------------------------------------------------------------------------


def _cursor(session: Session) -> Cursor:
    query = select(Cursor).where(Cursor.name == EVENTS_CURSOR)
    if is_postgres(session):
        insert_ignoring_duplicates(session, Cursor, [{"name": EVENTS_CURSOR, "position": 0}])
        return session.scalars(query.with_for_update()).one()
    cursor = session.scalars(query).one_or_none()
    if cursor is None:
        cursor = Cursor(name=EVENTS_CURSOR, position=0)
        session.add(cursor)
        session.flush()
    return cursor


def start_cursor_at_end(session: Session) -> None:
    """A new installation starts reading the trail from now, not from its first event."""
    cursor = _cursor(session)
    if cursor.position == 0:
        cursor.position = session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0


def enrol_new(session: Session, plan: Plan, now: datetime, batch: int = 5000) -> tuple[int, int]:
    """Read a batch of new events; enrol contacts they trigger. Returns (enrolled, events read); the caller commits."""
    begin_write(session)
    cursor = _cursor(session)
    start = max(0, cursor.position - (OVERLAP if is_postgres(session) else 0))
    rows = session.execute(
        select(Event.id, Event.type, Event.contact_id, Event.content_kind, Event.content_slug, Event.occurred_at)
        .where(Event.id > start, Event.contact_id.is_not(None), Event.type.in_(ACTIVITY_TYPES))
        .order_by(Event.id).limit(batch)).all()
    if not rows:
        return 0, 0
    by_state = plan.nurture.by_state
    # (contact, sequence) -> every matching moment, with the event that matched
    wanted: dict[tuple[int, str], list[tuple[datetime, dict[str, Any]]]] = defaultdict(list)
    activity: dict[int, tuple[datetime, int]] = {}
    for row in rows:
        at = min(row.occurred_at, now)
        if row.type in GUIDE_TYPES and row.content_kind == "guide":
            for sequence in plan.nurture.for_guide(row.content_slug or ""):
                wanted[(row.contact_id, sequence.slug)].append(
                    (at, {"kind": "guide", "guide": row.content_slug, "event": row.id}))
        if by_state:
            activity[row.contact_id] = (at, row.id)
    enrolled = 0
    people = load_people(session, {c for c, _ in wanted} | set(activity), plan.rules, now)
    for contact_id, (at, event_id) in activity.items():
        person = people.get(contact_id)
        for sequence in by_state:
            if person is not None and holds(sequence.trigger.condition, person):
                wanted[(contact_id, sequence.slug)].append((at, {"kind": sequence.trigger.kind, "event": event_id}))
    if wanted:
        enrolled = _enrol(session, plan, wanted, people, now)
    cursor.position = max(cursor.position, rows[-1].id)
    cursor.updated_at = now
    session.flush()
    return enrolled, len(rows)


def _enrol(session: Session, plan: Plan, wanted: dict[tuple[int, str], list[tuple[datetime, dict[str, Any]]]],
           people: dict[int, Person], now: datetime) -> int:
    contact_ids = sorted({c for c, _ in wanted})
    history: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for row in session.execute(select(Enrolment.contact_id, Enrolment.sequence, Enrolment.round, Enrolment.status,
                                      Enrolment.ended_at).where(Enrolment.contact_id.in_(contact_ids))):
        history[(row.contact_id, row.sequence)].append(row)
    new_rows = []
    # Nurture is marketing: only people who agreed to receive emails (the box on the guide's form),
    # unless the site asks for no consent at all (``consent: off`` in site.yml).
    needs_consent = plan.library.site.consent != "off"
    for (contact_id, slug), moments in sorted(wanted.items()):
        sequence = plan.nurture.sequences[slug]
        person = people.get(contact_id)
        if person is None or person.suppressed or not sequence.steps or (needs_consent and not person.consented):
            continue
        past = history.get((contact_id, slug), [])
        if any(r.status == ACTIVE for r in past):
            continue
        moments.sort(key=lambda m: m[0])
        if past:
            last = max(past, key=lambda r: r.round)
            if sequence.reentry == NEVER or last.ended_at is None:
                continue
            wait = timedelta(0) if sequence.reentry == ALWAYS else sequence.reentry_after
            # Only a trigger after the last round ended (and the wait) counts: an event read
            # again (PostgreSQL's look-back) can never start a second round.
            moments = [m for m in moments if m[0] > last.ended_at + wait]
            if not moments:
                continue
        at, trigger = moments[0]
        first = sequence.steps[0]
        new_rows.append({"contact_id": contact_id, "sequence": slug,
                         "round": max((r.round for r in past), default=0) + 1, "status": ACTIVE,
                         "next_step": first.id, "step_index": 0, "next_due_at": at + first.wait,
                         "enrolled_at": at, "updated_at": now, "exit_reason": "", "trigger": trigger})
    insert_ignoring_duplicates(session, Enrolment, new_rows)
    return len(new_rows)


# --- phase 2: due steps -----------------------------------------------------------------------------------


def due_query(now: datetime, limit: int) -> Select[tuple[Enrolment]]:
    """Due enrolments, oldest first: a range scan of ix_nurture_enrolments_due, never the whole table."""
    return (select(Enrolment).where(Enrolment.next_due_at <= now)
            .order_by(Enrolment.next_due_at, Enrolment.id).limit(limit))


def due_enrolments(session: Session, now: datetime, limit: int) -> list[Enrolment]:
    """Enrolments whose next step is due (on PostgreSQL, those no other tick holds)."""
    query = due_query(now, limit)
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def schedule_due(session: Session, plan: Plan, now: datetime, limit: int = 1000) -> tuple[Counts, int]:
    """Decide one batch of due steps; return what happened and how many enrolments were due."""
    counts = Counts()
    begin_write(session)
    due = due_enrolments(session, now, limit)
    if not due:
        return counts, 0
    people = load_people(session, (e.contact_id for e in due), plan.rules, now)
    suggested = _suggested(session, plan, due)
    rows: list[dict[str, Any]] = []
    handed_off: set[int] = set()
    for enrolment in due:
        if enrolment.contact_id in handed_off:
            continue
        person = people.get(enrolment.contact_id)
        sequence = plan.nurture.sequences.get(enrolment.sequence)
        if person is None:  # erased meanwhile (its rows go with it): do not read it again this tick
            _postpone(enrolment, now, counts, "contact not found")
            continue
        if sequence is None or not sequence.steps:
            _postpone(enrolment, now, counts, f"sequence {enrolment.sequence!r} is missing or has errors")
            continue
        index = sequence.position(enrolment.next_step, enrolment.step_index)
        if index >= len(sequence.steps):
            _end(enrolment, COMPLETED, "", now)
            counts.completed += 1
            continue
        step = sequence.steps[index]
        email = plan.nurture.emails.get(step.email)
        if email is None:
            _postpone(enrolment, now, counts, f"email {step.email!r} is missing or has errors")
            continue
        reason = _exit_reason(sequence, enrolment, person, plan.rules)
        if reason == "handoff_now":
            hand_off(session, session.get(Contact, person.id), person.assessment, now, "nurture")  # type: ignore[arg-type]
            handed_off.add(person.id)
            # Steps of this contact decided earlier in the batch are not sent either.
            kept = [r for r in rows if r["contact_id"] != person.id]
            counts.queued -= sum(1 for r in rows if r["contact_id"] == person.id and r["status"] == QUEUED)
            rows = kept
            counts.handoffs += 1
            counts.exit("handoff")
            continue
        if reason:
            _end(enrolment, EXITED, reason, now)
            counts.exit(reason)
            continue
        due_at = enrolment.next_due_at or now
        status, why, data = QUEUED, "", {}
        if now - due_at > plan.max_late:
            status, why = SKIPPED, "late"
        elif not holds(step.when, person):
            status, why = SKIPPED, "condition"
        elif email.needs_article:
            article = pick_article(plan.library, person, problems_of(sequence, plan.library),
                                   suggested.get(enrolment.id, set()))
            if article is None:
                status, why = SKIPPED, "nothing_to_read"
            else:
                data = {"article": article.slug}
        rows.append({"enrolment_id": enrolment.id, "contact_id": enrolment.contact_id, "sequence": sequence.slug,
                     "step": step.id, "round": enrolment.round, "email": step.email, "status": status,
                     "reason": why, "due_at": due_at, "created_at": now,
                     "next_attempt_at": now if status == QUEUED else None, "data": data})
        if status == QUEUED:
            counts.queued += 1
        else:
            counts.skip(why)
        _advance(enrolment, sequence, index, now if status == QUEUED else due_at, now, counts)
    insert_ignoring_duplicates(session, OutboxMessage, rows)
    session.flush()
    return counts, len(due)


def _exit_reason(sequence: Sequence, enrolment: Enrolment, person: Person, rules: Rules) -> str:
    if person.suppressed:
        return "unsubscribe"
    if "handoff" in sequence.exits and person.open_handoff:
        return "handoff"
    if "handoff" in sequence.exits and person.customer:
        return "customer"
    # Purchase mode ends a sequence when the contact switched to it while enrolled: someone
    # sent back by sales, or who asked for a guide while already in it, still gets nurtured.
    if person.purchase_since(enrolment.enrolled_at):
        if person.assessment is not None and should_hand_off(person.assessment, rules):
            return "handoff_now"
        if "purchase_mode" in sequence.exits:
            return "purchase_mode"
    return ""


def _suggested(session: Session, plan: Plan, due: list[Enrolment]) -> dict[int, set[str]]:
    """Articles already suggested to each enrolment, so a sequence never suggests the same one twice."""
    needs = []
    for e in due:
        sequence = plan.nurture.sequences.get(e.sequence)
        if sequence is not None and any(plan.nurture.emails.get(s.email) is not None
                                        and plan.nurture.emails[s.email].needs_article for s in sequence.steps):
            needs.append(e.id)
    out: dict[int, set[str]] = defaultdict(set)
    for chunk in range(0, len(needs), 500):
        for row in session.execute(select(OutboxMessage.enrolment_id, OutboxMessage.data)
                                   .where(OutboxMessage.enrolment_id.in_(needs[chunk:chunk + 500]))):
            if row.data and row.data.get("article"):
                out[row.enrolment_id].add(row.data["article"])
    return out


def _advance(enrolment: Enrolment, sequence: Sequence, index: int, base: datetime, now: datetime,
             counts: Counts) -> None:
    nxt = index + 1
    enrolment.updated_at = now
    if nxt >= len(sequence.steps):
        _end(enrolment, COMPLETED, "", now)
        counts.completed += 1
        return
    step = sequence.steps[nxt]
    enrolment.next_step = step.id
    enrolment.step_index = nxt
    enrolment.next_due_at = base + step.wait


def _end(enrolment: Enrolment, status: str, reason: str, now: datetime) -> None:
    enrolment.status = status
    enrolment.exit_reason = reason
    enrolment.ended_at = now
    enrolment.updated_at = now
    enrolment.next_due_at = None
    if status == COMPLETED:
        enrolment.next_step = None


def _postpone(enrolment: Enrolment, now: datetime, counts: Counts, why: str) -> None:
    # Paused, not ended: a content mistake must not drop everyone out of a sequence.
    log.warning("nurture: enrolment %s postponed: %s (run `cabos check`)", enrolment.id, why)
    enrolment.next_due_at = now + POSTPONE
    enrolment.updated_at = now
    counts.postponed += 1
