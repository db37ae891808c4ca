"""Apply bounce and complaint reports: find the send, count, suppress, leave it on the contact's trail."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cabos.contacts.models import Contact
from cabos.nurture.bounces.models import COMPLAINT, HARD, SOFT, Feedback, Report, Review, SentMessage, bare
from cabos.nurture.outbox import suppress
from cabos.tracking.models import Event

log = logging.getLogger("cabos.nurture.bounces")

# The suppression reasons these reports leave (contacts' suppression list, the trail, the counts).
REASONS = {HARD: "bounced", SOFT: "soft_bounces", COMPLAINT: "complaint"}


@dataclass(frozen=True)
class Policy:
    soft_limit: int
    soft_window: timedelta

    @classmethod
    def from_config(cls, config: Any) -> Policy:
        return cls(max(1, int(config["MAIL_SOFT_BOUNCE_LIMIT"])),
                   timedelta(days=float(config["MAIL_SOFT_BOUNCE_DAYS"])))


def find_send(session: Session, message_id: str) -> SentMessage | None:
    key = bare(message_id)
    return session.scalar(select(SentMessage).where(SentMessage.message_id == key)) if key else None


def record(session: Session, source: str, report: Report, now: datetime, policy: Policy) -> str:
    """Apply one report; returns what happened: 'suppressed', 'counted', 'duplicate' or 'unknown' (no such send).

    Runs in a savepoint: a report seen before (the same ``key`` from the same source) changes nothing.
    """
    send = find_send(session, report.message_id)
    if send is None:
        return "unknown"
    contact = session.get(Contact, send.contact_id)
    if contact is None:
        return "unknown"
    key = (report.key or f"{report.kind}:{bare(report.message_id)}")[:255]
    feedback = Feedback(message_ref=send.id, contact_id=contact.id, source=source, report_key=key,
                        kind=report.kind, status=report.status[:32], detail=report.detail[:500], received_at=now)
    try:
        with session.begin_nested():
            session.add(feedback)
            session.flush()
    except IntegrityError:
        return "duplicate"
    reason = REASONS[report.kind]
    stop = report.kind in (HARD, COMPLAINT)
    if report.kind == SOFT:
        recent = session.scalar(select(func.count()).select_from(Feedback).where(
            Feedback.contact_id == contact.id, Feedback.kind == SOFT,
            Feedback.received_at >= now - policy.soft_window)) or 0
        stop = recent >= policy.soft_limit
    session.add(Event(type=f"email_{'complaint' if report.kind == COMPLAINT else 'bounce'}", occurred_at=now,
                      contact_id=contact.id, data={
                          "kind": report.kind, "source": source, "status": report.status[:32],
                          "detail": report.detail[:200], "message_id": send.message_id, "sequence": send.sequence,
                          "step": send.step, "suppressed": stop}))
    if stop:
        feedback.suppressed = True
        suppress(session, contact, reason, now)
        log.info("%s %s from %s: contact %s suppressed (%s)", report.kind, send.message_id, source, contact.id, reason)
        return "suppressed"
    return "counted"


def keep_for_review(session: Session, source: str, reason: str, raw: str | bytes, now: datetime,
                    recipient: str = "") -> Review:
    """A report cabos could not use: logged with its reason and stored for a person to read."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    log.warning("%s report kept for review: %s", source, reason)
    review = Review(source=source, reason=reason[:200], recipient=recipient.strip().lower()[:320],
                    raw=text[:200_000], received_at=now)
    session.add(review)
    return review
