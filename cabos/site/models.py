"""Tables the site itself owns: rate-limit counters shared by every process and instance; guide link emails."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cabos.db import Base, utcnow
from cabos.nurture.models import Delivery


class RateLimitCounter(Base):
    """One fixed window of one rate limit (Flask-Limiter / ``limits`` key), until ``expires_at``.

    Keys are made of a limit's scope and the client address (or a hash of a sign-in email);
    rows are deleted once expired, so nothing here outlives a window by long.
    """

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    expires_at: Mapped[float] = mapped_column(Float, nullable=False, index=True)  # Unix seconds


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
