"""The Message-ID map of sent emails, the bounces and complaints they got, and reports kept for review."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from cabos.db import Base, utcnow

# What a report says about a send.
HARD, SOFT, COMPLAINT = "hard", "soft", "complaint"
KINDS = (HARD, SOFT, COMPLAINT)


class SentMessage(Base):
    """One email cabos sent, by the Message-ID it carried: how a bounce finds its send."""

    __tablename__ = "mail_messages"
    __table_args__ = (
        UniqueConstraint("message_id", name="uq_mail_messages_message_id"),
        Index("ix_mail_messages_contact", "contact_id"),
        Index("ix_mail_messages_sequence_step", "sequence", "step"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255))  # without the angle brackets
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # nurture | guide (the table the send lives in)
    ref_id: Mapped[int]  # the send's row in that table
    sequence: Mapped[str] = mapped_column(String(100), default="")
    step: Mapped[str] = mapped_column(String(100), default="")
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class Report:
    """One bounce or complaint about one message, whatever its source said it in."""

    kind: str  # hard | soft | complaint
    message_id: str  # the Message-ID of the email it is about (brackets optional)
    recipient: str = ""
    status: str = ""  # an enhanced status code (5.1.1) or the provider's bounce type
    detail: str = ""
    key: str = ""  # the report's own id at its source, so a repeated delivery counts once


def bare(message_id: str) -> str:
    """A Message-ID as the map keeps it: without angle brackets or spaces."""
    return message_id.strip().strip("<>").strip()


def remember(session: Session, *, message_id: str, contact_id: int, kind: str, ref_id: int, now: datetime,
             sequence: str = "", step: str = "") -> None:
    """Map a sent email's Message-ID to its send (in the transaction that marks it sent)."""
    # A plain INSERT on the connection: one per message sent, nothing reads it back in this session.
    session.connection().execute(insert(SentMessage), sent_message_row(
        message_id=message_id, contact_id=contact_id, kind=kind, ref_id=ref_id, now=now, sequence=sequence, step=step))


def sent_message_row(*, message_id: str, contact_id: int, kind: str, ref_id: int, now: datetime,
                     sequence: str = "", step: str = "") -> dict[str, object]:
    """The values of a ``mail_messages`` row."""
    return {"message_id": bare(message_id)[:255], "contact_id": contact_id, "kind": kind, "ref_id": ref_id,
            "sequence": sequence, "step": step, "sent_at": now}


class Feedback(Base):
    """A bounce or complaint about one sent email, from a DSN or a provider's webhook."""

    __tablename__ = "mail_feedback"
    __table_args__ = (
        # A provider retries a webhook it thinks failed: the same report counts once.
        UniqueConstraint("source", "report_key", name="uq_mail_feedback_source_report"),
        Index("ix_mail_feedback_contact_received", "contact_id", "received_at"),
        Index("ix_mail_feedback_message", "message_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_ref: Mapped[int] = mapped_column(ForeignKey("mail_messages.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16))  # dsn | ses | postmark | mailgun | sendgrid | brevo
    report_key: Mapped[str] = mapped_column(String(255))  # the report's own id at its source
    kind: Mapped[str] = mapped_column(String(16))  # hard | soft | complaint
    status: Mapped[str] = mapped_column(String(32), default="")  # e.g. 5.1.1, or the provider's type
    detail: Mapped[str] = mapped_column(String(500), default="")
    suppressed: Mapped[bool] = mapped_column(default=False)  # this report stopped mail to the address
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Review(Base):
    """A bounce message cabos could not understand, kept for a person to read."""

    __tablename__ = "mail_reviews"
    __table_args__ = (Index("ix_mail_reviews_received", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200))
    recipient: Mapped[str] = mapped_column(String(320), default="")  # the address it seems to be about, if any
    raw: Mapped[str] = mapped_column(Text)  # the message as received (its first 200 KB)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
