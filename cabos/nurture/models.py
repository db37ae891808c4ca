"""Nurture state: who is in which sequence and when their next step is due; the outbox.

``nurture_enrolments`` holds one row per contact, sequence and round (a round
is one pass through the sequence; only sequences that allow re-entry have more
than one). ``next_due_at`` is set only while the enrolment is active, and it is
indexed: a tick reads the rows that are due through that index, so its cost
follows what is due, not how many people are enrolled.

``nurture_outbox`` holds one row per contact, sequence, step and round (the
unique key): the decision taken for that step (queued, skipped, cancelled) and,
for a send, its delivery (claimed, sending, sent, failed, unknown). It stores
references (email slug, the article chosen for the contact), never the rendered
message: a message is rendered when it is sent, and again on demand.

``guide_mails`` is the other queue of emails the worker delivers through the same
states: the guide link emails the site's lead form asks for (``cabos.site.guide_mail``
writes and renders them; the table lives here, below the site, so the staff page of
sends in doubt can list them without knowing the web layer).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cabos.db import Base, utcnow

# Enrolment status
ACTIVE, COMPLETED, EXITED = "active", "completed", "exited"

# Outbox status. The life of a send: queued → claimed (a sender took it) → sending
# (committed before the SMTP conversation starts) → sent | failed | queued (retry)
# | unknown (the sender died while sending: never resent automatically).
QUEUED, CLAIMED, SENDING, SENT = "queued", "claimed", "sending", "sent"
FAILED, UNKNOWN, SKIPPED, CANCELLED = "failed", "unknown", "skipped", "cancelled"
PENDING = (QUEUED, CLAIMED, SENDING)


class Enrolment(Base):
    __tablename__ = "nurture_enrolments"
    __table_args__ = (
        UniqueConstraint("contact_id", "sequence", "round", name="uq_nurture_enrolments_contact_sequence_round"),
        Index("ix_nurture_enrolments_due", "next_due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    sequence: Mapped[str] = mapped_column(String(100))
    round: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    # The next step by id (steps keep their id when a marketer inserts one before them),
    # and by position, used only if that id has been removed from the file.
    next_step: Mapped[str | None] = mapped_column(String(100))
    step_index: Mapped[int] = mapped_column(default=0)
    next_due_at: Mapped[datetime | None]  # NULL unless active: the due index holds live rows only
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    exit_reason: Mapped[str] = mapped_column(String(32), default="")
    trigger: Mapped[dict[str, Any]] = mapped_column(default=dict)  # kind, event id, guide or problem


class Delivery:
    """The columns of a send's life (see ``outbox.Deliverer``): the outbox's, and any other queue of emails."""

    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    # Why a row was skipped, cancelled, failed or left unknown (late, condition, suppressed, ...).
    reason: Mapped[str] = mapped_column(String(32), default="")
    next_attempt_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime | None]
    sending_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    message_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str] = mapped_column(String(500), default="")


class OutboxMessage(Delivery, Base):
    __tablename__ = "nurture_outbox"
    __table_args__ = (
        UniqueConstraint("contact_id", "sequence", "step", "round",
                         name="uq_nurture_outbox_contact_sequence_step_round"),
        Index("ix_nurture_outbox_ready", "status", "next_attempt_at"),
        Index("ix_nurture_outbox_enrolment", "enrolment_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("nurture_enrolments.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    sequence: Mapped[str] = mapped_column(String(100))
    step: Mapped[str] = mapped_column(String(100))
    round: Mapped[int] = mapped_column(default=1)
    email: Mapped[str] = mapped_column(String(100))  # slug of content/emails/<slug>.md
    due_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)  # e.g. the article chosen for next_article


class Cursor(Base):
    """How far the scheduler has read an append-only table (the events trail)."""

    __tablename__ = "nurture_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class GuideMail(Delivery, Base):
    """One guide link email to send (after the lead form, or a fresh link asked for), and its delivery.

    The request only writes this row; the worker (or ``cabos mail deliver``) sends it, at most
    once, through the same states as the nurture outbox: queued → claimed → sending → sent |
    failed | queued (retry) | unknown. It stores references (contact, guide), never the message:
    the link is signed and the email rendered when it is sent.
    """

    __tablename__ = "guide_mails"
    __table_args__ = (
        Index("ix_guide_mails_ready", "status", "next_attempt_at"),
        Index("ix_guide_mails_contact", "contact_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    guide: Mapped[str] = mapped_column(String(200))  # the guide's slug
    kind: Mapped[str] = mapped_column(String(16), default="form")  # form | resend | confirm
    # A confirmation link for answers waiting for proof of the address (kind "confirm").
    pending_id: Mapped[int | None] = mapped_column(ForeignKey("pending_submissions.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BroadcastRun(Base):
    """A broadcast queued once: the first run to insert this row writes its sends, any other stops."""

    __tablename__ = "broadcasts"

    slug: Mapped[str] = mapped_column(String(100), primary_key=True)
    segment: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(200), default="")
    recipients: Mapped[int] = mapped_column(default=0)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_by: Mapped[str] = mapped_column(String(32), default="")  # worker | cli | staff


class BroadcastSend(Delivery, Base):
    """One broadcast email to one contact (unique: never twice), delivered like the outbox's rows."""

    __tablename__ = "broadcast_sends"
    __table_args__ = (
        UniqueConstraint("broadcast", "contact_id", name="uq_broadcast_sends_broadcast_contact"),
        Index("ix_broadcast_sends_ready", "status", "next_attempt_at"),
        Index("ix_broadcast_sends_contact", "contact_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast: Mapped[str] = mapped_column(ForeignKey("broadcasts.slug", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # An A/B subject test: the subject line this send got (its index in ``subjects``), and whether it
    # was one of the test's sends. The rest wait, variant NULL, until the winner is picked for them.
    variant: Mapped[int | None]
    tested: Mapped[bool] = mapped_column(default=False)


class SubjectTestRun(Base):
    """One A/B subject test (a broadcast's, or a sequence step's): when it started and, once picked, its
    winner. Picked once (a compare-and-set on ``winner IS NULL``): every later send uses the same subject."""

    __tablename__ = "subject_tests"

    key: Mapped[str] = mapped_column(String(250), primary_key=True)  # see subject_tests.broadcast_key / step_key
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    winner: Mapped[int | None]
    decided_at: Mapped[datetime | None]
