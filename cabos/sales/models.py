"""Handoffs to sales, their outcomes, notes and next steps, accounts, and the outbox of webhooks, alerts and emails.

A contact has at most one open handoff: ``open_contact_id`` equals
``contact_id`` while the handoff is new or accepted and is NULL once it is
closed, and it is unique (NULLs never collide, on SQLite and PostgreSQL).
Every outcome is a row in ``handoff_outcomes`` (the dashboard's source) and
an ``outcome`` event on the contact's trail.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cabos.db import Base, utcnow

OPEN = ("new", "accepted")
CLOSED = ("sent_back", "disqualified", "won", "lost")
STATUSES = OPEN + CLOSED
SENDING = "sending since"  # last_error of a CRM row while it is being pushed (sales.crm.sync)


class Handoff(Base):
    __tablename__ = "handoffs"
    __table_args__ = (
        Index("ix_handoffs_assignee_status", "assigned_to", "status", "created_at"),
        Index("ix_handoffs_status_time", "status", "created_at"),
        Index("ix_handoffs_contact_time", "contact_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    open_contact_id: Mapped[int | None] = mapped_column(unique=True)
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime]  # first-response deadline (SALES_SLA_HOURS working hours)
    status: Mapped[str] = mapped_column(String(16), default="new")
    # Why now, as the intent model saw it at handoff: mode, grade, score, top problems, items.
    reason: Mapped[str] = mapped_column(String(32), default="purchase_mode")
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    grade: Mapped[str | None] = mapped_column(String(1))
    top_problem: Mapped[str | None] = mapped_column(String(200))
    first_response_at: Mapped[datetime | None]
    outcome_reason: Mapped[str] = mapped_column(String(200), default="")
    revenue_cents: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    won_on: Mapped[date | None]
    closed_at: Mapped[datetime | None]
    # Set (once, by a conditional UPDATE) when the overdue alert is queued: two workers never both alert.
    overdue_alerted_at: Mapped[datetime | None]

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


class HandoffOutcome(Base):
    """Every action on a handoff, in order: the history the dashboard measures."""

    __tablename__ = "handoff_outcomes"
    __table_args__ = (
        Index("ix_handoff_outcomes_handoff", "handoff_id", "occurred_at"),
        Index("ix_handoff_outcomes_kind_time", "kind", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))  # accepted | sent_back | disqualified | won | lost
    reason: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(String(2000), default="")
    revenue_cents: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    won_on: Mapped[date | None]
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    """One webhook POST or handoff email to deliver, retried with backoff; the log staff read."""

    __tablename__ = "sales_deliveries"
    __table_args__ = (
        Index("ix_sales_deliveries_due", "status", "next_attempt_at"),
        Index("ix_sales_deliveries_time", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # 'webhook' | 'email' | 'crm'
    event: Mapped[str] = mapped_column(String(32))  # 'handoff.created' | 'handoff.outcome'
    handoff_id: Mapped[int | None] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    target: Mapped[str] = mapped_column(String(2000))  # URL, the staff user id for an email, or the CRM's name
    # Webhooks: the JSON body as of the event (receivers want the moment, not today's view).
    # Emails: nothing; the message is rendered from the handoff when it is sent.
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    last_status: Mapped[int | None]
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    # One row per handoff and CRM ('crm:hubspot:push:12'): two workers, or a backfill run twice,
    # cannot queue the same push twice. NULL (never colliding) for webhooks and emails.
    dedupe_key: Mapped[str | None] = mapped_column(String(96), unique=True)

    @property
    def in_doubt(self) -> bool:
        """A CRM push was started and never finished (the sender stopped): retried safely once its claim ends."""
        return self.status == "pending" and self.last_error.startswith(SENDING)


class Activity(Base):
    """A note, call, meeting or email a salesperson logged on a contact, with an optional next step.

    A contact has at most one open next step that matters: logging a new one closes the ones
    before it (``done_at``), and the Today page lists the open ones by ``due_on``.
    """

    __tablename__ = "sales_activities"
    __table_args__ = (
        Index("ix_sales_activities_contact_time", "contact_id", "occurred_at"),
        Index("ix_sales_activities_staff_due", "staff_user_id", "done_at", "due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))  # note | call | meeting | email
    body: Mapped[str] = mapped_column(String(2000), default="")
    next_step: Mapped[str] = mapped_column(String(300), default="")
    due_on: Mapped[date | None] = mapped_column(Date)
    done_at: Mapped[datetime | None]
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def has_next_step(self) -> bool:
        return bool(self.next_step) and self.due_on is not None


class Account(Base):
    """A company: the contacts whose email domain it owns, and the ones staff added by hand."""

    __tablename__ = "sales_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccountDomain(Base):
    """An email domain that belongs to one account (never a free-mail domain)."""

    __tablename__ = "sales_account_domains"

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("sales_accounts.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccountMember(Base):
    """Which account a contact belongs to: by their email domain, or placed by hand (``manual``)."""

    __tablename__ = "sales_account_members"
    __table_args__ = (Index("ix_sales_account_members_account", "account_id", "contact_id"),)

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("sales_accounts.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16), default="domain")  # domain | manual
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
