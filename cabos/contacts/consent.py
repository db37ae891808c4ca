"""Marketing consent by double opt-in, with its proof; one-click withdrawal, recorded too.

A ticked box is only a request: consent counts (``Contact.consent_at``, what nurture reads)
once the emailed confirmation is clicked, and that click writes a ``ConsentRecord``
keeping when the form was sent, which form on which page, the exact sentence shown and
its version, and how it was confirmed. A newsletter form does the same for its list
(``ListSubscription``, read by segments). Withdrawal ends both and is kept on the record.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cabos.contacts.models import ConsentRecord, Contact, ListSubscription

EMAIL_LINK = "email_link"


def text_version(text: str, language: str) -> str:
    """The same words in the same language are the same version, whatever form showed them."""
    return hashlib.sha256(f"{language}\n{text}".encode()).hexdigest()[:12]


def has_consent(session: Session, contact: Contact, text: str, language: str) -> bool:
    """The contact already confirmed these very words and has not withdrawn."""
    if contact.consent_at is None:
        return False
    return session.scalar(select(ConsentRecord.id).where(
        ConsentRecord.contact_id == contact.id, ConsentRecord.withdrawn_at.is_(None),
        ConsentRecord.text_version == text_version(text, language)).limit(1)) is not None


def subscribed(session: Session, contact: Contact, list_name: str) -> bool:
    return session.scalar(select(ListSubscription.id).where(
        ListSubscription.contact_id == contact.id, ListSubscription.list == list_name,
        ListSubscription.confirmed_at.is_not(None), ListSubscription.unsubscribed_at.is_(None))) is not None


def confirm(session: Session, contact: Contact, *, form: str, content: str, text: str, language: str,
            given_at: datetime, now: datetime, how: str = EMAIL_LINK) -> ConsentRecord:
    """The confirmation was clicked: record the proof and make the consent count."""
    record = ConsentRecord(contact_id=contact.id, form=form[:100], content=content[:220], text=text[:500],
                           text_version=text_version(text, language), language=language[:10], given_at=given_at,
                           confirmed_at=now, confirmed_how=how)
    session.add(record)
    contact.consent_at = now
    contact.consent_text = text[:500]
    session.flush()
    return record


def subscribe(session: Session, contact: Contact, list_name: str, subscribed_at: datetime,
              now: datetime) -> ListSubscription:
    """Put the contact on ``list_name``, confirmed now (again, after an unsubscribe)."""
    row = session.scalar(select(ListSubscription).where(ListSubscription.contact_id == contact.id,
                                                        ListSubscription.list == list_name))
    if row is None:
        row = ListSubscription(contact_id=contact.id, list=list_name, subscribed_at=subscribed_at)
        session.add(row)
    elif row.unsubscribed_at is not None:
        row.subscribed_at = subscribed_at
    row.confirmed_at, row.unsubscribed_at = now, None
    session.flush()
    return row


def withdraw(session: Session, contact: Contact, how: str, now: datetime) -> int:
    """Consent ends (every record, every list) and the withdrawal is kept; return the records closed."""
    closed = session.execute(
        update(ConsentRecord).where(ConsentRecord.contact_id == contact.id, ConsentRecord.withdrawn_at.is_(None))
        .values(withdrawn_at=now, withdrawn_how=how[:32]).execution_options(synchronize_session=False)).rowcount
    session.execute(
        update(ListSubscription).where(ListSubscription.contact_id == contact.id,
                                       ListSubscription.unsubscribed_at.is_(None))
        .values(unsubscribed_at=now).execution_options(synchronize_session=False))
    contact.consent_at = None
    return int(closed or 0)
