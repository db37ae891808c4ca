"""What the sequences did, in numbers: people enrolled, active and gone (by why), and per step
what was sent, clicked, unsubscribed and bounced, and the results of its A/B subject test. Read-only;
counted in SQL, one query per table (and two per subject test)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from cabos.content.library import Library
from cabos.nurture.models import ACTIVE, COMPLETED, EXITED, FAILED, PENDING, SENT, SKIPPED, Enrolment, OutboxMessage
from cabos.nurture.sequences import Sequence, nurture_of
from cabos.nurture.subject_tests import Results, step_results
from cabos.tracking.models import Event

# Failed sends the mail server refused for the address: bounces (the sender's reason names them).
BOUNCE_REASONS = ("rejected", "bounced")


@dataclass
class StepReport:
    id: str
    email: str
    subject: str
    wait_days: float
    queued: int = 0  # waiting to be sent (queued, claimed, sending)
    sent: int = 0
    skipped: int = 0
    clicked: int = 0  # sends with at least one click
    unsubscribed: int = 0  # unsubscribes from this step's link
    bounced: int = 0
    failed: int = 0  # other failures (render, retries exhausted)
    test: Results | None = None  # the step's A/B subject test, if its email has one

    @property
    def click_rate(self) -> float | None:
        return self.clicked / self.sent if self.sent else None


@dataclass
class SequenceReport:
    sequence: Sequence
    enrolled: int = 0  # enrolments, every round
    active: int = 0
    completed: int = 0
    exits: dict[str, int] = field(default_factory=dict)  # exit reason → enrolments
    steps: list[StepReport] = field(default_factory=list)

    @property
    def exited(self) -> int:
        return sum(self.exits.values())


def sequence_reports(session: Session, library: Library) -> dict[str, SequenceReport]:
    """One report per sequence in the content folder, in file order."""
    nurture = nurture_of(library)
    reports: dict[str, SequenceReport] = {}
    for slug, seq in nurture.sequences.items():
        steps = [StepReport(s.id, s.email, nurture.emails[s.email].subject if s.email in nurture.emails else "",
                            s.wait.total_seconds() / 86400) for s in seq.steps]
        reports[slug] = SequenceReport(seq, steps=steps)
    for slug, status, reason, count in session.execute(
            select(Enrolment.sequence, Enrolment.status, Enrolment.exit_reason, func.count())
            .group_by(Enrolment.sequence, Enrolment.status, Enrolment.exit_reason)):
        report = reports.get(slug)
        if report is None:
            continue  # a sequence since removed from the files
        report.enrolled += count
        if status == ACTIVE:
            report.active += count
        elif status == COMPLETED:
            report.completed += count
        elif status == EXITED:
            report.exits[reason or "exited"] = report.exits.get(reason or "exited", 0) + count
    by_step = {(slug, s.id): s for slug, r in reports.items() for s in r.steps}
    for (slug, step_id), found in by_step.items():
        email = nurture.emails.get(found.email)
        if email is not None and email.test is not None:
            found.test = step_results(session, slug, step_id, email.slug, email.test)
    for slug, step, status, reason, count in session.execute(
            select(OutboxMessage.sequence, OutboxMessage.step, OutboxMessage.status, OutboxMessage.reason,
                   func.count()).group_by(OutboxMessage.sequence, OutboxMessage.step, OutboxMessage.status,
                                          OutboxMessage.reason)):
        found = by_step.get((slug, step))
        if found is None:
            continue
        if status == SENT:
            found.sent += count
        elif status in PENDING:
            found.queued += count
        elif status == SKIPPED:
            found.skipped += count
        elif status == FAILED:
            if reason in BOUNCE_REASONS:
                found.bounced += count
            else:
                found.failed += count
    for (slug, step), clicked in _per_step(session, "email_click", distinct_outbox=True).items():
        if (slug, step) in by_step:
            by_step[(slug, step)].clicked = clicked
    for (slug, step), unsubscribed in _per_step(session, "consent", distinct_outbox=True,
                                                unsubscribes=True).items():
        if (slug, step) in by_step:
            by_step[(slug, step)].unsubscribed = unsubscribed
    return reports


def _per_step(session: Session, event_type: str, distinct_outbox: bool,
              unsubscribes: bool = False) -> dict[tuple[str, str], int]:
    """Events naming an outbox row (clicks, unsubscribes), counted once per row and grouped by step."""
    sequence = Event.data["sequence"].as_string()
    step = Event.data["step"].as_string()
    outbox = Event.data["outbox"].as_integer()
    query = (select(sequence, step, func.count(distinct(outbox)) if distinct_outbox else func.count())
             .where(Event.type == event_type, outbox.is_not(None)).group_by(sequence, step))
    if unsubscribes:
        query = query.where(Event.data["email"].as_string() == "unsubscribed")
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for seq, st, n in session.execute(query):
        if seq and st:
            counts[(seq, st)] += n
    return counts
