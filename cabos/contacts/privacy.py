"""What we hold about people, table by table: the registry export and erase walk.

The registry below lists every table of ``cabos.schema.metadata``: either in ``PERSONAL``,
saying which columns find its rows from a contact, or in ``NOT_PERSONAL``, saying why it
holds nothing about a person. ``contacts.personal_data.export`` and ``.erase`` (the
``cabos contacts export|erase`` commands) walk ``PERSONAL``, so a table registered here is
covered by both without more code.
``tests/contacts/test_privacy.py`` fails when a table is in neither dict, or when a table
with a foreign key to ``contacts`` or ``visitors`` claims not to be personal: add your
table here when you add it to the schema.

Locators (the values in ``PERSONAL``), for each column:

- ``CONTACT``: holds the contact's id;
- ``VISITOR``: holds the id of one of the contact's visitors (their devices);
- ``EMAIL``: holds the normalised address;
- ``EMAIL_HASH``: holds ``email_hash(address)``.

A row matches if any of its registered columns matches.

This module imports no model and not the schema, so any module (nurture's suppression
checks, for one) can use ``email_hash`` without an import cycle.
"""

from __future__ import annotations

import hashlib

from cabos.contacts.capture import normalise_email

CONTACT, VISITOR, EMAIL, EMAIL_HASH = "contact", "visitor", "email", "email_hash"

PERSONAL: dict[str, dict[str, str]] = {
    "contacts": {"email": EMAIL},
    "suppressions": {"email_hash": EMAIL_HASH},
    "visitors": {"contact_id": CONTACT},
    "events": {"contact_id": CONTACT, "visitor_id": VISITOR},
    "intent_states": {"contact_id": CONTACT, "visitor_id": VISITOR},
    "intent_changes": {"contact_id": CONTACT},
    "handoffs": {"contact_id": CONTACT},
    "handoff_outcomes": {"contact_id": CONTACT},
    "sales_deliveries": {"contact_id": CONTACT},
    "nurture_enrolments": {"contact_id": CONTACT},
    "nurture_outbox": {"contact_id": CONTACT},
}

# Kept by ``erase``, and why.
KEPT_ON_ERASE: dict[str, str] = {
    "suppressions": "only a hash of the address, so an erased person is never emailed again",
}

NOT_PERSONAL: dict[str, str] = {
    "content_views": "views per content and day, counted without any identity",
    "rate_limit_counters": "rate-limit windows of a few minutes, keyed by a keyed hash (no address, no email)",
    "tracking_drops": "dropped beacons per reason and day",
    "nurture_cursors": "how far the nurture scheduler has read the events trail (an event id)",
    "staff_users": "our staff's accounts, not contacts (managed by staff commands)",
    "api_tokens": "staff API tokens",
    "dashboard_content_days": "readings per content, day and engagement bucket: no identity",
    "dashboard_reader_days": "visitor counts per day and gap: no identity",
    "dashboard_refresh": "when the dashboard rollup last ran",
    "dashboard_contact_days": "counts of contacts per day, measure and content, problem or author: no identity",
}


def email_hash(email: str) -> str:
    """The suppression key of an address: SHA-256 of its normalised form."""
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()
