"""Sends, bounces, complaints and suppressions per sequence and step (and guide link emails), for staff and the API.

Counted from the Message-ID map (``mail_messages``: one row per email sent) and the
reports about them (``mail_feedback``), so a figure is always about emails cabos sent.
``deliverability(session)`` is what a page or an API calls.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cabos.nurture.bounces.models import COMPLAINT, HARD, SOFT, Feedback, Review, SentMessage


@dataclass
class Counts:
    kind: str  # nurture | guide | broadcast
    sequence: str  # the sequence, or the broadcast's slug
    step: str
    sent: int = 0
    hard: int = 0
    soft: int = 0
    complaints: int = 0
    suppressed: int = 0

    @property
    def bounce_rate(self) -> float:
        return (self.hard + self.soft) / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0

    def add(self, other: Counts) -> None:
        for name in ("sent", "hard", "soft", "complaints", "suppressed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "bounce_rate": round(self.bounce_rate, 4), "complaint_rate": round(self.complaint_rate, 4)}


@dataclass
class Deliverability:
    steps: list[Counts]  # per (kind, sequence, step), ordered
    sequences: list[Counts]  # per (kind, sequence), step ""
    total: Counts
    reviews: int  # reports kept for review
    since: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"since": self.since.isoformat() if self.since else None, "total": self.total.as_json(),
                "sequences": [c.as_json() for c in self.sequences], "steps": [c.as_json() for c in self.steps],
                "kept_for_review": self.reviews}


def deliverability(session: Session, since: datetime | None = None) -> Deliverability:
    """The counts of emails sent since ``since`` (all time if None), per step and per sequence."""
    key = (SentMessage.kind, SentMessage.sequence, SentMessage.step)
    sent_query = select(*key, func.count()).group_by(*key)
    feedback_query = (select(*key, Feedback.kind, Feedback.suppressed, func.count())
                      .join(SentMessage, SentMessage.id == Feedback.message_ref)
                      .group_by(*key, Feedback.kind, Feedback.suppressed))
    if since is not None:
        sent_query = sent_query.where(SentMessage.sent_at >= since)
        feedback_query = feedback_query.where(SentMessage.sent_at >= since)
    steps: dict[tuple[str, str, str], Counts] = {}
    for kind, sequence, step, count in session.execute(sent_query):
        steps[(kind, sequence, step)] = Counts(kind, sequence, step, sent=count)
    for kind, sequence, step, report, suppressed, count in session.execute(feedback_query):
        counts = steps.setdefault((kind, sequence, step), Counts(kind, sequence, step))
        field_name = {HARD: "hard", SOFT: "soft", COMPLAINT: "complaints"}[report]
        setattr(counts, field_name, getattr(counts, field_name) + count)
        if suppressed:
            counts.suppressed += count
    ordered = [steps[k] for k in sorted(steps)]
    sequences: dict[tuple[str, str], Counts] = {}
    total = Counts("", "", "")
    for counts in ordered:
        sequences.setdefault((counts.kind, counts.sequence), Counts(counts.kind, counts.sequence, "")).add(counts)
        total.add(counts)
    reviews = session.scalar(select(func.count()).select_from(Review)) or 0
    return Deliverability(ordered, [sequences[k] for k in sorted(sequences)], total, reviews, since)
