"""A contact exists only once a person identifies (a form, an email click)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cabos.db import Base, utcnow


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    company: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(200), default="")
    company_size: Mapped[str] = mapped_column(String(50), default="")
    country: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")  # entered by staff on the contact page
    custom: Mapped[dict[str, Any]] = mapped_column(default=dict)
    consent_at: Mapped[datetime | None]
    consent_text: Mapped[str] = mapped_column(String(500), default="")
    first_touch: Mapped[dict[str, Any]] = mapped_column(default=dict)
    latest_touch: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<Contact {self.id}>"


class Suppression(Base):
    """Addresses never to email again, kept as a hash (survives erasure)."""

    __tablename__ = "suppressions"

    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PendingSubmission(Base):
    """A form filled in for an address that already belongs to a contact, by someone not yet proven to own it.

    Nothing about the contact changes and no browser joins its trail until the emailed
    confirmation link is clicked (``confirmed_at``); then ``answers`` apply as if just sent.
    A link works once: a confirmed row is never applied again.
    """

    __tablename__ = "pending_submissions"
    __table_args__ = (Index("ix_pending_submissions_contact", "contact_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    form: Mapped[str] = mapped_column(String(100))  # "guide", or the name of a form declared in content
    content_kind: Mapped[str] = mapped_column(String(20))  # the page it was sent from
    content_slug: Mapped[str] = mapped_column(String(200))
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)  # name, fields, custom, consent_text
    touch: Mapped[dict[str, Any]] = mapped_column(default=dict)
    digest: Mapped[str] = mapped_column(String(64), default="")  # the same answers posted twice: one row
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]


class ConsentRecord(Base):
    """Proof of one marketing consent: when it was given, on which form, the exact words shown, how confirmed.

    A row is written when the emailed confirmation is clicked (double opt-in): only then does
    the consent count (``Contact.consent_at``). Withdrawal is recorded on the same row.
    """

    __tablename__ = "consent_records"
    __table_args__ = (Index("ix_consent_records_contact", "contact_id", "confirmed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    form: Mapped[str] = mapped_column(String(100))  # "guide" or a form's name
    content: Mapped[str] = mapped_column(String(220))  # the page the form was on: kind/slug
    text: Mapped[str] = mapped_column(String(500))  # the sentence next to the box, as shown
    text_version: Mapped[str] = mapped_column(String(16))  # a hash of text and language: same words, same version
    language: Mapped[str] = mapped_column(String(10))
    given_at: Mapped[datetime]  # the form was sent
    confirmed_at: Mapped[datetime]  # the emailed link was clicked
    confirmed_how: Mapped[str] = mapped_column(String(32))  # email_link
    withdrawn_at: Mapped[datetime | None]
    withdrawn_how: Mapped[str] = mapped_column(String(32), default="")  # unsubscribe_link | staff | …


class ListSubscription(Base):
    """A contact on a mailing list (the newsletter): subscribed, confirmed by email, maybe unsubscribed."""

    __tablename__ = "list_subscriptions"
    __table_args__ = (UniqueConstraint("contact_id", "list", name="uq_list_subscriptions_contact_list"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    list: Mapped[str] = mapped_column(String(100))
    subscribed_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
